import { afterAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { findSample, SampleFleet, type SampleReplica } from '../support/sample-replicas.js';
import { leasePath, rawRequest, sharedControlPlane, uniqueLeaseName, waitFor } from '../support/cluster.js';

const timings = { LEASE_DURATION_MS: '2000', RENEW_DEADLINE_MS: '1000', RETRY_PERIOD_MS: '250' };
const leaseDuration = 2000;

async function isLeader(replica: SampleReplica): Promise<boolean> {
  try {
    return JSON.parse((await replica.get('/leader')).text).isLeader === true;
  } catch {
    return false;
  }
}

describe('the sample app (a real Nest HTTP process) against a real kube-apiserver', () => {
  const fleets: SampleFleet[] = [];
  afterAll(async () => {
    await Promise.all(fleets.map((fleet) => fleet.stopAll()));
  });

  it('exposes the election on /metrics across acquire → stolen → re-acquire', async () => {
    const plane = sharedControlPlane();
    const lease = uniqueLeaseName('metrics');
    const fleet = new SampleFleet({ ...timings, LEASE_NAME: lease, LEASE_NAMESPACE: 'default', LOG_LEVEL: 'warn' });
    fleets.push(fleet);
    const replica = await fleet.launch('metrics-a', plane.kubeconfigs['candidate-0']);
    await waitFor(() => isLeader(replica), 20_000, 'the replica to lead');
    const labels = { lease, namespace: 'default' };
    const scrape = async () => (await replica.get('/metrics')).text;
    let text = await scrape();
    expect(findSample(text, 'leader_election_master_status', { name: lease, ...labels })).toBe(1);
    expect(findSample(text, 'leader_election_is_leader', labels)).toBe(1);
    expect(findSample(text, 'leader_election_acquired_total', labels)).toBe(1);
    expect(findSample(text, 'leader_election_leader_changed_total', labels)).toBe(1);
    expect(findSample(text, 'leader_election_last_renew_timestamp_seconds', labels)).toBeGreaterThan(
      Date.now() / 1000 - 5,
    );
    await waitFor(
      async () => (findSample(await scrape(), 'leader_election_renew_duration_seconds_count', labels) ?? 0) >= 2,
      5000,
      'renewals in the histogram',
    );

    const current = (await rawRequest('GET', leasePath(lease))).json;
    const now = new Date().toISOString().replace('Z', '000Z');
    current.spec = {
      ...current.spec,
      holderIdentity: 'thief',
      leaseDurationSeconds: 2,
      renewTime: now,
      acquireTime: now,
    };
    expect((await rawRequest('PUT', leasePath(lease), current)).status).toBe(200);
    await waitFor(async () => !(await isLeader(replica)), 3000, 'the replica to step down');
    text = await scrape();
    expect(findSample(text, 'leader_election_master_status', { name: lease, ...labels })).toBe(0);
    expect(findSample(text, 'leader_election_is_leader', labels)).toBe(0);
    expect(findSample(text, 'leader_election_lost_total', { ...labels, reason: 'stolen' })).toBe(1);

    // The thief never renews: after its 2s the replica takes the Lease back.
    await waitFor(() => isLeader(replica), leaseDuration + 3000, 'the replica to lead again');
    text = await scrape();
    expect(findSample(text, 'leader_election_master_status', { name: lease, ...labels })).toBe(1);
    expect(findSample(text, 'leader_election_acquired_total', labels)).toBe(2);
    expect(findSample(text, 'leader_election_leader_changed_total', labels)).toBe(3);
    expect(findSample(text, 'leader_election_lost_total', { ...labels, reason: 'stolen' })).toBe(1);
  }, 60_000);

  it('a leader frozen with SIGSTOP past leaseDuration is replaced, does no leader-only work on waking, and shows the demotion', async () => {
    const plane = sharedControlPlane();
    const lease = uniqueLeaseName('freeze');
    const fleet = new SampleFleet({
      ...timings,
      LEASE_NAME: lease,
      LEASE_NAMESPACE: 'default',
      LOG_LEVEL: 'warn',
      RECONCILE_INTERVAL_MS: '50',
      RECONCILE_WORK_MS: '20',
    });
    fleets.push(fleet);
    const replicas = [
      await fleet.launch('freeze-a', plane.kubeconfigs['candidate-1']),
      await fleet.launch('freeze-b', plane.kubeconfigs['candidate-2']),
    ];
    const frozen = await waitFor(
      async () => {
        for (const replica of replicas) if (await isLeader(replica)) return replica;
        return undefined;
      },
      20_000,
      'a leader',
    );
    const other = replicas.find((replica) => replica !== frozen)!;
    await waitFor(() => frozen.events().some((event) => event.event === 'work-end'), 5000, 'leader-only work');

    frozen.child.kill('SIGSTOP');
    const stoppedAt = process.hrtime.bigint();
    await waitFor(() => isLeader(other), leaseDuration * 3, 'the other replica to take over');
    const tookOver = other.events().find((event) => event.event === 'term-start' && event.at > stoppedAt)!;
    expect(tookOver).toBeDefined();
    const resumedAt = process.hrtime.bigint();
    frozen.child.kill('SIGCONT');

    await waitFor(
      async () => ((await frozen.metric('leader_election_is_leader', { lease })) ?? 1) === 0,
      5000,
      'the woken replica to report itself demoted',
    );
    const text = (await frozen.get('/metrics')).text;
    const expired = findSample(text, 'leader_election_lost_total', { lease, reason: 'expired' }) ?? 0;
    const failed = findSample(text, 'leader_election_lost_total', { lease, reason: 'renew-failed' }) ?? 0;
    expect(expired + failed).toBe(1);
    expect(findSample(text, 'leader_election_master_status', { name: lease })).toBe(0);
    expect(await isLeader(frozen)).toBe(false);

    // Give its timers a while to fire, then check it started no leader-only work after waking.
    await waitFor(() => process.hrtime.bigint() - resumedAt > 1_000_000_000n, 3000, 'one second after waking');
    const workAfterWake = frozen.events().filter((event) => event.event === 'work-begin' && event.at > resumedAt);
    expect(workAfterWake).toEqual([]);

    // Leader-only work never overlapped between the two replicas.
    const spans = replicas.flatMap((replica) => {
      const result: { name: string; start: bigint; end: bigint }[] = [];
      let open: bigint | null = null;
      for (const event of replica.events()) {
        if (event.event === 'work-begin') open = event.at;
        if (event.event === 'work-end' && open !== null) {
          result.push({ name: replica.name, start: open, end: event.at });
          open = null;
        }
      }
      return result;
    });
    // The frozen replica's step that was running when it froze ends only after it wakes: that overlap is the
    // freeze itself, whichever side of the pair it is on. SIGSTOP takes effect a moment after kill() returns, so
    // the step may even begin just after stoppedAt; it still ends after resumedAt.
    const straddlesFreeze = (span: { name: string; start: bigint; end: bigint }) =>
      span.name === frozen.name && span.start < resumedAt && span.end > resumedAt;
    const overlapping = spans.filter(
      (a) =>
        !straddlesFreeze(a) &&
        spans.some((b) => a.name !== b.name && a.start < b.end && b.start < a.end && !straddlesFreeze(b)),
    );
    expect(overlapping).toEqual([]);
  }, 60_000);

  it('a replica running as a user without create/update answers /health down with the forbidden reason', async () => {
    const plane = sharedControlPlane();
    const lease = uniqueLeaseName('rbac');
    const fleet = new SampleFleet({ ...timings, LEASE_NAME: lease, LEASE_NAMESPACE: 'default', LOG_LEVEL: 'silent' });
    fleets.push(fleet);
    const replica = await fleet.launch('rbac-a', plane.kubeconfigs.limited);
    const health = await waitFor(
      async () => {
        try {
          const response = await replica.get('/health');
          return response.status === 503 ? response : undefined;
        } catch {
          return undefined;
        }
      },
      leaseDuration * 4 + 10_000,
      '/health to report down',
    );
    const body = JSON.parse(health.text);
    expect(body.status).toBe('error');
    const details = body.details['leader-election'];
    expect(details.status).toBe('down');
    expect(details.reason).toMatch(/^forbidden for/);
    expect(details.reason).toContain('cannot create leases.coordination.k8s.io');
    expect(details.reason).toContain('"limited"');
    expect(details.lastError.reason).toBe('forbidden');
    expect(details.isLeader).toBe(false);
    expect(
      await replica.metric('leader_election_errors_total', { lease, operation: 'acquire', reason: 'forbidden' }),
    ).toBeGreaterThan(0);
  }, 60_000);

  it('the demo, piped, prints one timestamped line per event instead of redrawing its table', async () => {
    // Its own control plane and three replicas, short timings: about 20 s.
    const demo = spawn(
      process.execPath,
      [
        'sample/demo.mjs',
        '--lease-duration',
        '2000',
        '--renew-deadline',
        '1000',
        '--retry-period',
        '250',
        '--observe-seconds',
        '1',
      ],
      { cwd: fileURLToPath(new URL('../..', import.meta.url)), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    demo.stdout.on('data', (chunk) => (output += chunk));
    demo.stderr.on('data', (chunk) => (output += chunk));
    const code = await new Promise((resolve) => demo.on('exit', resolve));
    if (code !== 0) throw new Error(`the demo exited with ${String(code)}:\n${output}`);
    expect(output).toContain('overlapping across replicas: 0');

    const lines = output.trimEnd().split('\n');
    const events = lines.slice(0, lines.indexOf(''));
    expect(lines.length).toBeLessThan(80);
    expect(output).not.toContain('\x1b[');
    for (const line of events) expect(line).toMatch(/^\[ *\d+\.\d{3}s\] /);
    const count = (pattern: RegExp) => events.filter((line) => pattern.test(line)).length;
    expect(count(/\] electing$/)).toBe(1);
    expect(count(/\] SIGTERM to the leader /)).toBe(1);
    expect(count(/\] graceful handover: replica-\d → replica-\d in \d+ms$/)).toBe(1);
    expect(count(/\] SIGKILL to the leader /)).toBe(1);
    expect(count(/\] crash failover: replica-\d → replica-\d in \d+ms$/)).toBe(1);
    expect(count(/\] replica-\d leads \(fencing token \d+\)$/)).toBeGreaterThanOrEqual(3);
    // The six spread jobs: 2/2/2 on three replicas, 3/3 on two, 2/2/2 again when a replica joins.
    expect(count(/\] spread jobs per replica: 2\/2\/2$/)).toBe(1);
    expect(count(/\] spread jobs after replica-\d left: 3\/3 in \d+ ms$/)).toBe(1);
    expect(count(/\] spread jobs after replica-\d joined: 2\/2\/2 in \d+ ms$/)).toBe(1);
    expect(count(/\] spread jobs after replica-\d was killed: 3\/3 in \d+ ms$/)).toBe(1);
    expect(output).toContain('overlapping on one job across replicas: 0');
    expect(lines.slice(events.length)).toEqual(expect.arrayContaining(['Measured']));
  }, 90_000);
});
