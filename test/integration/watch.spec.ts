import { afterEach, describe, expect, it } from '@jest/globals';
import {
  KubernetesLeaseLock,
  LeaderElector,
  type FollowerModeEvent,
  type LeaderElectionEvent,
} from '../../lib/elector/internal.js';
import { RecordingLeaseLock } from '../support/recording-lease-lock.js';
import { kubeConfigFor, uniqueLeaseName, waitFor } from '../support/cluster.js';

const timings = { leaseDuration: 2000, renewDeadline: 1000, retryPeriod: 250 };
const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };

function candidate(name: string, identity: string, user: string) {
  // Counts every verb the candidate sends; the watch passes through so the elector can use it.
  const lock = new RecordingLeaseLock(
    new KubernetesLeaseLock({ kubeConfig: kubeConfigFor(user), name, namespace: 'default' }),
  );
  const events: (LeaderElectionEvent & { at: number })[] = [];
  const elector = new LeaderElector({
    lock,
    identity,
    ...timings,
    logger: quiet,
  });
  elector.subscribe((event) => events.push({ ...event, at: performance.now() }));
  return {
    elector,
    events,
    get verbs() {
      return lock.calls;
    },
  };
}

describe('watch-driven followers on a real kube-apiserver', () => {
  const running: LeaderElector[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((elector) => elector.stop()));
  });

  it('followers send no requests in steady state, and take over right after a release', async () => {
    const name = uniqueLeaseName('watch');
    const leader = candidate(name, 'w-leader', 'candidate-0');
    const followers = [candidate(name, 'w-f1', 'candidate-1'), candidate(name, 'w-f2', 'candidate-2')];
    running.push(leader.elector, ...followers.map((f) => f.elector));
    leader.elector.start();
    await leader.elector.waitForLeadership();
    followers.forEach((f) => f.elector.start());
    await waitFor(
      () => followers.every((f) => f.events.some((e) => e.type === 'follower-mode' && e.mode === 'watch')),
      3000,
      'followers to watch',
    );
    await waitFor(() => followers.every((f) => f.elector.leader === 'w-leader'), 3000, 'followers to see the leader');
    // The watch can show the leader before a follower's first attempt (GET /version, then the Lease) is done.
    await waitFor(
      () => followers.every((f) => f.elector.diagnostics.lastAttemptCompletedAt !== null),
      3000,
      'followers to finish their first attempt',
    );

    // Steady state over several lease durations: no GET/PUT from followers, only the leader renews.
    const before = followers.map((f) => f.verbs.length);
    const renewalsBefore = leader.events.filter((e) => e.type === 'renewed').length;
    const until = Date.now() + timings.leaseDuration * 2.5;
    await waitFor(() => Date.now() > until, timings.leaseDuration * 3, 'a quiet period');
    expect(followers.map((f, index) => f.verbs.slice(before[index]))).toEqual([[], []]);
    expect(leader.events.filter((e) => e.type === 'renewed').length - renewalsBefore).toBeGreaterThanOrEqual(8);
    expect(followers.every((f) => !f.elector.isLeader && f.elector.leader === 'w-leader')).toBe(true);

    const stoppedAt = performance.now();
    await leader.elector.stop();
    const next = await waitFor(
      () => followers.flatMap((f) => f.events).find((e) => e.type === 'started-leading' && e.at > stoppedAt),
      timings.leaseDuration,
      'a follower to take over',
    );
    const handoverMs = next.at - stoppedAt;
    expect(handoverMs).toBeLessThan(timings.retryPeriod);
    expect(followers.filter((f) => f.elector.isLeader)).toHaveLength(1);
    process.stderr.write(`[measured] watch hand-over ${handoverMs.toFixed(1)}ms after stop() began (in-process)\n`);
  }, 20_000);

  it('a crashed leader is replaced at its expiry by the followers own clocks, without polling', async () => {
    const name = uniqueLeaseName('watch-crash');
    const crashing = new LeaderElector({
      lock: new KubernetesLeaseLock({ kubeConfig: kubeConfigFor('candidate-3'), name, namespace: 'default' }),
      identity: 'c-leader',
      ...timings,
      releaseOnStop: false, // like a SIGKILL: the claim stays until it expires
      logger: quiet,
    });
    const follower = candidate(name, 'c-follower', 'candidate-4');
    running.push(follower.elector);
    crashing.start();
    await crashing.waitForLeadership();
    follower.elector.start();
    await waitFor(() => follower.elector.leader === 'c-leader', 3000, 'the follower to see the leader');
    await waitFor(
      () => follower.events.some((e) => e.type === 'follower-mode' && e.mode === 'watch'),
      3000,
      'watching',
    );
    const before = follower.verbs.length;
    await crashing.stop();
    const crashedAt = performance.now();
    const started = await waitFor(
      () => follower.events.find((e) => e.type === 'started-leading'),
      timings.leaseDuration * 2,
      'the follower to take over',
    );
    const failoverMs = started.at - crashedAt;
    // The last renewal landed at most one retryPeriod before the crash; the follower waits leaseDuration from it.
    expect(failoverMs).toBeGreaterThan(timings.leaseDuration - timings.retryPeriod - 100);
    expect(failoverMs).toBeLessThan(timings.leaseDuration + 150);
    // One GET at expiry and one PUT: no polling while waiting.
    expect(follower.verbs.slice(before)).toEqual(['get', 'update']);
    process.stderr.write(
      `[measured] watch crash failover ${failoverMs.toFixed(0)}ms (leaseDuration ${timings.leaseDuration})\n`,
    );
  }, 20_000);

  it('falls back to polling, and says so, when the watch verb is not granted', async () => {
    const name = uniqueLeaseName('nowatch');
    const a = candidate(name, 'nw-a', 'nowatch');
    const b = candidate(name, 'nw-b', 'nowatch');
    running.push(a.elector, b.elector);
    a.elector.start();
    await a.elector.waitForLeadership();
    b.elector.start();
    const fallback = await waitFor(
      () =>
        b.events.find((e): e is FollowerModeEvent & { at: number } => e.type === 'follower-mode' && e.mode === 'poll'),
      5000,
      'the fallback to polling',
    );
    expect(fallback.reason).toContain('cannot watch leases.coordination.k8s.io');
    // Polling like client-go: GETs every retryPeriod..2.2 x retryPeriod.
    const before = b.verbs.filter((verb) => verb === 'get').length;
    const until = Date.now() + 2000;
    await waitFor(() => Date.now() > until, 3000, 'polling');
    expect(b.verbs.filter((verb) => verb === 'get').length - before).toBeGreaterThanOrEqual(3);
    const stoppedAt = performance.now();
    await a.elector.stop();
    const started = await waitFor(
      () => b.events.find((e) => e.type === 'started-leading' && e.at > stoppedAt),
      timings.leaseDuration,
      'takeover by polling',
    );
    expect(started.at - stoppedAt).toBeLessThan(timings.retryPeriod * 2.2 + 300);
  }, 20_000);
});
