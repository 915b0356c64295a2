/**
 * A port of client-go's TestTryAcquireOrRenew table
 * (tools/leaderelection/leaderelection_test.go) to this elector, driven only
 * through its public API with a fake clock and deterministic jitter, and
 * asserting the exact sequence of Lease API calls of every attempt.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import {
  LeaderElector,
  LeaseConflictError,
  MemoryLeaseLock,
  formatMicroTime,
  type ElectorLogger,
  type LeaderElectionEvent,
  type LeaderElectorOptions,
  type LeaseRecord,
} from '../../lib/elector/internal.js';
import { FakeClock } from '../support/fake-clock.js';
import { RecordingLeaseLock } from '../support/recording-lease-lock.js';

const TIMING = { leaseDuration: 2000, renewDeadline: 1000, retryPeriod: 250 } as const;
const running: Array<{ elector: LeaderElector; clock: FakeClock }> = [];

function setup(overrides: Partial<LeaderElectorOptions> = {}) {
  const clock = new FakeClock();
  const memory = new MemoryLeaseLock('test-lease', 'default');
  const lock = new RecordingLeaseLock(memory, clock);
  const logs: Array<{ level: string; message: string }> = [];
  const logger: ElectorLogger = {
    debug: (message) => logs.push({ level: 'debug', message }),
    log: (message) => logs.push({ level: 'log', message }),
    warn: (message) => logs.push({ level: 'warn', message }),
    error: (message) => logs.push({ level: 'error', message }),
  };
  const elector = new LeaderElector({ lock, clock, logger, identity: 'baz', random: () => 0, ...TIMING, ...overrides });
  const events: LeaderElectionEvent[] = [];
  elector.subscribe((event) => events.push(event));
  const count = (type: LeaderElectionEvent['type']) => events.filter((event) => event.type === type).length;
  const stored = () => memory.peek() as LeaseRecord;
  /** A record as another candidate would write it, timestamped with the current wall time. */
  const heldBy = (holderIdentity: string, extra: Partial<LeaseRecord> = {}): LeaseRecord => ({
    holderIdentity,
    leaseDurationSeconds: 2,
    acquireTime: formatMicroTime(clock.wallNow()),
    renewTime: formatMicroTime(clock.wallNow()),
    leaseTransitions: 0,
    ...extra,
  });
  running.push({ elector, clock });
  return { clock, memory, lock, elector, events, count, stored, heldBy, logs };
}

afterEach(async () => {
  for (const { elector, clock } of running.splice(0)) {
    let done = false;
    const stopped = elector.stop().then(() => {
      done = true;
    });
    await clock.advanceUntil(() => done, 60_000, 50);
    await stopped;
  }
});

