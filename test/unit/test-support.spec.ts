/** The fake clock, the recording lock and the in-memory lock that the other unit tests rely on. */
import { describe, expect, it } from '@jest/globals';
import {
  LeaseConflictError,
  LeaseNotFoundError,
  LeaseTimeoutError,
  MemoryLeaseLock,
  sleep,
  type LeaseRecord,
} from '../../lib/elector/internal.js';
import { FakeClock } from '../support/fake-clock.js';
import { RecordingLeaseLock } from '../support/recording-lease-lock.js';

const record = (holderIdentity: string, leaseTransitions = 0): LeaseRecord => ({
  holderIdentity,
  leaseDurationSeconds: 15,
  acquireTime: '2025-01-01T00:00:00.000000Z',
  renewTime: '2025-01-01T00:00:00.000000Z',
  leaseTransitions,
});
const signal = () => new AbortController().signal;

describe('FakeClock', () => {
  it('fires due timers in time order, ties in scheduling order, and moves wall time along', async () => {
    const clock = new FakeClock({ wallStart: new Date('2025-01-01T00:00:00.000Z') });
    const fired: string[] = [];
    clock.setTimeout(() => fired.push(`b@${clock.now()}`), 20);
    clock.setTimeout(() => fired.push(`a@${clock.now()}`), 10);
    clock.setTimeout(() => fired.push(`c@${clock.now()}`), 20);
    const cancelled = clock.setTimeout(() => fired.push('never'), 5);
    clock.clearTimeout(cancelled);
    clock.setTimeout(() => fired.push('late'), 31);

    await clock.advance(30);
    expect(fired).toEqual(['a@10', 'b@20', 'c@20']);
    expect(clock.now()).toBe(30);
    expect(clock.wallNow().toISOString()).toBe('2025-01-01T00:00:00.030Z');
    expect(clock.pendingTimers()).toBe(1);
    expect(clock.nextTimerAt()).toBe(31);
  });

  it('runs timers scheduled by callbacks and lets promise chains settle between timers', async () => {
    const clock = new FakeClock();
    const seen: number[] = [];
    const loop = async () => {
      for (let i = 0; i < 3; i++) {
        await sleep(clock, 100);
        await Promise.resolve();
        seen.push(clock.now());
      }
    };
    const done = loop();
    await clock.advance(250);
    expect(seen).toEqual([100, 200]);
    await clock.advance(50);
    expect(seen).toEqual([100, 200, 300]);
    await done;
  });

  it('jump moves time without running timers; the next advance runs the overdue ones', async () => {
    const clock = new FakeClock();
    const fired: number[] = [];
    clock.setTimeout(() => fired.push(clock.now()), 100);
    clock.jump(5000);
    expect(clock.now()).toBe(5000);
    expect(fired).toEqual([]);
    await clock.advance(0);
    expect(fired).toEqual([5000]);
  });

  it('advanceUntil stops as soon as the condition holds and fails after the limit', async () => {
    const clock = new FakeClock();
    let flag = false;
    clock.setTimeout(() => (flag = true), 42);
    await expect(clock.advanceUntil(() => flag, 1000)).resolves.toBe(42);
    await expect(clock.advanceUntil(() => false, 100, 10)).rejects.toThrow(/within 100ms/);
  });

  it('skews wall time only', () => {
    const clock = new FakeClock();
    const wall = clock.wallNow().getTime();
    clock.skewWall(-60_000);
    expect(clock.wallNow().getTime()).toBe(wall - 60_000);
    expect(clock.now()).toBe(0);
  });
});

