import { afterAll, describe, expect, it } from '@jest/globals';
import { KubernetesLeaseLock, LeaderElector } from '../../lib/elector/internal.js';
import { CandidateFleet, maxOverlapMs } from '../support/candidate-processes.js';
import { kubeConfigFor, sharedControlPlane, uniqueLeaseName, waitFor } from '../support/cluster.js';

const timings = { leaseDuration: 2000, renewDeadline: 1000, retryPeriod: 250 };

describe('several candidates on one Lease of a real kube-apiserver', () => {
  it('five candidates in one process: never two leaders, and a stopped leader is replaced at once', async () => {
    const name = uniqueLeaseName('five');
    const electors = Array.from(
      { length: 5 },
      (_, index) =>
        new LeaderElector({
          lock: new KubernetesLeaseLock({
            kubeConfig: kubeConfigFor(`candidate-${index}`),
            name,
            namespace: 'default',
          }),
          identity: `five-${index}`,
          ...timings,
        }),
    );
    try {
      electors.forEach((elector) => elector.start());
      let samples = 0;
      let sawLeader = 0;
      const sample = () => {
        const leaders = electors.filter((elector) => elector.isLeader);
        samples++;
        expect(leaders.length).toBeLessThanOrEqual(1);
        if (leaders.length === 1) sawLeader++;
        return leaders[0];
      };
      const first = await waitFor(sample, 5000, 'a first leader');
      const sampleUntil = Date.now() + 3000;
      await waitFor(() => (sample(), Date.now() > sampleUntil), 5000, 'sampling window');
      expect(first.isLeader).toBe(true);

      const handoverStarted = Date.now();
      await first.stop();
      const second = await waitFor(sample, 3000, 'a second leader');
      const handoverMs = Date.now() - handoverStarted;
      expect(second).not.toBe(first);
      // Released, not expired: followers poll every retryPeriod + jitter, well under leaseDuration.
      expect(handoverMs).toBeLessThan(timings.leaseDuration);
      expect(BigInt(second.term!.fencingToken)).toBeGreaterThan(0n);
      expect(samples).toBeGreaterThan(50);
      expect(sawLeader).toBeGreaterThan(samples * 0.8);
    } finally {
      await Promise.all(electors.map((elector) => elector.stop()));
    }
  }, 20_000);

  describe('three candidates in separate processes', () => {
    const name = uniqueLeaseName('procs');
    const fleet = new CandidateFleet({
      LEASE_NAME: name,
      LEASE_DURATION: String(timings.leaseDuration),
      RENEW_DEADLINE: String(timings.renewDeadline),
      RETRY_PERIOD: String(timings.retryPeriod),
    });
    const killedAt = new Map<string, bigint>();
    afterAll(() => fleet.stopAll());

    it('elects exactly one, fails over after about leaseDuration on SIGKILL and at once on SIGTERM', async () => {
      const plane = sharedControlPlane();
      for (let index = 0; index < 3; index++) fleet.launch(`proc-${index}`, plane.kubeconfigs[`candidate-${index}`]);
      const [first] = await waitFor(() => (fleet.leaders().length > 0 ? fleet.leaders() : null), 10_000, 'a leader');
      // Watch for double leadership for a while in steady state.
      const until = Date.now() + 2000;
      await waitFor(() => (expect(fleet.leaders().length).toBeLessThanOrEqual(1), Date.now() > until), 5000, 'steady');

      const victim = fleet.candidates.find((candidate) => candidate.identity === first)!;
      const killTime = process.hrtime.bigint();
      killedAt.set(first, killTime);
      victim.child.kill('SIGKILL');
      const [second] = await waitFor(
        () => (fleet.leaders().filter((identity) => identity !== first).length > 0 ? fleet.leaders() : null),
        10_000,
        'a leader after SIGKILL',
      );
      const startedSecond = fleet.events.find((event) => event.identity === second && event.event === 'started')!;
      const crashFailoverMs = Number(startedSecond.at - killTime) / 1e6;
      // Followers wait leaseDuration from their last observation of a renewal
      // (at most one retry period before the kill), then poll with jitter.
      expect(crashFailoverMs).toBeGreaterThan(timings.leaseDuration - 2.2 * timings.retryPeriod - 100);
      expect(crashFailoverMs).toBeLessThan(timings.leaseDuration + 2.2 * timings.retryPeriod + 1000);

      const gracefulVictim = fleet.candidates.find((candidate) => candidate.identity === second)!;
      const termTime = process.hrtime.bigint();
      gracefulVictim.child.kill('SIGTERM');
      await gracefulVictim.exited;
      const [third] = await waitFor(
        () => (fleet.leaders().length > 0 ? fleet.leaders() : null),
        10_000,
        'a leader after SIGTERM',
      );
      const startedThird = fleet.events.find((event) => event.identity === third && event.event === 'started')!;
      const gracefulHandoverMs = Number(startedThird.at - termTime) / 1e6;
      expect(third).not.toBe(first);
      expect(third).not.toBe(second);
      expect(gracefulHandoverMs).toBeLessThan(timings.leaseDuration);

      const terms = fleet.terms(killedAt);
      expect(terms.map((term) => term.identity)).toEqual([first, second, third]);
      expect(maxOverlapMs(terms)).toBe(0);
      const tokens = terms.map((term) => term.token);
      expect([...tokens].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1))).toEqual(tokens);
      expect(new Set(tokens).size).toBe(tokens.length);
      process.stderr.write(
        `[measured] crash failover ${crashFailoverMs.toFixed(0)}ms, graceful handover ${gracefulHandoverMs.toFixed(0)}ms ` +
          `(lease ${timings.leaseDuration}ms, retry ${timings.retryPeriod}ms)\n`,
      );
    }, 40_000);
  });
});
