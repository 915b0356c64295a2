import { afterAll, describe, expect, it } from '@jest/globals';
import { SampleFleet, type SampleReplica } from '../support/sample-replicas.js';
import { sharedControlPlane, uniqueLeaseName, waitFor } from '../support/cluster.js';

// Issue 12: liveness and readiness a kubelet can trust, on real sample processes and a real apiserver.

const leaseDuration = 2000;
const timings = { LEASE_DURATION_MS: String(leaseDuration), RENEW_DEADLINE_MS: '1000', RETRY_PERIOD_MS: '250' };
const PROBES = ['/health/live', '/health/ready', '/health'] as const;

interface ProbeBody {
  status: string;
  details: Record<string, { status: string; reason?: string; mode?: string }>;
}

async function probe(replica: SampleReplica, path: string): Promise<{ status: number; body: ProbeBody }> {
  const response = await replica.get(path);
  return { status: response.status, body: JSON.parse(response.text) };
}

describe('health probes of the sample app against a real kube-apiserver', () => {
  const fleets: SampleFleet[] = [];
  afterAll(async () => {
    await Promise.all(fleets.map((fleet) => fleet.stopAll()));
  });

  it('three watching replicas answer 200 on every probe, every 250 ms, for 10 x leaseDuration', async () => {
    const plane = sharedControlPlane();
    const lease = uniqueLeaseName('probes');
    const fleet = new SampleFleet({ ...timings, LEASE_NAME: lease, LEASE_NAMESPACE: 'default', LOG_LEVEL: 'warn' });
    fleets.push(fleet);
    const replicas = await Promise.all(
      [0, 1, 2].map((index) => fleet.launch(`probe-${index}`, plane.kubeconfigs[`candidate-${index}`])),
    );
    // Up and settled: one leader, two followers following by watch.
    await waitFor(
      async () => {
        try {
          const modes = await Promise.all(
            replicas.map(async (replica) => (await probe(replica, '/health')).body.details['leader-election'].mode),
          );
          return modes.filter((mode) => mode === 'leading').length === 1 &&
            modes.filter((mode) => mode === 'watching').length === 2
            ? modes
            : undefined;
        } catch {
          return undefined;
        }
      },
      20_000,
      'one leading and two watching replicas',
    );

    const failures: string[] = [];
    let probes = 0;
    const until = Date.now() + 10 * leaseDuration;
    while (Date.now() < until) {
      const round = replicas.flatMap((replica) =>
        PROBES.map(async (path) => {
          const { status, body } = await probe(replica, path);
          probes++;
          if (status !== 200) failures.push(`${replica.name} ${path} ${status}: ${JSON.stringify(body)}`);
        }),
      );
      await Promise.all([...round, new Promise((resolve) => setTimeout(resolve, 250))]);
    }
    expect(failures).toEqual([]);
    expect(probes).toBeGreaterThanOrEqual(3 * PROBES.length * 40);
    // The followers sent nothing in steady state, and were still reported alive.
    for (const replica of replicas) expect(replica.output()).not.toContain('Health Check has failed');
  }, 90_000);

  it('a missing namespace: alive, and not ready once it lasted longer than leaseDuration', async () => {
    const plane = sharedControlPlane();
    const lease = uniqueLeaseName('nons');
    const fleet = new SampleFleet({
      ...timings,
      LEASE_NAME: lease,
      LEASE_NAMESPACE: 'no-such-namespace',
      LOG_LEVEL: 'silent',
    });
    fleets.push(fleet);
    const replica = await fleet.launch('nons-a', plane.kubeconfigs['candidate-0']);
    const ready = await waitFor(
      async () => {
        try {
          const result = await probe(replica, '/health/ready');
          return result.status === 503 ? result : undefined;
        } catch {
          return undefined;
        }
      },
      leaseDuration * 4 + 10_000,
      '/health/ready to report down',
    );
    const details = ready.body.details['leader-election'];
    expect(details.reason).toMatch(/^not found for \d+(\.\d+)?s: .*namespace "no-such-namespace" does not exist/);
    expect(details.reason).toContain('set the `namespace` option');
    const live = await probe(replica, '/health/live');
    expect(live.status).toBe(200);
  }, 60_000);
});
