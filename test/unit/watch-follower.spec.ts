import { describe, expect, it } from '@jest/globals';
import {
  LeaderElector,
  LeaseConflictError,
  LeaseForbiddenError,
  LeaseUnavailableError,
  MemoryLeaseLock,
  type FollowerModeEvent,
  type LeaderElectionEvent,
  type LeaseLock,
} from '../../lib/elector/internal.js';
import { FakeClock } from '../support/fake-clock.js';
import { RecordingLeaseLock } from '../support/recording-lease-lock.js';

const TIMING = { leaseDuration: 2000, renewDeadline: 1000, retryPeriod: 250 };
const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };

function fleet(clock: FakeClock, memory: MemoryLeaseLock) {
  return (identity: string, overrides: { releaseOnStop?: boolean; watch?: LeaseLock['watch'] } = {}) => {
    // Records every call with fake-clock times; the watch comes from the watchable Lease unless overridden.
    const lock = new RecordingLeaseLock(memory, clock, { watch: overrides.watch });
    const events: LeaderElectionEvent[] = [];
    const elector = new LeaderElector({
      lock,
      clock,
      identity,
      logger: quiet,
      random: () => 0.5,
      ...TIMING,
      ...(overrides.releaseOnStop === undefined ? {} : { releaseOnStop: overrides.releaseOnStop }),
    });
    elector.subscribe((event) => events.push(event));
    return { elector, calls: lock.log, events };
  };
}

describe('watch-driven followers (fake clock, watchable in-memory Lease)', () => {
  it('a follower sends nothing while the leader renews, however long', async () => {
    const clock = new FakeClock();
    const memory = new MemoryLeaseLock('w', 'default', { watchable: true });
    const candidate = fleet(clock, memory);
    const leader = candidate('leader');
    leader.elector.start();
    await clock.advanceUntil(() => leader.elector.isLeader, 1000);
    const follower = candidate('follower');
    follower.elector.start();
    await clock.advance(100);
    expect(follower.calls.map((call) => call.verb)).toEqual(['watch', 'get']);
    const settled = follower.calls.length;
    await clock.advance(30_000);
    expect(follower.calls.slice(settled)).toEqual([]);
    expect(follower.elector.leader).toBe('leader');
    expect(follower.events).toContainEqual({ type: 'follower-mode', mode: 'watch' });
    await leader.elector.stop();
    await follower.elector.stop();
  });

  it('takes over within the hand-over spread after a release', async () => {
    const clock = new FakeClock();
    const memory = new MemoryLeaseLock('w', 'default', { watchable: true });
    const candidate = fleet(clock, memory);
    const leader = candidate('leader');
    leader.elector.start();
    await clock.advanceUntil(() => leader.elector.isLeader, 1000);
    const follower = candidate('follower');
    follower.elector.start();
    await clock.advance(1000);
    const before = follower.calls.length;
    const releasedAt = clock.now();
    await leader.elector.stop();
    const tookMs = (await clock.advanceUntil(() => follower.elector.isLeader, 1000)) - releasedAt;
    // random() = 0.5 → 2.5 ms spread; polling would take 250 + 0.5 × 300 = 400 ms.
    expect(tookMs).toBeLessThanOrEqual(3);
    // The watched release stands in for the GET: one conditional PUT.
    expect(follower.calls.slice(before).map((call) => call.verb)).toEqual(['update']);
    await follower.elector.stop();
  });

  it('after a crash, tries exactly once, at the observed expiry, and succeeds', async () => {
    const clock = new FakeClock();
    const memory = new MemoryLeaseLock('w', 'default', { watchable: true });
    const candidate = fleet(clock, memory);
    const leader = candidate('leader', { releaseOnStop: false });
    leader.elector.start();
    await clock.advanceUntil(() => leader.elector.isLeader, 1000);
    const follower = candidate('follower');
    follower.elector.start();
    await clock.advance(1000);
    const before = follower.calls.length;
    await leader.elector.stop(); // no release: the claim must expire
    const lastWrite = clock.now();
    await clock.advanceUntil(() => follower.elector.isLeader, 5000);
    const attempts = follower.calls.slice(before);
    expect(attempts.map((call) => call.verb)).toEqual(['get', 'update']);
    // The last renewal was observed at most retryPeriod before the stop; expiry is 2000 ms after it, plus 2.5 ms spread.
    expect(attempts[0].startedAt).toBeGreaterThanOrEqual(lastWrite + TIMING.leaseDuration - TIMING.retryPeriod);
    expect(attempts[0].startedAt).toBeLessThanOrEqual(lastWrite + TIMING.leaseDuration + 6);
    await follower.elector.stop();
  });

  it('falls back to client-go polling, and says why, when the watch is forbidden', async () => {
    const clock = new FakeClock();
    const memory = new MemoryLeaseLock('w', 'default', { watchable: true });
    const candidate = fleet(clock, memory);
    const leader = candidate('leader');
    leader.elector.start();
    await clock.advanceUntil(() => leader.elector.isLeader, 1000);
    const forbidden = async () => {
      throw new LeaseForbiddenError('forbidden: user "x" cannot watch leases.coordination.k8s.io', { status: 403 });
    };
    const follower = candidate('follower', { watch: forbidden });
    follower.elector.start();
    await clock.advance(2000);
    const mode = follower.events.filter((e): e is FollowerModeEvent => e.type === 'follower-mode');
    expect(mode).toEqual([{ type: 'follower-mode', mode: 'poll', reason: expect.stringContaining('cannot watch') }]);
    // Polling: a GET every 250 + 0.5 × 1.2 × 250 = 400 ms.
    const gets = follower.calls.filter((call) => call.verb === 'get').map((call) => call.startedAt);
    expect(gets.slice(1).map((at, index) => at - gets[index])).toEqual(gets.slice(1).map(() => 400));
    await leader.elector.stop();
    await follower.elector.stop();
  });

  it('ignores watched changes while leading, and steps down on its own renewal', async () => {
    const clock = new FakeClock();
    const memory = new MemoryLeaseLock('w', 'default', { watchable: true });
    const candidate = fleet(clock, memory);
    const leader = candidate('leader');
    leader.elector.start();
    await clock.advanceUntil(() => leader.elector.isLeader, 1000);
    await clock.advance(300);
    const current = memory.peek() as Record<string, unknown>;
    memory.overwrite({ ...current, holderIdentity: 'thief' });
    expect(leader.elector.isLeader).toBe(true); // the watch event alone does not end the term
    await clock.advance(TIMING.retryPeriod);
    expect(leader.elector.isLeader).toBe(false);
    expect(leader.events).toContainEqual(expect.objectContaining({ type: 'stopped-leading', reason: 'stolen' }));
    await leader.elector.stop();
  });
});

