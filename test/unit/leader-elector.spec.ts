import { afterEach, describe, expect, it } from '@jest/globals';
import {
  LeaderElector,
  LeadershipEndedError,
  LeaseConflictError,
  LeaseForbiddenError,
  LeaseUnavailableError,
  MemoryLeaseLock,
  formatMicroTime,
  type ElectorLogger,
  type LeaderElectionEvent,
  type LeaderElectorOptions,
  type LeaseRecord,
  type StartedLeadingEvent,
  type StoppedLeadingEvent,
} from '../../lib/elector/internal.js';
import { compareFencingTokens } from '../../lib/elector/fencing-token.js';
import { FakeClock } from '../support/fake-clock.js';
import { RecordingLeaseLock } from '../support/recording-lease-lock.js';

const TIMING = { leaseDuration: 2000, renewDeadline: 1000, retryPeriod: 250 } as const;
const MICRO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const running: Array<{ elector: LeaderElector; clock: FakeClock }> = [];

function candidate(
  identity: string,
  shared: { clock?: FakeClock; memory?: MemoryLeaseLock } = {},
  overrides: Partial<LeaderElectorOptions> = {},
) {
  const clock = shared.clock ?? new FakeClock();
  const memory = shared.memory ?? new MemoryLeaseLock('test-lease', 'default');
  const lock = new RecordingLeaseLock(memory, clock);
  const logs: Array<{ level: string; message: string }> = [];
  const logger: ElectorLogger = {
    debug: (message) => logs.push({ level: 'debug', message }),
    log: (message) => logs.push({ level: 'log', message }),
    warn: (message) => logs.push({ level: 'warn', message }),
    error: (message) => logs.push({ level: 'error', message }),
  };
  const elector = new LeaderElector({ lock, clock, logger, identity, random: () => 0, ...TIMING, ...overrides });
  const events: LeaderElectionEvent[] = [];
  elector.subscribe((event) => events.push(event));
  const started = () => events.filter((e): e is StartedLeadingEvent => e.type === 'started-leading');
  const stopped = () => events.filter((e): e is StoppedLeadingEvent => e.type === 'stopped-leading');
  const ofType = (type: LeaderElectionEvent['type']) => events.filter((event) => event.type === type);
  const stored = () => memory.peek() as LeaseRecord;
  const heldBy = (holderIdentity: string, extra: Partial<LeaseRecord> = {}): LeaseRecord => ({
    holderIdentity,
    leaseDurationSeconds: 2,
    acquireTime: formatMicroTime(clock.wallNow()),
    renewTime: formatMicroTime(clock.wallNow()),
    leaseTransitions: stored()?.leaseTransitions ?? 0,
    ...extra,
  });
  /** Calls stop() and advances the clock until it resolves. */
  const stop = async (options?: Parameters<LeaderElector['stop']>[0]) => {
    let done = false;
    const stopping = elector.stop(options).then(() => {
      done = true;
    });
    await clock.advanceUntil(() => done, 60_000);
    await stopping;
  };
  running.push({ elector, clock });
  return { clock, memory, lock, elector, events, started, stopped, ofType, stored, heldBy, logs, stop };
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

describe('start and waitForLeadership', () => {
  it('resolves waitForLeadership with the term and refuses a second start', async () => {
    const { clock, elector } = candidate('baz');
    expect(elector.state).toBe('idle');
    const waiting = elector.waitForLeadership();
    elector.start();
    expect(elector.state).toBe('candidate');
    await clock.flush();
    const term = await waiting;
    expect(term).toBe(elector.term);
    expect(term).toMatchObject({
      identity: 'baz',
      lease: 'test-lease',
      namespace: 'default',
      leaseTransitions: 0,
      fencingScheme: 'resource-version',
    });
    expect(term.acquiredAt).toEqual(clock.wallNow());
    expect(elector.state).toBe('leader');
    expect(() => elector.start()).toThrow(/already started/);
  });

  it('rejects waitForLeadership when the elector stops first or the signal aborts', async () => {
    const { clock, memory, elector, heldBy, stop } = candidate('baz');
    memory.overwrite(heldBy('bing'));
    elector.start();
    const controller = new AbortController();
    const aborted = elector.waitForLeadership(controller.signal);
    controller.abort(new Error('gave up'));
    await expect(aborted).rejects.toThrow('gave up');

    const waiting = elector.waitForLeadership();
    const outcome = waiting.then(
      () => 'resolved',
      (error: Error) => error.message,
    );
    await clock.advance(300);
    await stop();
    await expect(outcome).resolves.toMatch(/stopped before becoming leader/);
    expect(elector.state).toBe('stopped');
  });

  it('keeps running when a listener throws, and logs the error', async () => {
    const { clock, elector, logs } = candidate('baz');
    elector.subscribe(() => {
      throw new Error('listener bug');
    });
    elector.start();
    await clock.advance(600);
    expect(elector.isLeader).toBe(true);
    expect(logs.some((line) => line.level === 'error' && line.message.includes('listener bug'))).toBe(true);
  });
});

describe('release on stop', () => {
  it('releases with holder "", leaseDurationSeconds 1 and transitions kept, in one PUT on its last renewal', async () => {
    const { clock, memory, lock, elector, events, stored, heldBy, stop } = candidate('baz');
    memory.overwrite(heldBy('', { leaseTransitions: 4 }));
    elector.start();
    await clock.advance(300);
    expect(elector.isLeader).toBe(true);
    const term = elector.term!;
    const acquired = stored();
    lock.resetCalls();
    events.length = 0;

    await clock.advance(100);
    await stop();

    expect(lock.calls).toEqual(['update']);
    const released = stored();
    expect(released).toMatchObject({ holderIdentity: '', leaseDurationSeconds: 1, leaseTransitions: 5 });
    expect(released.acquireTime).toBe(released.renewTime);
    expect(released.renewTime).toMatch(MICRO_TIME);
    expect(released.renewTime).not.toBe(acquired.renewTime);
    expect(elector.state).toBe('stopped');
    expect(elector.isLeader).toBe(false);
    expect(term.signal.aborted).toBe(true);
    expect(events).toEqual([
      { type: 'stopped-leading', term, reason: 'shutdown' },
      { type: 'new-leader', identity: null, previous: 'baz', isSelf: false },
      { type: 'elector-stopped' },
    ]);

    // Nothing keeps running afterwards.
    await clock.advance(10_000);
    expect(lock.calls).toEqual(['update']);
  });

  it('does not release with releaseOnStop: false', async () => {
    const { clock, lock, elector, stored, stop } = candidate('baz', {}, { releaseOnStop: false });
    elector.start();
    await clock.advance(100);
    lock.resetCalls();
    await stop();
    expect(lock.calls).toEqual([]);
    expect(stored().holderIdentity).toBe('baz');
  });

  it('makes no call on stop when it never wrote the Lease', async () => {
    const { clock, memory, lock, elector, heldBy, stop } = candidate('baz');
    memory.overwrite(heldBy('bing'));
    elector.start();
    await clock.advance(600);
    lock.resetCalls();
    await stop();
    expect(lock.calls).toEqual([]);
  });

  it('only reads on stop when someone else holds the Lease by then', async () => {
    const { clock, memory, lock, elector, stored, heldBy, stop } = candidate('baz');
    elector.start();
    await clock.advance(100);
    memory.overwrite(heldBy('bing', { leaseTransitions: 1 }));
    await clock.advance(200); // our renewal at 250 notices
    expect(elector.isLeader).toBe(false);
    const before = stored();
    lock.resetCalls();
    await stop();
    expect(lock.calls).toEqual(['get']);
    expect(stored()).toEqual(before);
  });

  it('reads the Lease and retries the release at once after a 409 on the one-PUT path', async () => {
    const { clock, lock, elector, stored, stop } = candidate('baz');
    elector.start();
    await clock.advance(100);
    lock.resetCalls();
    lock.failNext('update', new LeaseConflictError('injected 409', { status: 409 }));
    await stop();
    expect(lock.calls).toEqual(['update', 'get', 'update']);
    expect(lock.log[1]!.startedAt).toBe(lock.log[0]!.endedAt);
    expect(stored()).toMatchObject({ holderIdentity: '', leaseDurationSeconds: 1, leaseTransitions: 0 });
  });

  it('retries the release after a transient error, and gives up after releaseTimeout', async () => {
    const a = candidate('baz');
    a.elector.start();
    await a.clock.advance(100);
    a.lock.resetCalls();
    a.lock.failNext('update', new LeaseUnavailableError('injected 503', { status: 503 }));
    await a.stop();
    expect(a.lock.calls).toEqual(['update', 'get', 'update']);
    const [failed, retried] = a.lock.log;
    expect(retried.startedAt - failed.startedAt).toBe(TIMING.retryPeriod / 4);
    expect(a.stored().holderIdentity).toBe('');

    const b = candidate('baz');
    b.elector.start();
    await b.clock.advance(100);
    b.lock.failAlways('update', new LeaseUnavailableError('injected 503', { status: 503 }));
    const stopAt = b.clock.now();
    await b.stop();
    expect(b.clock.now() - stopAt).toBeLessThanOrEqual(b.elector.options.releaseTimeout + TIMING.retryPeriod / 4);
    expect(b.stored().holderIdentity).toBe('baz');
    expect(b.logs.some((line) => line.level === 'warn' && line.message.includes('could not release'))).toBe(true);
    expect(b.elector.state).toBe('stopped');
  });

  it('never releases while a renewal is still in flight: the stop cuts it short first', async () => {
    const { clock, lock, elector, stored, stop } = candidate('baz');
    elector.start();
    await clock.flush();
    lock.delay('update', 300);
    await clock.advanceTo(300); // the renewal sent at 250 would be in flight until 550
    expect(lock.inFlight().map((call) => call.verb)).toEqual(['update']);
    await stop();

    const renewal = lock.log.find((call) => call.verb === 'update')!;
    const releaseRead = lock.log.find((call) => call.verb === 'get' && call.startedAt > 0)!;
    expect(renewal.outcome).toBe('error');
    expect(renewal.endedAt).toBe(300);
    expect(releaseRead.startedAt).toBeGreaterThanOrEqual(renewal.endedAt!);
    expect(stored()).toMatchObject({ holderIdentity: '', leaseDurationSeconds: 1 });
  });

  it('lets another candidate take over at once after a release', async () => {
    const clock = new FakeClock();
    const memory = new MemoryLeaseLock('test-lease', 'default');
    const a = candidate('a', { clock, memory });
    const b = candidate('b', { clock, memory });
    a.elector.start();
    await clock.flush();
    b.elector.start();
    await clock.advance(100);
    expect(a.elector.isLeader).toBe(true);
    expect(b.elector.leader).toBe('a');

    await a.stop();
    const releasedAt = clock.now();
    await clock.advanceUntil(() => b.elector.isLeader, 5000);
    // b's next attempt (retryPeriod later at most, no jitter here), long before a's 2s lease would end.
    expect(clock.now() - releasedAt).toBeLessThanOrEqual(TIMING.retryPeriod);
    expect(b.stored()).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });
  });

  it('keeps renewing while draining, after the term ended, then releases', async () => {
    const clock = new FakeClock();
    const memory = new MemoryLeaseLock('test-lease', 'default');
    const a = candidate('a', { clock, memory });
    const b = candidate('b', { clock, memory });
    a.elector.start();
    await clock.flush();
    b.elector.start();
    await clock.advance(100);
    const term = a.elector.term!;

    let drainStartedWith: { aborted: boolean; stoppedEvents: number } | null = null;
    let finishDrain!: () => void;
    const drain = () => {
      drainStartedWith = { aborted: term.signal.aborted, stoppedEvents: a.stopped().length };
      return new Promise<void>((resolve) => (finishDrain = resolve));
    };
    a.lock.resetCalls();
    const stopping = a.elector.stop({ drain });
    await clock.flush();
    expect(drainStartedWith).toEqual({ aborted: true, stoppedEvents: 1 });
    expect(a.elector.isLeader).toBe(false);

    // Drain for 5s: far beyond the 2s lease, yet b never takes over.
    for (let t = 0; t < 5000; t += 50) {
      await clock.advance(50);
      expect(b.elector.isLeader).toBe(false);
      expect(a.stored().holderIdentity).toBe('a');
    }
    expect(a.lock.calls.length).toBeGreaterThanOrEqual(20);
    expect(new Set(a.lock.calls)).toEqual(new Set(['update']));

    finishDrain();
    await clock.advanceUntil(() => a.elector.state === 'stopped', 5000);
    await stopping;
    expect(a.lock.calls.slice(-2)).toEqual(['update', 'update']); // the last renewal, then the one-PUT release
    expect(a.stored().holderIdentity).not.toBe('a');
    expect(a.stopped()).toHaveLength(1);
    await clock.advanceUntil(() => b.elector.isLeader, 1000);
  });
});