describe('RecordingLeaseLock', () => {
  it('records verbs and details, and injects one-off and persistent failures', async () => {
    const lock = new RecordingLeaseLock();
    await expect(lock.get(signal())).rejects.toBeInstanceOf(LeaseNotFoundError);
    await lock.create(record('a'), signal());
    lock.failNext('update', new LeaseConflictError('injected'));
    await expect(lock.update(record('b'), '1', signal())).rejects.toThrow('injected');
    await lock.update(record('b'), '1', signal());
    expect(lock.calls).toEqual(['get', 'create', 'update', 'update']);
    expect(lock.log.map((call) => call.outcome)).toEqual(['error', 'ok', 'error', 'ok']);
    expect(lock.log[3]).toMatchObject({ resourceVersion: '1', record: { holderIdentity: 'b' } });

    lock.failAlways('*', new LeaseConflictError('down'));
    await expect(lock.get(signal())).rejects.toThrow('down');
    await expect(lock.get(signal())).rejects.toThrow('down');
    lock.clearFailures();
    await expect(lock.get(signal())).resolves.toMatchObject({ record: { holderIdentity: 'b' } });
    expect(lock.takeCalls()).toEqual(['get', 'create', 'update', 'update', 'get', 'get', 'get']);
    expect(lock.calls).toEqual([]);
  });

  it('can lose the answer of a write that landed', async () => {
    const memory = new MemoryLeaseLock('x', 'default');
    const lock = new RecordingLeaseLock(memory);
    lock.failNext('create', new LeaseTimeoutError('lost answer'), { afterApply: true });
    await expect(lock.create(record('a'), signal())).rejects.toThrow('lost answer');
    expect(memory.peek()).toMatchObject({ holderIdentity: 'a' });
  });

  it('delays calls on the fake clock and rejects with LeaseTimeoutError when the signal aborts', async () => {
    const clock = new FakeClock();
    const lock = new RecordingLeaseLock(new MemoryLeaseLock('x', 'default'), clock);
    lock.delay('create', 300);
    let settled = false;
    const creating = lock.create(record('a'), signal()).then(() => (settled = true));
    await clock.advance(299);
    expect(settled).toBe(false);
    expect(lock.inFlight()).toHaveLength(1);
    await clock.advance(1);
    await creating;
    expect(lock.log[0]).toMatchObject({ startedAt: 0, endedAt: 300, outcome: 'ok' });

    lock.delay('get', Number.POSITIVE_INFINITY);
    const controller = new AbortController();
    const reading = lock.get(controller.signal);
    await clock.advance(10_000);
    controller.abort();
    await expect(reading).rejects.toBeInstanceOf(LeaseTimeoutError);
  });
});

describe('MemoryLeaseLock', () => {
  it('implements create, get and optimistic update with resourceVersions', async () => {
    const lock = new MemoryLeaseLock('lease', 'ns');
    expect(lock.describe()).toBe('ns/lease (in-memory)');
    await expect(lock.get(signal())).rejects.toMatchObject({ reason: 'not_found', status: 404 });
    const created = await lock.create(record('a'), signal());
    expect(created).toEqual({ record: record('a'), resourceVersion: '1' });
    await expect(lock.create(record('b'), signal())).rejects.toMatchObject({ reason: 'conflict', status: 409 });
    await expect(lock.update(record('b'), '0', signal())).rejects.toBeInstanceOf(LeaseConflictError);
    const updated = await lock.update(record('b', 1), '1', signal());
    expect(updated.resourceVersion).toBe('2');
    await expect(lock.get(signal())).resolves.toEqual({ record: record('b', 1), resourceVersion: '2' });
  });

  it('lets an outside writer overwrite or delete, and reports malformed specs on read', async () => {
    const lock = new MemoryLeaseLock();
    lock.overwrite({ holderIdentity: 'x', leaseDurationSeconds: 0, renewTime: '2025-01-01T00:00:00.000000Z' });
    const read = await lock.get(signal());
    expect(read.resourceVersion).toBe('1');
    expect(read.normalized?.durationUnusable).toBe(true);
    expect(read.normalized?.problems.map((problem) => problem.field)).toContain('leaseDurationSeconds');
    lock.delete();
    expect(lock.peek()).toBeNull();
    await expect(lock.update(record('a'), '1', signal())).rejects.toBeInstanceOf(LeaseNotFoundError);
  });

  it('honours an aborted signal', async () => {
    const lock = new MemoryLeaseLock();
    const controller = new AbortController();
    controller.abort();
    await expect(lock.get(controller.signal)).rejects.toBeInstanceOf(LeaseTimeoutError);
    await expect(lock.create(record('a'), controller.signal)).rejects.toBeInstanceOf(LeaseTimeoutError);
    expect(lock.peek()).toBeNull();
  });
});
