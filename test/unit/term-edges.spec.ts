import { afterEach, describe, expect, it } from '@jest/globals';
import type { TimerHandle } from '../../lib/elector/clock.js';
import type { ElectorLogger, LeaderElectorOptions } from '../../lib/elector/elector-options.js';
import type { LeaderElectionEvent } from '../../lib/elector/leader-election.events.js';
import { LeaderElector } from '../../lib/elector/leader-elector.js';
import type { LeaseLock, LeaseReadResult, LeaseWatch, LeaseWatchHandlers } from '../../lib/elector/lease-lock.js';
import { LeaseUnavailableError } from '../../lib/elector/lease-lock.errors.js';
import { MemoryLeaseLock } from '../../lib/elector/memory-lease-lock.js';
import { delegatingLock } from '../support/delegating-lease-lock.js';
import { FakeClock } from '../support/fake-clock.js';
import { RecordingLeaseLock } from '../support/recording-lease-lock.js';

// Regression tests for issue 13: leadership as user code sees it, on time and in order.

const TIMING = { leaseDuration: 2000, renewDeadline: 1000, retryPeriod: 250 } as const;
const unavailable = () => new LeaseUnavailableError('injected 503', { status: 503 });

/** Node's timers: fractional delays are truncated, and a delay under 1 ms becomes 1 ms. */
class NodeLikeClock extends FakeClock {
  override setTimeout(callback: () => void, delayMs: number): TimerHandle {
    return super.setTimeout(callback, Math.max(1, Math.trunc(delayMs)));
  }
}

interface Candidate {
  clock: FakeClock;
  lock: RecordingLeaseLock;
  elector: LeaderElector;
  /** Every event with the monotonic time it was delivered at. */
  events: Array<{ at: number; event: LeaderElectionEvent }>;
  logs: string[];
}

const running: Candidate[] = [];

function candidate(
  identity: string,
  shared: { clock?: FakeClock; memory?: MemoryLeaseLock; watch?: LeaseLock['watch'] | false } = {},
  overrides: Partial<LeaderElectorOptions> = {},
): Candidate {
  const clock = shared.clock ?? new FakeClock();
  const memory = shared.memory ?? new MemoryLeaseLock('edge-lease', 'default');
  const lock = new RecordingLeaseLock(memory, clock, shared.watch === undefined ? {} : { watch: shared.watch });
  const logs: string[] = [];
  const logger: ElectorLogger = {
    log: () => undefined,
    warn: (message) => logs.push(message),
    error: (message) => logs.push(message),
  };
  const elector = new LeaderElector({ lock, clock, logger, identity, random: () => 0, ...TIMING, ...overrides });
  const events: Candidate['events'] = [];
  elector.subscribe((event) => events.push({ at: clock.now(), event }));
  const made = { clock, lock, elector, events, logs };
  running.push(made);
  return made;
}

const typesOf = (events: Candidate['events']) => events.map(({ event }) => event.type);
const startedCount = (c: Candidate) => c.events.filter(({ event }) => event.type === 'started-leading').length;

async function stopAndSettle({ elector, clock }: Candidate): Promise<void> {
  let done = false;
  const stopping = elector.stop().then(() => (done = true));
  await clock.advanceUntil(() => done, 60_000, 10);
  await stopping;
}

afterEach(async () => {
  for (const made of running.splice(0)) await stopAndSettle(made);
});

/** A watch the test controls: `handlers` of the latest open watch, and a switch that breaks it for good. */
function controllableWatch(memory: MemoryLeaseLock) {
  const state: { handlers: LeaseWatchHandlers | null; broken: boolean; opens: number; fail: (() => void) | null } = {
    handlers: null,
    broken: false,
    opens: 0,
    fail: null,
  };
  const watch: LeaseLock['watch'] = async (handlers, resourceVersion, signal) => {
    state.opens++;
    if (state.broken) throw unavailable();
    state.handlers = handlers;
    // Its own signal, so a broken stream also stops delivering (the elector does not abort a watch that failed).
    const connection = new AbortController();
    signal.addEventListener('abort', () => connection.abort(), { once: true });
    const inner = await memory.watch!(handlers, resourceVersion, connection.signal);
    const done = new Promise<void>((resolve, reject) => {
      state.fail = () => {
        connection.abort();
        reject(unavailable());
      };
      void inner.done.then(resolve);
    });
    return { done } satisfies LeaseWatch;
  };
  const breakForGood = () => {
    state.broken = true;
    state.fail?.();
  };
  return { state, watch, breakForGood };
}