describe('stopped-leading', () => {
  it('fires exactly once per started term, with that term, across losing and re-acquiring', async () => {
    const { clock, memory, elector, started, stopped, heldBy, stop } = candidate('baz');
    elector.start();
    await clock.advance(100);
    memory.overwrite(heldBy('bing', { leaseTransitions: 1 }));
    await clock.advance(200);
    expect(elector.isLeader).toBe(false);
    expect(elector.state).toBe('candidate');

    await clock.advanceUntil(() => elector.isLeader, 5000);
    await clock.advance(1000);
    await stop();

    expect(started()).toHaveLength(2);
    expect(stopped().map((event) => event.reason)).toEqual(['stolen', 'shutdown']);
    expect(stopped().map((event) => event.term)).toEqual(started().map((event) => event.term));
    for (const { term } of started()) {
      expect(term.signal.aborted).toBe(true);
      expect(term.signal.reason).toBeInstanceOf(LeadershipEndedError);
    }
    expect((started()[0].term.signal.reason as LeadershipEndedError).reason).toBe('stolen');
    expect((started()[1].term.signal.reason as LeadershipEndedError).reason).toBe('shutdown');
  });

  it('fires once when stop() races with a renewal that discovers the loss', async () => {
    const { clock, memory, lock, elector, stopped, heldBy, stop } = candidate('baz');
    elector.start();
    await clock.flush();
    lock.delay('*', 200);
    await clock.advanceTo(300); // renewal sent at 250 is in flight
    memory.overwrite(heldBy('bing', { leaseTransitions: 1 }));
    await stop(); // the in-flight renewal fails with 409, the fallback GET sees bing

    // renewal, its fallback GET (cut short by the stop), the one-PUT release (409: bing wrote), the release's GET
    expect(lock.calls).toEqual(['get', 'create', 'update', 'get', 'update', 'get']);
    expect(stopped()).toHaveLength(1);
    expect(stopped()[0].reason).toBe('shutdown');
    expect(memory.peek()).toMatchObject({ holderIdentity: 'bing' });
  });

  it('starts no term when stop() comes while a winning acquire is in flight: the acquire is cut short', async () => {
    const { clock, lock, memory, elector, started, stopped, stop } = candidate('baz');
    lock.delay('create', 300);
    elector.start();
    await clock.advance(100);
    expect(lock.inFlight().map((call) => call.verb)).toEqual(['create']);
    await stop();
    expect(clock.now()).toBe(100);
    // The release still reads the Lease, in case the cut-short create had landed.
    expect(lock.calls).toEqual(['get', 'create', 'get']);
    expect(started()).toHaveLength(0);
    expect(stopped()).toHaveLength(0);
    expect(elector.isLeader).toBe(false);
    expect(memory.peek()).toBeNull();
  });

  it('fires once when a loss is followed by stop()', async () => {
    const { clock, memory, elector, stopped, heldBy, stop } = candidate('baz');
    elector.start();
    await clock.advance(100);
    memory.overwrite(heldBy('bing', { leaseTransitions: 1 }));
    await clock.advance(200);
    await stop();
    expect(stopped().map((event) => event.reason)).toEqual(['stolen']);
  });

  it('fires once, as an expired end, when stop() comes after a stall nobody noticed yet', async () => {
    const { clock, elector, started, stopped, stop } = candidate('baz');
    elector.start();
    await clock.flush();
    clock.jump(5000);
    await stop();
    expect(started()).toHaveLength(1);
    expect(stopped()).toHaveLength(1);
    expect(stopped()[0].reason).toBe('expired');
  });

  it('fires once when the renew deadline passes during a stop() drain', async () => {
    const { clock, lock, elector, stopped } = candidate('baz');
    elector.start();
    await clock.flush();
    lock.failAlways('*', new LeaseUnavailableError('injected 503', { status: 503 }));
    let finishDrain!: () => void;
    const stopping = elector.stop({ drain: () => new Promise<void>((resolve) => (finishDrain = resolve)) });
    await clock.advance(3000);
    finishDrain();
    await clock.advance(2000);
    await stopping;
    expect(stopped()).toHaveLength(1);
    expect(stopped()[0].reason).toBe('shutdown');
  });
});

