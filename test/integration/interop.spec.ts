import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ensureClientGoCandidate } from '../../bench/clientgo-binary.mjs';
import { CandidateFleet, maxOverlapMs, type CandidateProcess } from '../support/candidate-processes.js';
import { sharedControlPlane, uniqueLeaseName, waitFor } from '../support/cluster.js';

const timings = { leaseDuration: 2000, renewDeadline: 1000, retryPeriod: 250 };

describe('a mixed fleet: client-go candidates and ours on one Lease', () => {
  let clientGo: string;
  const fleet = new CandidateFleet({
    LEASE_NAME: uniqueLeaseName('mixed'),
    LEASE_DURATION: String(timings.leaseDuration),
    RENEW_DEADLINE: String(timings.renewDeadline),
    RETRY_PERIOD: String(timings.retryPeriod),
  });
  const killedAt = new Map<string, bigint>();

  beforeAll(async () => {
    // Built with the machine's Go into the user cache on first use (about a minute cold).
    clientGo = (await ensureClientGoCandidate()).path;
  }, 600_000);
  afterAll(() => fleet.stopAll());

  it('hands over both ways, gracefully and after a crash, never with two leaders', async () => {
    const plane = sharedControlPlane();
    let user = 0;
    const launch = (identity: string, implementation: 'ours' | 'client-go') =>
      fleet.launch(
        identity,
        plane.kubeconfigs[`candidate-${user++ % 8}`],
        implementation === 'ours' ? undefined : clientGo,
      );
    const leads = (identity: string) => () => fleet.leaders().includes(identity);
    const startedAfter = (identity: string, after: bigint) =>
      fleet.events.find((event) => event.identity === identity && event.event === 'started' && event.at > after);
    const measured: string[] = [];
    const handover = async (from: CandidateProcess, to: string, signal: 'SIGTERM' | 'SIGKILL') => {
      const at = process.hrtime.bigint();
      if (signal === 'SIGKILL') killedAt.set(from.identity, at);
      from.child.kill(signal);
      await waitFor(leads(to), timings.leaseDuration * 3, `${to} to lead after ${signal} of ${from.identity}`);
      const ms = Number(startedAfter(to, at)!.at - at) / 1e6;
      measured.push(`${from.identity} → ${to} (${signal}): ${ms.toFixed(0)}ms`);
      return ms;
    };
    const follows = (identity: string) =>
      waitFor(
        () =>
          fleet.events.some((event) => event.identity === identity && event.event === 'new-leader' && event.identity),
        5000,
        `${identity} to observe the leader`,
      );

    const oursA = launch('ours-a', 'ours');
    await waitFor(leads('ours-a'), 10_000, 'ours-a to lead');
    const goB = launch('go-b', 'client-go');
    await follows('go-b');
    // ours → client-go, graceful: our release lets client-go take over at its next poll.
    expect(await handover(oursA, 'go-b', 'SIGTERM')).toBeLessThan(timings.retryPeriod * 2.2 + 500);

    const oursC = launch('ours-c', 'ours');
    await follows('ours-c');
    // client-go → ours, graceful: client-go's ReleaseOnCancel reaches our watch at once.
    expect(await handover(goB, 'ours-c', 'SIGTERM')).toBeLessThan(timings.retryPeriod);

    const goD = launch('go-d', 'client-go');
    await follows('go-d');
    // ours → client-go, crash: client-go waits out the record's duration on its own clock.
    expect(await handover(oursC, 'go-d', 'SIGKILL')).toBeGreaterThan(timings.leaseDuration - timings.retryPeriod - 300);

    launch('ours-e', 'ours');
    await follows('ours-e');
    // client-go → ours, crash.
    const crash = await handover(goD, 'ours-e', 'SIGKILL');
    expect(crash).toBeGreaterThan(timings.leaseDuration - timings.retryPeriod - 300);
    expect(crash).toBeLessThan(timings.leaseDuration + 500);

    const terms = fleet.terms(killedAt);
    expect(terms.map((term) => term.identity)).toEqual(['ours-a', 'go-b', 'ours-c', 'go-d', 'ours-e']);
    expect(maxOverlapMs(terms)).toBe(0);
    process.stderr.write(`[measured] mixed fleet: ${measured.join('; ')}\n`);
  }, 120_000);
});