describe('tryAcquireOrRenew (client-go table)', () => {
  it('acquires from no object: get, create', async () => {
    const { clock, lock, elector, count, stored } = setup();
    elector.start();
    await clock.flush();

    expect(lock.calls).toEqual(['get', 'create']);
    expect(elector.isLeader).toBe(true);
    expect(count('started-leading')).toBe(1);
    expect(elector.term?.leaseTransitions).toBe(0);
    expect(stored()).toMatchObject({ holderIdentity: 'baz', leaseDurationSeconds: 2, leaseTransitions: 0 });
  });

  it('acquires from an object with an empty spec: get, update, transition counted', async () => {
    const { clock, memory, lock, elector, count, stored } = setup();
    memory.overwrite({});
    elector.start();
    await clock.flush();

    expect(lock.calls).toEqual(['get', 'update']);
    expect(elector.isLeader).toBe(true);
    expect(count('started-leading')).toBe(1);
    expect(stored()).toMatchObject({ holderIdentity: 'baz', leaseDurationSeconds: 2, leaseTransitions: 1 });
    expect(elector.term?.leaseTransitions).toBe(1);
  });

  it("waits out a held object for the record's own leaseDurationSeconds (longer than configured)", async () => {
    const { clock, memory, lock, elector, count, stored, heldBy } = setup();
    memory.overwrite(heldBy('bing', { leaseDurationSeconds: 5, leaseTransitions: 3 }));
    elector.start();
    await clock.flush();
    expect(lock.takeCalls()).toEqual(['get']);
    expect(elector.isLeader).toBe(false);
    expect(elector.leader).toBe('bing');

    // Well past our configured 2s lease duration, the record's 5s still holds.
    await clock.advanceTo(4999);
    expect(elector.isLeader).toBe(false);
    expect(lock.takeCalls()).toEqual(Array(19).fill('get'));
    expect(stored().holderIdentity).toBe('bing');

    await clock.advanceTo(5000);
    expect(lock.takeCalls()).toEqual(['get', 'update']);
    expect(elector.isLeader).toBe(true);
    expect(count('started-leading')).toBe(1);
    expect(stored()).toMatchObject({ holderIdentity: 'baz', leaseDurationSeconds: 2, leaseTransitions: 4 });
    expect(elector.term?.leaseTransitions).toBe(4);
  });

  it("takes a held object once the record's own (shorter than configured) leaseDurationSeconds passed", async () => {
    const { clock, memory, lock, elector, stored, heldBy } = setup();
    memory.overwrite(heldBy('bing', { leaseDurationSeconds: 1, leaseTransitions: 7 }));
    elector.start();
    await clock.advanceTo(999);
    expect(elector.isLeader).toBe(false);
    expect(lock.takeCalls()).toEqual(['get', 'get', 'get', 'get']);

    await clock.advanceTo(1000);
    expect(lock.takeCalls()).toEqual(['get', 'update']);
    expect(elector.isLeader).toBe(true);
    expect(stored()).toMatchObject({ holderIdentity: 'baz', leaseTransitions: 8 });
  });

  it('acquires an unheld object (holder "") at once, whatever its duration', async () => {
    const { clock, memory, lock, elector, stored, heldBy } = setup();
    memory.overwrite(heldBy('', { leaseDurationSeconds: 3600, leaseTransitions: 2 }));
    elector.start();
    await clock.flush();

    expect(lock.calls).toEqual(['get', 'update']);
    expect(elector.isLeader).toBe(true);
    expect(stored()).toMatchObject({ holderIdentity: 'baz', leaseDurationSeconds: 2, leaseTransitions: 3 });
  });

  it('acquires a held object observed long ago: get, update', async () => {
    const { clock, memory, lock, elector, count, stored, heldBy } = setup();
    memory.overwrite(heldBy('bing', { leaseTransitions: 1 }));
    elector.start();
    await clock.flush();
    expect(lock.takeCalls()).toEqual(['get']);

    // The record never changes while our process is frozen for a minute.
    clock.jump(60_000);
    await clock.advance(0);
    expect(lock.takeCalls()).toEqual(['get', 'update']);
    expect(elector.isLeader).toBe(true);
    expect(count('started-leading')).toBe(1);
    expect(stored()).toMatchObject({ holderIdentity: 'baz', leaseTransitions: 2 });
  });

  it('acquires an empty-holder object at once even though it was observed just now', async () => {
    const { clock, memory, lock, elector, stored, heldBy } = setup();
    memory.overwrite(heldBy('bing', { leaseDurationSeconds: 15, leaseTransitions: 5 }));
    elector.start();
    await clock.flush();
    expect(lock.takeCalls()).toEqual(['get']);

    // bing releases; the change is fresh, and the record says 1s, but "" is takeable at once.
    await clock.advanceTo(100);
    memory.overwrite(heldBy('', { leaseDurationSeconds: 1, leaseTransitions: 5 }));
    await clock.advanceTo(250);
    expect(lock.takeCalls()).toEqual(['get', 'update']);
    expect(elector.isLeader).toBe(true);
    expect(stored()).toMatchObject({ holderIdentity: 'baz', leaseTransitions: 6 });
  });

  it('does not acquire a recently observed held object: exactly one GET, and only GETs while it is renewed', async () => {
    const { clock, memory, lock, elector, events, heldBy } = setup();
    memory.overwrite(heldBy('bing'));
    elector.start();
    await clock.flush();

    expect(lock.takeCalls()).toEqual(['get']);
    expect(elector.isLeader).toBe(false);
    expect(elector.leader).toBe('bing');
    expect(events.filter((event) => event.type === 'new-leader')).toEqual([
      { type: 'new-leader', identity: 'bing', previous: null, isSelf: false },
    ]);

    // bing keeps renewing every 500ms for 10s: we only ever read.
    for (let t = 500; t <= 10_000; t += 500) {
      await clock.advanceTo(t);
      memory.overwrite(heldBy('bing'));
      expect(elector.isLeader).toBe(false);
    }
    expect(new Set(lock.calls)).toEqual(new Set(['get']));
    expect(events.some((event) => event.type === 'started-leading')).toBe(false);
  });

  it('renews its own lease: when the fast-path update fails it falls back to GET + PUT', async () => {
    const { clock, lock, elector, events, stored } = setup();
    elector.start();
    await clock.flush();
    const acquired = stored();
    lock.resetCalls();

    lock.failNext('update', new LeaseConflictError('injected 409', { status: 409 }));
    await clock.advanceTo(250);

    expect(lock.calls).toEqual(['update', 'get', 'update']);
    expect(elector.isLeader).toBe(true);
    expect(stored()).toMatchObject({
      holderIdentity: 'baz',
      leaseTransitions: 0,
      acquireTime: acquired.acquireTime,
    });
    expect(stored().renewTime).not.toBe(acquired.renewTime);
    expect(events.filter((event) => event.type === 'renewed')).toEqual([
      { type: 'renewed', durationMs: 0, slowPath: true },
    ]);
    expect(events.filter((event) => event.type === 'stopped-leading')).toEqual([]);
  });
});