describe('new-leader', () => {
  it('is de-duplicated, reports an unheld Lease as null, and fires for ourselves', async () => {
    const { clock, memory, elector, ofType, heldBy } = candidate('baz');
    memory.overwrite(heldBy('bing'));
    elector.start();
    await clock.flush();
    for (let t = 100; t < 1000; t += 100) {
      await clock.advanceTo(t);
      memory.overwrite(heldBy('bing')); // bing renews: a change, but not a new leader
    }
    await clock.advanceTo(1000);
    memory.overwrite(heldBy('', { leaseDurationSeconds: 1 })); // bing releases
    await clock.advanceTo(1250);
    expect(elector.isLeader).toBe(true);
    await clock.advanceTo(3000); // our own renewals: no event

    expect(ofType('new-leader')).toEqual([
      { type: 'new-leader', identity: 'bing', previous: null, isSelf: false },
      { type: 'new-leader', identity: null, previous: 'bing', isSelf: false },
      { type: 'new-leader', identity: 'baz', previous: null, isSelf: true },
    ]);
  });

  it('does not fire again when we re-acquire a record that still names us', async () => {
    const { clock, elector, ofType, started } = candidate('baz');
    elector.start();
    await clock.flush();
    clock.jump(1500); // stall: the term ends, the Lease still names us
    await clock.advance(500);
    expect(started()).toHaveLength(2);
    expect(ofType('new-leader')).toEqual([{ type: 'new-leader', identity: 'baz', previous: null, isSelf: true }]);
  });
});

