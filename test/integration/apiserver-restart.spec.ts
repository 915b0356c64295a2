import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { KubernetesLeaseLock, LeaderElector, type LeaderElectionEvent } from '../../lib/elector/internal.js';
import { startControlPlane, type ControlPlane } from '../support/control-plane/control-plane.mjs';
import { kubeConfigFor, uniqueLeaseName, waitFor } from '../support/cluster.js';

const timings = { leaseDuration: 3000, renewDeadline: 2000, retryPeriod: 500 };
const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };

describe('kube-apiserver stopped and restarted under a leader', () => {
  // A private control plane: stopping its apiserver must not disturb other suites.
  let plane: ControlPlane;
  beforeAll(async () => {
    plane = await startControlPlane({ log: () => undefined });
  }, 120_000);
  afterAll(() => plane?.stop());

  it('ends the term within renewDeadline, before leaseDuration, and has a leader again within leaseDuration + retryPeriod of the restart', async () => {
    const name = uniqueLeaseName('restart');
    const electors = [0, 1, 2].map((index) => {
      const events: (LeaderElectionEvent & { at: number })[] = [];
      const elector = new LeaderElector({
        lock: new KubernetesLeaseLock({
          kubeConfig: kubeConfigFor(`candidate-${index}`, plane),
          name,
          namespace: 'default',
        }),
        identity: `restart-${index}`,
        ...timings,
        logger: quiet,
      });
      elector.subscribe((event) => events.push({ ...event, at: performance.now() }));
      return { elector, events };
    });
    try {
      electors.forEach(({ elector }) => elector.start());
      const leader = await waitFor(() => electors.find(({ elector }) => elector.isLeader), 5000, 'a leader');
      const term = leader.elector.term!;
      // Let a renewal or two land so the last send time is recent.
      await waitFor(() => leader.events.filter((event) => event.type === 'renewed').length >= 2, 5000, 'renewals');

      const stoppedAt = performance.now();
      await plane.stopApiserver();
      await waitFor(() => term.signal.aborted, timings.leaseDuration + 1000, 'the term to end');
      const ended = leader.events.find((event) => event.type === 'stopped-leading')!;
      expect(ended).toMatchObject({ reason: 'renew-failed' });
      const stepDownMs = ended.at - stoppedAt;
      expect(stepDownMs).toBeLessThanOrEqual(timings.renewDeadline + 50);
      expect(stepDownMs).toBeLessThan(timings.leaseDuration);
      expect(electors.filter(({ elector }) => elector.isLeader)).toHaveLength(0);

      const restartBegan = performance.now();
      const restartMs = await plane.startApiserver();
      const restartedAt = performance.now();
      await waitFor(
        () => electors.filter(({ elector }) => elector.isLeader).length === 1,
        timings.leaseDuration + timings.retryPeriod * 2.2 + 500,
        'a leader after the restart',
      );
      const recovered = electors
        .flatMap(({ events }) => events)
        .filter((event) => event.type === 'started-leading' && event.at > restartBegan)
        .sort((a, b) => a.at - b.at)[0];
      // A leader may already exist by the time /readyz answers; that counts as zero.
      const recoveryMs = Math.max(0, recovered.at - restartedAt);
      expect(recoveryMs).toBeLessThanOrEqual(timings.leaseDuration + timings.retryPeriod * 2.2 + 100);
      process.stderr.write(
        `[measured] step-down ${stepDownMs.toFixed(0)}ms after apiserver stop (renewDeadline ${timings.renewDeadline}); ` +
          `apiserver restart ${restartMs}ms; new leader ${recoveryMs.toFixed(0)}ms after ready (lease ${timings.leaseDuration})\n`,
      );
    } finally {
      await Promise.all(electors.map(({ elector }) => elector.stop()));
    }
  }, 60_000);
});