describe('fast path', () => {
  it('acquires with get, create, then renews with one update per renewal and no GET', async () => {
    const { clock, lock, elector, events, stored } = setup();
    elector.start();
    await clock.advanceTo(500);

    expect(lock.calls).toEqual(['get', 'create', 'update', 'update']);
    expect(events.filter((event) => event.type === 'renewed')).toEqual([
      { type: 'renewed', durationMs: 0, slowPath: false },
      { type: 'renewed', durationMs: 0, slowPath: false },
    ]);
    // Each fast-path PUT carries the resourceVersion of our previous write.
    const updates = lock.log.filter((call) => call.verb === 'update');
    expect(updates.map((call) => call.resourceVersion)).toEqual(['1', '2']);
    expect(stored()).toMatchObject({ holderIdentity: 'baz', leaseTransitions: 0 });
    expect(elector.term?.leaseTransitions).toBe(0);
  });

  it('keeps acquireTime and leaseTransitions and writes a new renewTime on every renewal', async () => {
    const { clock, lock, elector } = setup();
    elector.start();
    await clock.advanceTo(750);

    const writes = lock.log.filter((call) => call.verb !== 'get').map((call) => call.record!);
    expect(writes).toHaveLength(4);
    expect(new Set(writes.map((record) => record.acquireTime)).size).toBe(1);
    expect(new Set(writes.map((record) => record.renewTime)).size).toBe(4);
    expect(writes.every((record) => record.leaseTransitions === 0 && record.holderIdentity === 'baz')).toBe(true);
  });

  it('falls back to get + update on a real 409 (resourceVersion moved without a change of the record)', async () => {
    const { clock, memory, lock, elector, stored } = setup();
    elector.start();
    await clock.advanceTo(250);
    lock.resetCalls();

    memory.overwrite(memory.peek()); // an outside writer touches the object: new resourceVersion, same spec
    await clock.advanceTo(500);
    expect(lock.takeCalls()).toEqual(['update', 'get', 'update']);
    expect(elector.isLeader).toBe(true);

    // The fallback re-primed the cache: the next renewal is a single update again.
    await clock.advanceTo(750);
    expect(lock.takeCalls()).toEqual(['update']);
    expect(stored()).toMatchObject({ holderIdentity: 'baz', leaseTransitions: 0 });
  });

  it('uses the fast path again in a later term', async () => {
    const { clock, memory, lock, elector, count, heldBy } = setup();
    elector.start();
    await clock.advanceTo(100);

    // Someone else takes over; we lose at our next renewal.
    memory.overwrite(heldBy('bing', { leaseTransitions: 1 }));
    await clock.advanceTo(250);
    expect(count('stopped-leading')).toBe(1);
    lock.resetCalls();

    // bing goes silent; once its 2s have passed since we saw it, we take over and renew on the fast path.
    await clock.advanceTo(2250);
    expect(elector.isLeader).toBe(true);
    expect(count('started-leading')).toBe(2);
    expect(lock.takeCalls().slice(-2)).toEqual(['get', 'update']);
    await clock.advanceTo(2500);
    expect(lock.takeCalls()).toEqual(['update']);
    await clock.advanceTo(2750);
    expect(lock.takeCalls()).toEqual(['update']);
    expect(elector.term?.leaseTransitions).toBe(2);
  });
});