describe('stall safety', () => {
  it('turns isLeader false at exactly renewDeadline after the last renewal was sent, without any timer', async () => {
    const { clock, lock, elector, events, stopped } = candidate('baz');
    elector.start();
    await clock.advanceTo(250); // renewal sent at 250
    expect(lock.calls).toEqual(['get', 'create', 'update']);
    const term = elector.term!;
    const pending = clock.pendingTimers();

    clock.jump(999); // the event loop is blocked: no timer runs
    expect(elector.isLeader).toBe(true);
    expect(term.signal.aborted).toBe(false);
    clock.jump(1);
    expect(clock.pendingTimers()).toBe(pending);
    expect(elector.isLeader).toBe(false);
    expect(elector.term).toBeNull();
    expect(elector.state).toBe('candidate');
    expect(term.signal.aborted).toBe(true);
    expect((term.signal.reason as LeadershipEndedError).reason).toBe('expired');
    expect(stopped()).toEqual([{ type: 'stopped-leading', term, reason: 'expired' }]);
    expect(events.filter((event) => event.type === 'renewed')).toHaveLength(1);
  });

  it('state and term also notice the stall on their own', async () => {
    const a = candidate('a');
    a.elector.start();
    await a.clock.flush();
    a.clock.jump(1000);
    expect(a.elector.state).toBe('candidate');
    expect(a.stopped()).toHaveLength(1);

    const b = candidate('b');
    b.elector.start();
    await b.clock.flush();
    b.clock.jump(1000);
    expect(b.elector.term).toBeNull();
    expect(b.stopped()).toHaveLength(1);
  });

  it('measures the deadline from the send time of the last successful renewal, not its completion', async () => {
    const { clock, lock, elector, stopped } = candidate('baz');
    elector.start();
    await clock.flush();
    lock.delay('update', 300);
    await clock.advanceTo(550); // renewal sent at 250 lands at 550
    lock.delay('update', 0);
    lock.failAlways('*', new LeaseUnavailableError('injected 503', { status: 503 }));

    await clock.advanceTo(1249);
    expect(elector.isLeader).toBe(true);
    await clock.advanceTo(1250);
    expect(stopped().map((event) => event.reason)).toEqual(['renew-failed']);
    expect(elector.isLeader).toBe(false);
  });

  it('ends the term on time from a timer while a renewal hangs, and aborts the hung request', async () => {
    const { clock, lock, elector, events, stopped } = candidate('baz');
    elector.start();
    await clock.flush(); // acquired: last renewal sent at 0
    lock.delay('*', Number.POSITIVE_INFINITY);
    await clock.advanceTo(999);
    expect(stopped()).toHaveLength(0); // only events are inspected: no getter triggers the check
    await clock.advanceTo(1000);
    expect(stopped().map((event) => event.reason)).toEqual(['renew-failed']);

    // The hung renewal was aborted by its request timeout (renewDeadline / 2).
    const renewal = lock.log[2];
    expect(renewal).toMatchObject({ verb: 'update', startedAt: 250, outcome: 'error', endedAt: 750 });
    expect(events).toContainEqual(expect.objectContaining({ type: 'error', operation: 'renew' }));
    expect(elector.isLeader).toBe(false);
  });

  it('ends the term at the deadline from its own timer even when a request ignores its abort signal', async () => {
    const { clock, lock, elector, stopped, started } = candidate('baz');
    elector.start();
    await clock.flush(); // acquired: last renewal sent at 0
    const term = elector.term!;
    lock.delay('*', 60_000, { ignoreAbort: true }); // the renewal sent at 250 blocks the loop for a minute
    await clock.advanceTo(999);
    expect(stopped()).toHaveLength(0);
    expect(term.signal.aborted).toBe(false);
    await clock.advanceTo(1000);
    expect(stopped()).toEqual([{ type: 'stopped-leading', term, reason: 'renew-failed' }]);
    expect(term.signal.aborted).toBe(true);
    expect(lock.inFlight().map((call) => call.verb)).toEqual(['update']);

    // When the stuck renewal finally lands, the old term does not come back; a new one begins.
    lock.delay('*', 0);
    await clock.advanceTo(60_249);
    expect(started()).toHaveLength(1);
    await clock.advanceTo(60_250);
    expect(lock.calls.slice(-3)).toEqual(['update', 'get', 'update']);
    expect(elector.isLeader).toBe(true);
    expect(started().map((event) => event.term.leaseTransitions)).toEqual([0, 1]);
  });

  it('goes back to candidacy after a stall and re-acquires with a greater fencing token', async () => {
    const { clock, lock, elector, started, stored } = candidate('baz');
    elector.start();
    await clock.advanceTo(100);
    clock.jump(2000);
    expect(elector.isLeader).toBe(false);
    lock.resetCalls();
    await clock.advance(0);
    expect(lock.calls).toEqual(['get', 'update']);
    expect(elector.isLeader).toBe(true);
    expect(started().map((event) => event.term.leaseTransitions)).toEqual([0, 1]);
    expect(compareFencingTokens(started()[1].term.fencingToken, started()[0].term.fencingToken)).toBeGreaterThan(0);
    expect(stored().leaseTransitions).toBe(1);
  });

  it('steps down at the deadline when every renewal fails, then keeps trying as a candidate', async () => {
    const { clock, lock, elector, stopped, logs } = candidate('baz');
    elector.start();
    await clock.flush();
    lock.failAlways('*', new LeaseUnavailableError('apiserver down', { status: 503 }));
    await clock.advanceTo(999);
    expect(elector.isLeader).toBe(true);
    await clock.advanceTo(1000);
    expect(stopped().map((event) => event.reason)).toEqual(['renew-failed']);

    lock.resetCalls();
    await clock.advanceTo(60_000);
    expect(lock.calls.length).toBeGreaterThan(100); // never gives up
    // Repeated identical failures are logged once a minute, not on every attempt.
    const noisy = logs.filter((line) => line.level !== 'debug' && line.message.includes('apiserver down'));
    expect(noisy).toEqual([{ level: 'warn', message: 'renew failed [unavailable]: apiserver down' }]);
    lock.clearFailures();
    await clock.advanceUntil(() => elector.isLeader, 1000);
  });
});

