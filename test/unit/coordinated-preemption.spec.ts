import { describe, expect, it } from '@jest/globals';
import { LeaderElector, MemoryLeaseLock, type ElectorLogger, type TermEndReason } from '../../lib/elector/internal.js';
import { FakeClock } from '../support/fake-clock.js';

// Issue 25, item 2: a coordinated preemption released the Lease at once, while leader work still ran.
const TIMING = { leaseDuration: 2000, renewDeadline: 1000, retryPeriod: 250 } as const;
const quiet: ElectorLogger = { log: () => undefined, warn: () => undefined, error: () => undefined };

/** One coordinated candidate `a`, with a coordinator played by the test through `grant` and `prefer`. */
function coordinated() {
  const clock = new FakeClock();
  const lock = new MemoryLeaseLock('coordinated', 'default', { watchable: true });
  const drains: Array<() => void> = [];
  const ends: TermEndReason[] = [];
  const elector = new LeaderElector({
    lock,
    identity: 'a',
    clock,
    logger: quiet,
    random: () => 0.5,
    coordinated: true,
    handoverDrain: () => new Promise<void>((resolve) => drains.push(resolve)),
    ...TIMING,
  });
  elector.subscribe((event) => {
    if (event.type === 'stopped-leading') ends.push(event.reason);
  });
  const micro = () => clock.wallNow().toISOString().replace('Z', '000Z');
  const spec = () => lock.peek() as Record<string, unknown>;
  return {
    clock,
    elector,
    drains,
    ends,
    spec,
    /** The coordinator names `a` holder. */
    grant() {
      lock.overwrite({
        holderIdentity: 'a',
        leaseDurationSeconds: 2,
        acquireTime: micro(),
        renewTime: micro(),
        leaseTransitions: 0,
        strategy: 'OldestEmulationVersion',
      });
    },
    /** The coordinator asks the holder to step down for `b`. */
    prefer(candidate: string) {
      lock.overwrite({ ...spec(), preferredHolder: candidate });
    },
  };
}

describe('coordinated preemption (preferredHolder names another candidate)', () => {
  it('ends the term, drains the work without renewing, and releases only after the drain', async () => {
    const { clock, elector, drains, ends, spec, grant, prefer } = coordinated();
    grant();
    elector.start();
    const term = await Promise.all([elector.waitForLeadership(), clock.advance(100)]).then(([t]) => t);
    prefer('b');
    await clock.advanceUntil(() => ends.length === 1, 2 * TIMING.retryPeriod);
    expect(ends).toEqual(['preempted']);
    expect(term.signal.aborted).toBe(true);
    expect(drains).toHaveLength(1);
    // While the work drains the Lease keeps naming us, unrenewed: the coordinator cannot hand it on yet.
    const renewTime = spec().renewTime;
    await clock.advance(TIMING.renewDeadline / 2);
    expect(spec()).toMatchObject({ holderIdentity: 'a', renewTime });
    drains[0]!();
    await clock.advanceUntil(() => spec().holderIdentity === '', 100);
    await Promise.all([elector.stop(), clock.advance(3000)]);
  });

  it('lets the Lease lapse, never releasing it, when the drain outlasts the renew deadline', async () => {
    const { clock, elector, drains, ends, spec, grant, prefer } = coordinated();
    grant();
    elector.start();
    await Promise.all([elector.waitForLeadership(), clock.advance(100)]);
    prefer('b');
    await clock.advanceUntil(() => ends.length === 1, 2 * TIMING.retryPeriod);
    const before = { ...spec() };
    await clock.advance(TIMING.leaseDuration);
    drains[0]!();
    await clock.advance(TIMING.leaseDuration);
    expect(spec()).toEqual(before);
    await Promise.all([elector.stop(), clock.advance(3000)]);
  });
});