/** `a` leads a watchable Lease; then `b` follows it through a watch the test controls, `followMs` later. */
async function leaderAndWatchingFollower(followMs: number) {
  const clock = new FakeClock();
  const memory = new MemoryLeaseLock('edge-lease', 'default', { watchable: true });
  const a = candidate('a', { clock, memory });
  a.elector.start();
  await clock.advance(100);
  const follower = controllableWatch(memory);
  const b = candidate('b', { clock, memory, watch: follower.watch });
  b.elector.start();
  await clock.advance(followMs);
  return { clock, memory, a, b, follower };
}

/** When the last renewal that landed came back. */
function lastRenewalEnd(lock: RecordingLeaseLock): number {
  return Math.max(...lock.log.filter((call) => call.verb === 'update' && call.outcome === 'ok').map((c) => c.endedAt!));
}

describe('1. the term ends at its deadline with no reads, even when the timer fires early', () => {
  it('re-arms an early deadline timer: stopped-leading and the abort come at the deadline', async () => {
    const clock = new NodeLikeClock();
    const c = candidate('a', { clock }, { retryPeriod: 400 });
    c.lock.delay('create', 10);
    c.elector.start();
    await clock.flush();
    // A short stall: the answer (due at 10) is handled at 10.5 for a request sent at 0. The deadline is 1000,
    // 989.5 ms later, and Node's timer for it is armed for 989 ms, so it fires at 999.5, before the deadline.
    clock.jump(10.5);
    await clock.advance(0);
    expect(startedCount(c)).toBe(1);
    const term = (c.events[c.events.length - 1].event as { term: { signal: AbortSignal } }).term;
    const signal = term.signal;
    let abortedAt: number | null = null;
    signal.addEventListener('abort', () => (abortedAt = clock.now()));
    c.lock.failAlways('*', unavailable()); // renewals at 410.5 and 810.5 fail at once; the loop sleeps until 1210.5

    await clock.advanceTo(1100); // no isLeader or term.signal reads on the way
    const stopped = c.events.filter(({ event }) => event.type === 'stopped-leading');
    expect(stopped).toHaveLength(1);
    expect(stopped[0].at).toBeGreaterThanOrEqual(1000);
    expect(stopped[0].at).toBeLessThanOrEqual(1001);
    expect(abortedAt).toBe(stopped[0].at);
  });
});

describe('2. no term begins when the acquire answer arrives after renewDeadline', () => {
  it('does not start a term that is already over, and acquires properly on the next attempt', async () => {
    const c = candidate('a');
    c.lock.delay('create', 10);
    c.elector.start();
    await c.clock.flush();
    c.clock.jump(1200); // a GC pause: the answer is handled 1.2 s after the request went out
    await c.clock.advance(10);
    expect(startedCount(c)).toBe(0);
    expect(c.logs.some((line) => line.includes('past renewDeadline'))).toBe(true);
    await c.clock.advanceUntil(() => startedCount(c) === 1, 2000);
    expect(c.elector.isLeader).toBe(true);
  });

  it('rejects a requestTimeout that is not below renewDeadline, naming the field', () => {
    const lock = new MemoryLeaseLock('edge-lease', 'default');
    expect(() => new LeaderElector({ lock, ...TIMING, requestTimeout: 1000 })).toThrow(/`requestTimeout`/);
    expect(() => new LeaderElector({ lock, ...TIMING, requestTimeout: 999 })).not.toThrow();
  });
});

describe('3. every listener sees every event, in order, even when a listener causes the next one', () => {
  it('delivers started-leading to all listeners before the stopped-leading a listener caused with stop()', async () => {
    const c = candidate('a');
    const seen: string[] = [];
    let gauge = 0;
    c.elector.subscribe((event) => {
      if (event.type === 'started-leading') void c.elector.stop();
    });
    c.elector.subscribe((event) => {
      if (event.type === 'started-leading') gauge++;
      if (event.type === 'stopped-leading') gauge--;
      if (event.type === 'started-leading' || event.type === 'stopped-leading') seen.push(event.type);
    });
    c.elector.start();
    await c.clock.advance(100);
    expect(seen).toEqual(['started-leading', 'stopped-leading']);
    expect(gauge).toBe(0);
    expect(typesOf(c.events).filter((type) => type.endsWith('-leading'))).toEqual([
      'started-leading',
      'stopped-leading',
    ]);
  });

  it('orders the deadline-ended stopped-leading after started-leading when a listener reads isLeader late', async () => {
    const c = candidate('a');
    const seen: string[] = [];
    let stalled = false;
    c.elector.subscribe((event) => {
      if (event.type !== 'started-leading' || stalled) return;
      stalled = true;
      c.clock.jump(1500); // the listener itself stalls past the deadline, then reads
      expect(c.elector.isLeader).toBe(false);
    });
    c.elector.subscribe((event) => seen.push(event.type));
    c.elector.start();
    await c.clock.advance(10);
    expect(seen.filter((type) => type.endsWith('-leading')).slice(0, 2)).toEqual([
      'started-leading',
      'stopped-leading',
    ]);
  });
});