/** Asserts that fencing tokens strictly rise in the order given. */
function expectRising(tokens: string[]): void {
  for (let i = 1; i < tokens.length; i++) {
    if (compareFencingTokens(tokens[i], tokens[i - 1]) <= 0)
      throw new Error(`tokens do not rise: ${tokens.join(' → ')}`);
  }
}

describe('fencing tokens', () => {
  it('strictly increase across terms, also when re-acquiring after losing', async () => {
    const { clock, memory, elector, started, stored, heldBy } = candidate('baz');
    const tokens: number[] = [];
    elector.subscribe((event) => {
      if (event.type === 'started-leading') tokens.push(event.term.leaseTransitions);
    });
    elector.start();
    await clock.advance(100);
    expect(tokens).toEqual([0]);

    memory.overwrite(heldBy('bing', { leaseTransitions: 1 }));
    await clock.advance(200);
    expect(elector.isLeader).toBe(false);
    await clock.advanceUntil(() => elector.isLeader, 5000); // bing went silent
    expect(tokens).toEqual([0, 2]);

    clock.jump(1000); // stall
    await clock.advanceUntil(() => elector.isLeader, 5000);
    expect(tokens).toEqual([0, 2, 3]);
    expect(stored().leaseTransitions).toBe(3);
    expect(started().map((event) => event.term.leaseTransitions)).toEqual(tokens);
    expectRising(started().map((event) => event.term.fencingToken));
  });

  it('stay increasing between candidates', async () => {
    const clock = new FakeClock();
    const memory = new MemoryLeaseLock('test-lease', 'default');
    const a = candidate('a', { clock, memory });
    const b = candidate('b', { clock, memory });
    a.elector.start();
    await clock.flush();
    b.elector.start();
    await clock.advance(100);

    a.lock.failAlways('*', new LeaseUnavailableError('partitioned', { status: 503 }));
    await clock.advanceUntil(() => b.elector.isLeader, 5000);
    a.lock.clearFailures();
    await b.stop();
    await clock.advanceUntil(() => a.elector.isLeader, 5000);

    const terms = [a.started()[0], b.started()[0], a.started()[1]].map((event) => event.term);
    expect(terms.map((term) => term.leaseTransitions)).toEqual([0, 1, 2]);
    expectRising(terms.map((term) => term.fencingToken));
  });

  it('stay increasing when the Lease is deleted under the leader', async () => {
    const { clock, memory, lock, elector, started, stored, heldBy } = candidate('baz');
    memory.overwrite(heldBy('', { leaseTransitions: 6 }));
    elector.start();
    await clock.advance(100);
    expect(elector.term?.leaseTransitions).toBe(7);

    memory.delete(); // kubectl delete lease
    lock.resetCalls();
    await clock.advance(200);
    expect(lock.calls).toEqual(['update', 'get', 'create']);
    expect(elector.isLeader).toBe(true);
    expect(stored().leaseTransitions).toBe(7); // the re-created record carries the running term's token

    clock.jump(1000); // stall: a new term
    await clock.advanceUntil(() => elector.isLeader, 5000);
    expect(started().map((event) => event.term.leaseTransitions)).toEqual([7, 8]);
    expectRising(started().map((event) => event.term.fencingToken));
  });
});