describe('findings of the chaos soak', () => {
  it('fencing tokens keep increasing after an outside writer wipes the spec', async () => {
    const clock = new FakeClock();
    const memory = new MemoryLeaseLock('w', 'default');
    memory.overwrite({ holderIdentity: '', leaseDurationSeconds: 1, leaseTransitions: 7 });
    const candidate = fleet(clock, memory);
    const tokens: number[] = [];
    const a = candidate('a');
    const b = candidate('b');
    const c = candidate('c');
    for (const { elector } of [a, b, c]) {
      elector.subscribe((event) => event.type === 'started-leading' && tokens.push(event.term.leaseTransitions));
    }
    a.elector.start();
    await clock.advanceUntil(() => a.elector.isLeader, 1000);
    b.elector.start();
    await clock.advance(100);
    await a.elector.stop();
    await clock.advanceUntil(() => b.elector.isLeader, 2000);
    memory.overwrite({}); // an outside writer wipes the spec, and with it the count
    await clock.advance(TIMING.retryPeriod * 2); // b renews over the wiped record
    c.elector.start();
    await clock.advance(100);
    await b.elector.stop();
    await clock.advanceUntil(() => c.elector.isLeader, 3000);
    expect(tokens).toEqual([8, 9, expect.any(Number)]);
    expect(tokens[2]).toBeGreaterThan(9);
    expect((memory.peek() as { leaseTransitions: number }).leaseTransitions).toBe(tokens[2]);
    await c.elector.stop();
  });

  it('a fresh read of term.signal is aborted right after a stall, before any timer runs', async () => {
    const clock = new FakeClock();
    const memory = new MemoryLeaseLock('w', 'default');
    const leader = fleet(clock, memory)('leader');
    leader.elector.start();
    await clock.advanceUntil(() => leader.elector.isLeader, 1000);
    const term = leader.elector.term!;
    clock.jump(TIMING.renewDeadline + 1); // frozen: no timer has run
    expect(term.signal.aborted).toBe(true);
    expect(leader.events).toContainEqual(expect.objectContaining({ type: 'stopped-leading', reason: 'expired' }));
    await leader.elector.stop();
  });

  it('retries a forbidden watch later (a starting apiserver answers 403 briefly) instead of polling forever', async () => {
    const clock = new FakeClock();
    const memory = new MemoryLeaseLock('w', 'default', { watchable: true });
    const candidate = fleet(clock, memory);
    const leader = candidate('leader');
    leader.elector.start();
    await clock.advanceUntil(() => leader.elector.isLeader, 1000);
    let refusals = 1;
    const flaky: LeaseLock['watch'] = async (handlers, rv, signal) => {
      if (refusals-- > 0)
        throw new LeaseForbiddenError('forbidden: cannot watch (apiserver starting)', { status: 403 });
      return memory.watch!(handlers, rv, signal);
    };
    const follower = candidate('follower', { watch: flaky });
    follower.elector.start();
    await clock.advance(100);
    expect(follower.events.filter((e) => e.type === 'follower-mode')).toEqual([
      { type: 'follower-mode', mode: 'poll', reason: expect.stringContaining('cannot watch') },
    ]);
    await clock.advance(TIMING.leaseDuration);
    expect(follower.events.filter((e) => e.type === 'follower-mode').at(-1)).toEqual({
      type: 'follower-mode',
      mode: 'watch',
    });
    await leader.elector.stop();
    await follower.elector.stop();
  });

  it('a follower whose attempt failed still retries while the leader keeps renewing (found by the group simulator)', async () => {
    const clock = new FakeClock();
    const memory = new MemoryLeaseLock('w-retry', 'default', { watchable: true });
    const candidate = fleet(clock, memory);
    const leader = candidate('leader');
    leader.elector.start();
    await clock.advanceUntil(() => leader.elector.isLeader, 1000);
    const lock = new RecordingLeaseLock(memory, clock);
    lock.failNext('get', new LeaseUnavailableError('injected 503'));
    const follower = new LeaderElector({
      lock,
      clock,
      identity: 'follower',
      logger: quiet,
      random: () => 0.5,
      ...TIMING,
    });
    follower.start();
    await clock.advanceUntil(() => lock.log.some((call) => call.error), 1000);
    const failedAt = clock.now();
    // The leader renews every retryPeriod, and each renewal reaches the follower's watch.
    await clock.advanceUntil(
      () => lock.log.filter((call) => call.verb === 'get').length >= 2,
      2.2 * TIMING.retryPeriod + 50,
    );
    expect(clock.now() - failedAt).toBeLessThanOrEqual(2.2 * TIMING.retryPeriod + 50);
    await Promise.all([leader.elector.stop(), follower.stop(), clock.advance(3000)]);
  });

  it('a 409 ends a configuration-error streak: the API server authorized the write (found by the group simulator)', async () => {
    const clock = new FakeClock();
    const memory = new MemoryLeaseLock('w-streak', 'default', { watchable: true });
    const lock = new RecordingLeaseLock(memory, clock);
    lock.failNext('create', new LeaseForbiddenError('injected 403'));
    lock.failNext('create', new LeaseConflictError('injected 409'), { times: 1 });
    const elector = new LeaderElector({ lock, clock, identity: 'me', logger: quiet, random: () => 0.5, ...TIMING });
    elector.start();
    await clock.advanceUntil(() => elector.diagnostics.errorStreak?.reason === 'forbidden', 1000);
    await clock.advanceUntil(() => lock.log.filter((call) => call.verb === 'create').length >= 2, 2000);
    expect(elector.diagnostics.errorStreak).toBeNull();
    await Promise.all([elector.stop(), clock.advance(3000)]);
  });
});