describe('4. a follower whose watch is down polls', () => {
  it.each([0, 90, 180, 240])(
    'keeps reading the Lease and takes over within leaseDuration + 2.2 x retryPeriod of a crash (offset %i ms)',
    async (offset) => {
      const { clock, a, b, follower } = await leaderAndWatchingFollower(100);
      expect(b.elector.diagnostics.watch.state).toBe('open');

      follower.breakForGood();
      await clock.advance(10);
      b.lock.resetCalls();
      await clock.advance(1000 + offset);
      // Polling: reads at least every 2.2 x retryPeriod, not one read at a planned expiry.
      expect(b.lock.calls.filter((verb) => verb === 'get').length).toBeGreaterThanOrEqual(2);

      a.lock.failAlways('*', unavailable()); // a crashes: its last renewal already landed
      const lastRenewal = lastRenewalEnd(a.lock);
      await clock.advanceUntil(() => b.elector.isLeader, 10_000);
      expect(clock.now() - lastRenewal).toBeLessThanOrEqual(TIMING.leaseDuration + 2.2 * TIMING.retryPeriod);
    },
  );
});

describe('5. listener errors never crash the process', () => {
  it('logs an async listener that rejects, and the elector goes on', async () => {
    const c = candidate('a');
    c.elector.subscribe(async (event) => {
      if (event.type === 'started-leading') throw new Error('listener exploded');
    });
    c.elector.start();
    await c.clock.advance(600);
    expect(c.logs.some((line) => line.includes('started-leading listener failed') && line.includes('exploded'))).toBe(
      true,
    );
    expect(c.elector.isLeader).toBe(true);
  });
});

describe('6. a watch that is still connecting never blocks the release', () => {
  it('releases on stop although the watch connect hangs and ignores its abort', async () => {
    const memory = new MemoryLeaseLock('edge-lease', 'default');
    const hanging: LeaseLock['watch'] = () => new Promise<LeaseWatch>(() => undefined);
    const c = candidate('a', { memory, watch: hanging });
    c.elector.start();
    await c.clock.advance(100);
    expect(c.elector.isLeader).toBe(true);
    const stopAt = c.clock.now();
    await stopAndSettle(c);
    expect(memory.peek()).toMatchObject({ holderIdentity: '', leaseDurationSeconds: 1 });
    expect(c.clock.now() - stopAt).toBeLessThanOrEqual(c.elector.options.requestTimeout);
  });
});

describe('7. waitForLeadership after stop', () => {
  it('rejects at once', async () => {
    const c = candidate('a');
    c.elector.start();
    await c.clock.advance(10);
    await stopAndSettle(c);
    await expect(c.elector.waitForLeadership()).rejects.toThrow(/stopped before becoming leader/);
  });
});

describe('8. a replay of older records does not reset the expiry clock', () => {
  it('takes over at the expiry of the newest record seen, ignoring a stale replay', async () => {
    const { clock, memory, a, b, follower } = await leaderAndWatchingFollower(10);
    const old: LeaseReadResult = await memory.get(new AbortController().signal);
    await clock.advance(500);
    a.lock.failAlways('*', unavailable()); // a crashes
    const lastRenewal = lastRenewalEnd(a.lock);
    await clock.advance(1500);
    follower.state.handlers!.onChange(old); // the watch replays a record older than the last one seen
    await clock.advanceUntil(() => b.elector.isLeader, 10_000);
    expect(clock.now() - lastRenewal).toBeLessThanOrEqual(TIMING.leaseDuration + 10);
  });
});

describe('9. a watch the server closes at once backs off', () => {
  it('opens a few watches per second at most, not one per microtask', async () => {
    const memory = new MemoryLeaseLock('edge-lease', 'default');
    let opens = 0;
    // Without backoff the reopen loop never yields to a timer; past 1,000 opens the watch hangs, so the test ends.
    const closesAtOnce: LeaseLock['watch'] = async () => {
      opens++;
      if (opens > 1000) return new Promise<LeaseWatch>(() => undefined);
      return { done: Promise.resolve() };
    };
    const c = candidate('a', { memory, watch: closesAtOnce });
    c.elector.start();
    await c.clock.advance(10_000);
    expect(opens).toBeGreaterThan(1);
    expect(opens).toBeLessThanOrEqual(20);
    expect(c.elector.diagnostics.watch.lastFailure).toMatch(/closed the watch .* at once/);
  });
});