describe('candidacy and errors', () => {
  it("does not re-create a deleted Lease while the last holder's claim is still valid", async () => {
    const { clock, memory, lock, elector, heldBy, stored } = candidate('baz');
    memory.overwrite(heldBy('bing', { leaseDurationSeconds: 3, leaseTransitions: 4 }));
    elector.start();
    await clock.flush();
    memory.delete();
    await clock.advanceTo(2999);
    expect(new Set(lock.calls)).toEqual(new Set(['get']));
    expect(memory.peek()).toBeNull();
    await clock.advanceTo(3000);
    expect(lock.calls.slice(-2)).toEqual(['get', 'create']);
    expect(elector.isLeader).toBe(true);
    expect(stored().leaseTransitions).toBe(5);
  });

  it('goes back to candidacy after losing and re-acquires when the other holder goes silent', async () => {
    const { clock, memory, lock, elector, stopped, heldBy } = candidate('baz');
    elector.start();
    await clock.advance(100);
    memory.overwrite(heldBy('bing', { leaseTransitions: 1 }));
    lock.resetCalls();
    await clock.advanceTo(250);
    // Fast path 409, GET shows bing: step down without writing (and read again as a candidate).
    const calls = lock.takeCalls();
    expect(calls.slice(0, 2)).toEqual(['update', 'get']);
    expect(calls.slice(2).every((verb) => verb === 'get')).toBe(true);
    expect(stopped().map((event) => event.reason)).toEqual(['stolen']);
    expect(elector.state).toBe('candidate');
    expect(elector.leader).toBe('bing');

    await clock.advanceTo(2249); // bing seen at 250 for 2s
    expect(elector.isLeader).toBe(false);
    expect(new Set(lock.takeCalls())).toEqual(new Set(['get']));
    await clock.advanceTo(2250);
    expect(lock.takeCalls()).toEqual(['get', 'update']);
    expect(elector.isLeader).toBe(true);
  });

  it('treats a 409 on create as "not acquired", quietly', async () => {
    const { clock, lock, elector, events, logs } = candidate('baz');
    lock.failNext('create', new LeaseConflictError('already exists', { status: 409 }));
    elector.start();
    await clock.flush();
    expect(lock.takeCalls()).toEqual(['get', 'create']);
    expect(elector.isLeader).toBe(false);
    expect(events).toContainEqual(expect.objectContaining({ type: 'error', operation: 'acquire' }));
    expect(logs.filter((line) => line.level === 'warn' || line.level === 'error')).toEqual([]);
    await clock.advance(250);
    expect(lock.calls).toEqual(['get', 'create']);
    expect(elector.isLeader).toBe(true);
  });

  it('does not swallow 403: logs an error (once per minute) and backs off, without giving up', async () => {
    const { clock, lock, elector, events, logs } = candidate('baz');
    lock.failAlways('get', new LeaseForbiddenError('leases.coordination.k8s.io is forbidden', { status: 403 }));
    elector.start();
    await clock.advanceTo(60_000);
    const starts = lock.log.map((call) => call.startedAt);
    // Three tries at the normal cadence (a starting apiserver answers 403 briefly), then 2x, then 4x at most,
    // but never so long that a jittered pause exceeds leaseDuration (2000 / 2.2 here).
    const cap = 2000 / 2.2;
    const expected = [0, 250, 500, 750, 1250, 1250 + cap, 1250 + 2 * cap, 1250 + 3 * cap];
    starts.slice(0, 8).forEach((start, index) => expect(start).toBeCloseTo(expected[index], 6));
    const errors = logs.filter((line) => line.level === 'error' && line.message.includes('forbidden'));
    expect(errors).toHaveLength(1);
    expect(events.filter((event) => event.type === 'error')).toHaveLength(starts.length);

    await clock.advanceTo(62_000);
    expect(logs.filter((line) => line.level === 'error' && line.message.includes('forbidden'))).toHaveLength(2);
    lock.clearFailures();
    await clock.advanceUntil(() => elector.isLeader, 5000);
  });

  it('never backs off on transient errors (timeouts, 5xx): a follower keeps its normal cadence', async () => {
    const { clock, lock, elector } = candidate('baz');
    lock.failAlways('get', new LeaseUnavailableError('503 from apiserver', { status: 503 }));
    elector.start();
    await clock.advanceTo(30_000);
    const starts = lock.log.map((call) => call.startedAt);
    const gaps = starts.slice(1).map((at, i) => at - starts[i]);
    expect(new Set(gaps)).toEqual(new Set([TIMING.retryPeriod]));
    lock.clearFailures();
    await clock.advance(TIMING.retryPeriod);
    expect(elector.isLeader).toBe(true);
  });

  it('adds up to 1.2 x retryPeriod of jitter to acquire retries only', async () => {
    const { clock, memory, lock, elector, heldBy } = candidate('baz', {}, { random: () => 0.5 });
    memory.overwrite(heldBy('bing', { leaseDurationSeconds: 60 }));
    elector.start();
    await clock.advanceTo(2000);
    const gaps = lock.log.slice(1).map((call, i) => call.startedAt - lock.log[i].startedAt);
    expect(new Set(gaps)).toEqual(new Set([250 + 0.5 * 1.2 * 250]));
  });

  it('reports the observed holder as leader only while its lease is valid by our clock', async () => {
    const { clock, memory, elector, heldBy } = candidate('baz', {}, { leaseDuration: 60_000, renewDeadline: 1000 });
    memory.overwrite(heldBy('bing', { leaseDurationSeconds: 120 }));
    elector.start();
    await clock.flush();
    expect(elector.leader).toBe('bing');
    clock.jump(119_999);
    expect(elector.leader).toBe('bing');
    clock.jump(1);
    expect(elector.leader).toBeNull();
  });

  it('ignores the remote clock: a huge wall-clock skew changes nothing', async () => {
    const { clock, memory, lock, elector, heldBy } = candidate('baz');
    // bing's clock is a day behind ours: its renewTime looks ancient.
    memory.overwrite(heldBy('bing', { renewTime: formatMicroTime(new Date(clock.wallNow().getTime() - 86_400_000)) }));
    clock.skewWall(3_600_000);
    elector.start();
    await clock.advanceTo(1999);
    expect(elector.isLeader).toBe(false);
    expect(new Set(lock.calls)).toEqual(new Set(['get']));
    await clock.advanceTo(2000);
    expect(elector.isLeader).toBe(true);
  });
});
