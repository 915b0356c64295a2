import { describe, expect, it } from '@jest/globals';
import {
  LeaderElector,
  MemoryLeaseLock,
  type Candidacy,
  type ElectorLogger,
  type TermEndReason,
} from '../../lib/elector/internal.js';
import { FakeClock } from '../support/fake-clock.js';

const TIMING = { leaseDuration: 2000, renewDeadline: 1000, retryPeriod: 250 } as const;
const quiet: ElectorLogger = { log: () => undefined, warn: () => undefined, error: () => undefined };

/** Advice that prefers `preferred` and, once `handOver` is set, asks the holder to hand over to it. */
function advice(self: string, state: { preferred: string; handOver: boolean }): Candidacy {
  return {
    rank: (previousHolder) => (self === state.preferred && previousHolder !== self ? 0 : 1),
    handoverTarget: () => (state.handOver && self !== state.preferred ? state.preferred : null),
    rankStep: 50,
  };
}

function pair() {
  const clock = new FakeClock();
  const lock = new MemoryLeaseLock('handover', 'default', { watchable: true });
  const state = { preferred: 'a', handOver: false };
  const finishers: Array<() => void> = [];
  const drains: string[] = [];
  const ends: Array<{ identity: string; reason: TermEndReason; at: number }> = [];
  const make = (identity: string) => {
    const elector = new LeaderElector({
      lock,
      identity,
      clock,
      logger: quiet,
      random: () => 0.5,
      candidacy: advice(identity, state),
      handoverDrain: () => {
        drains.push(identity);
        return new Promise<void>((resolve) => finishers.push(resolve));
      },
      ...TIMING,
    });
    elector.subscribe((event) => {
      if (event.type === 'stopped-leading') ends.push({ identity, reason: event.reason, at: clock.now() });
    });
    return elector;
  };
  const a = make('a');
  const b = make('b');
  return { clock, lock, state, a, b, drains, ends, finishers, finishDrain: () => finishers.at(-1)?.() };
}

describe('LeaderElector with candidacy advice', () => {
  it('the preferred candidate campaigns first; the other stands back and does not collide', async () => {
    const { clock, a, b } = pair();
    b.start();
    a.start();
    await clock.advanceUntil(() => a.isLeader || b.isLeader, 1000);
    expect(a.isLeader).toBe(true);
    expect(b.isLeader).toBe(false);
    await Promise.all([a.stop(), b.stop(), clock.advance(3000)]);
  });

  it('hands over: ends the term, keeps renewing while its work drains (past leaseDuration), then releases to the preferred', async () => {
    const { clock, lock, state, a, b, drains, ends, finishDrain } = pair();
    state.preferred = 'b';
    a.start();
    await clock.advanceUntil(() => a.isLeader, 1000);
    b.start();
    await clock.advance(500);
    state.handOver = true;
    await clock.advanceUntil(() => ends.length === 1, 1000);
    expect(ends[0]).toMatchObject({ identity: 'a', reason: 'handed-over' });
    expect(drains).toEqual(['a']);
    // Three lease durations of draining: the Lease stays ours, b never leads.
    for (let t = 0; t < 3 * TIMING.leaseDuration; t += 50) {
      await clock.advance(50);
      expect(b.isLeader).toBe(false);
      expect((await lock.get(new AbortController().signal)).record.holderIdentity).toBe('a');
    }
    const drainedAt = clock.now();
    finishDrain();
    await clock.advanceUntil(() => b.isLeader, 1000);
    expect(clock.now() - drainedAt).toBeLessThanOrEqual(10);
    // a stands back as the previous holder and does not take it back.
    await clock.advance(3 * TIMING.leaseDuration);
    expect(b.isLeader).toBe(true);
    expect(a.isLeader).toBe(false);
    await Promise.all([a.stop(), b.stop(), clock.advance(3000)]);
  });

  it("a stop during a handover drain keeps the Lease renewed until the stop's own drain is over", async () => {
    const { clock, lock, state, a, b, ends, finishDrain } = pair();
    state.preferred = 'b';
    a.start();
    await clock.advanceUntil(() => a.isLeader, 1000);
    b.start();
    state.handOver = true;
    await clock.advanceUntil(() => ends.length === 1, 1000);
    let stopDrained!: () => void;
    const stopping = a.stop({ drain: () => new Promise<void>((resolve) => (stopDrained = resolve)) });
    finishDrain(); // the handover drain ends first; the stop's drain still runs
    for (let t = 0; t < 2 * TIMING.leaseDuration; t += 50) {
      await clock.advance(50);
      expect(b.isLeader).toBe(false);
      expect((await lock.get(new AbortController().signal)).record.holderIdentity).toBe('a');
    }
    stopDrained();
    await clock.advanceUntil(() => b.isLeader, 1000);
    await Promise.all([stopping, b.stop(), clock.advance(3000)]);
  });

  it("an earlier handover's drain that outlived its hold does not end a later handover's hold", async () => {
    // Issue 25, item 3: the hold was one shared flag, so drain 1 finishing released the Lease under drain 2.
    const { clock, lock, state, a, b, ends, finishers } = pair();
    const holder = () => (lock.peek() as { holderIdentity: string }).holderIdentity;
    state.preferred = 'b';
    a.start();
    await clock.advanceUntil(() => a.isLeader, 1000);
    state.handOver = true;
    await clock.advanceUntil(() => finishers.length === 1, 1000);
    // Handover 1 drains; the Lease is taken meanwhile, so its hold ends with drain 1 still running.
    const now = clock.wallNow().toISOString().replace('Z', '000Z');
    lock.overwrite({ ...(lock.peek() as object), holderIdentity: 'thief', renewTime: now, leaseDurationSeconds: 1 });
    // The thief's claim lapses; a leads again and starts handover 2, to b, which is up now.
    await clock.advanceUntil(() => finishers.length === 2, 5000);
    b.start();
    expect(ends.map((end) => end.reason)).toEqual(['handed-over', 'handed-over']);
    finishers[0]!();
    for (let t = 0; t < 3 * TIMING.leaseDuration; t += 10) {
      await clock.advance(10);
      expect(holder()).toBe('a');
    }
    finishers[1]!();
    await clock.advanceUntil(() => b.isLeader, 1000);
    await Promise.all([a.stop(), b.stop(), clock.advance(3000)]);
  });
});