describe('gaps the simulator found: a follower is never slowed by a stale view', () => {
  it('polls while the watch the server closed reconnects (follower_watching 0), not only once it is back', async () => {
    const clock = new FakeClock();
    const memory = new MemoryLeaseLock('edge-lease', 'default', { watchable: true });
    const a = candidate('a', { clock, memory });
    a.elector.start();
    await clock.advance(100);
    let opens = 0;
    let closeCleanly: (() => void) | null = null;
    // The first watch streams until the server ends it cleanly; every reconnect hangs until its abort.
    const watch: LeaseLock['watch'] = async (handlers, resourceVersion, signal) => {
      opens++;
      if (opens > 1) {
        return new Promise<LeaseWatch>((_, reject) =>
          signal.addEventListener('abort', () => reject(unavailable()), { once: true }),
        );
      }
      const connection = new AbortController();
      const inner = await memory.watch!(handlers, resourceVersion, connection.signal);
      const done = new Promise<void>((resolve) => {
        closeCleanly = () => {
          connection.abort();
          resolve();
        };
        void inner.done.then(resolve);
      });
      return { done };
    };
    const b = candidate('b', { clock, memory, watch });
    b.elector.start();
    await clock.advance(2000); // long enough not to count as a watch closed at once
    expect(b.elector.diagnostics.watch.state).toBe('open');
    closeCleanly!();
    await clock.advance(1);
    const modes = b.events.filter(({ event }) => event.type === 'follower-mode').map(({ event }) => event);
    expect(modes.at(-1)).toMatchObject({ type: 'follower-mode', mode: 'poll' });
    b.lock.resetCalls();
    await clock.advance(2.2 * TIMING.retryPeriod);
    expect(b.lock.calls.filter((verb) => verb === 'get').length).toBeGreaterThanOrEqual(1);
  });

  it('drops a GET answer older than a record the watch already delivered, and takes over on time', async () => {
    const { clock, memory, a, b } = await leaderAndWatchingFollower(10);
    const old: LeaseReadResult = await memory.get(new AbortController().signal);
    await clock.advance(600); // a renews; the watch delivers its newer records to b
    a.lock.failAlways('*', unavailable()); // a crashes
    const lastRenewal = lastRenewalEnd(a.lock);
    // b's first read after the crash is answered from before the records it watched (a lagging cache).
    let stale = true;
    const fresh = b.lock.get.bind(b.lock);
    b.lock.get = async (signal) => {
      if (!stale) return fresh(signal);
      stale = false;
      return old;
    };
    await clock.advanceUntil(() => b.elector.isLeader, 10_000);
    expect(stale).toBe(false);
    expect(clock.now() - lastRenewal).toBeLessThanOrEqual(TIMING.leaseDuration + 2.2 * TIMING.retryPeriod);
  });
});

describe('10. smaller edges', () => {
  it('a crashed loop closes its watch, and a later stop() reports elector-stopped once', async () => {
    const memory = new MemoryLeaseLock('edge-lease', 'default', { watchable: true });
    // Breaks the contract: a read whose `normalized.problems` is not a list crashes the loop.
    const broken = delegatingLock(memory, {
      get: async (signal) => ({ ...(await memory.get(signal)), normalized: { problems: 5 } }) as never,
    });
    memory.overwrite({ holderIdentity: 'other', leaseDurationSeconds: 2, leaseTransitions: 0 });
    const clock = new FakeClock();
    const elector = new LeaderElector({ lock: broken, clock, identity: 'me', ...TIMING, logger: silent });
    const events: string[] = [];
    elector.subscribe((event) => events.push(event.type));
    elector.start();
    await clock.advance(100);
    expect(elector.diagnostics.loopError).toMatch(/TypeError/);
    expect(memory.watcherCount).toBe(0);
    await elector.stop();
    expect(events.filter((type) => type === 'elector-stopped')).toHaveLength(1);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('a stop during a renewal that would time out releases at once instead of waiting for it', async () => {
    const memory = new MemoryLeaseLock('edge-lease', 'default');
    const c = candidate('a', { memory });
    c.elector.start();
    await c.clock.advance(100);
    c.lock.delay('update', 60_000); // the renewal at 250 hangs until its deadline
    await c.clock.advanceTo(300);
    expect(c.lock.inFlight().map((call) => call.verb)).toEqual(['update']);
    c.lock.delay('update', 0);
    const stopAt = c.clock.now();
    await stopAndSettle(c);
    expect(memory.peek()).toMatchObject({ holderIdentity: '', leaseDurationSeconds: 1 });
    // At once: the hung renewal is cut off, not waited out (it would time out 450 ms after the stop).
    expect(c.clock.now() - stopAt).toBeLessThanOrEqual(10);
    expect(c.clock.pendingTimers()).toBe(0);
  });
});

const silent: ElectorLogger = { log: () => undefined, warn: () => undefined, error: () => undefined };
