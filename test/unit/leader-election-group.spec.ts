import { afterEach, describe, expect, it, jest } from '@jest/globals';
import {
  LeaderElectionGroup,
  LeaseConflictError,
  LeaseForbiddenError,
  MemoryLeaseLock,
  MemoryMemberDirectory,
  rendezvousOrder,
  spreadEvenly,
  type ElectorLogger,
  type MemberDirectory,
  type TermEndReason,
} from '../../lib/elector/internal.js';
import { seededRandom } from '../sim/random.js';
import { FakeClock } from '../support/fake-clock.js';
import { RecordingLeaseLock } from '../support/recording-lease-lock.js';

const TIMING = { leaseDuration: 2000, renewDeadline: 1000, retryPeriod: 250 } as const;
const quiet: ElectorLogger = { log: () => undefined, warn: () => undefined, error: () => undefined };
const JOBS = Array.from({ length: 12 }, (_, i) => `job-${String(i).padStart(2, '0')}`);

interface Term {
  election: string;
  identity: string;
  startedAt: number;
  endedAt?: number;
  reason?: TermEndReason;
}

/** A member directory whose calls hang forever once `freeze()` is called: a replica that died. */
class FreezableDirectory implements MemberDirectory {
  frozen = false;
  failFollow: Error | null = null;
  hangFollow = false;
  failEvict: Error | null = null;
  evictCalls = 0;
  /** While set, announces wait for it to open, then land unless their caller gave up (a request not yet sent). */
  announceGate: Promise<void> | null = null;
  gatedAnnounces = 0;
  constructor(private readonly inner: MemberDirectory) {}
  describe() {
    return this.inner.describe();
  }
  async announce(identity: string, durationMs: number, signal: AbortSignal, ready?: boolean) {
    if (this.frozen) return hang(signal);
    if (this.announceGate) {
      this.gatedAnnounces++;
      await this.announceGate;
      if (signal.aborted) throw new Error('aborted before the request was sent');
    }
    return this.inner.announce(identity, durationMs, signal, ready);
  }
  withdraw(identity: string, signal: AbortSignal) {
    return this.frozen ? hang(signal) : this.inner.withdraw(identity, signal);
  }
  follow(...args: Parameters<MemberDirectory['follow']>) {
    if (this.failFollow) return Promise.reject(this.failFollow);
    if (this.hangFollow) return hang(args[1]);
    return this.inner.follow(...args);
  }
  evict(...args: Parameters<MemberDirectory['evict']>) {
    this.evictCalls++;
    if (this.failEvict) return Promise.reject(this.failEvict);
    return this.inner.evict(...args);
  }
}

/** Never answers; rejects once the caller gives up. */
function hang(signal: AbortSignal): Promise<void> {
  return new Promise((_, reject) =>
    signal.addEventListener('abort', () => reject(new Error('no answer')), { once: true }),
  );
}

const running: Array<{ clock: FakeClock; groups: LeaderElectionGroup[] }> = [];

function fleet(
  elections: readonly string[],
  seed = 1,
  overrides: Record<string, number> = {},
  logger: ElectorLogger = quiet,
) {
  const clock = new FakeClock();
  const random = seededRandom(seed);
  const leases = new Map(elections.map((name) => [name, new MemoryLeaseLock(name, 'default', { watchable: true })]));
  const directory = new MemoryMemberDirectory('jobs', () => clock.wallNow());
  const terms: Term[] = [];
  const replicas: Array<{
    identity: string;
    group: LeaderElectionGroup;
    locks: Map<string, RecordingLeaseLock>;
    members: FreezableDirectory;
  }> = [];
  const state = { clock, groups: [] as LeaderElectionGroup[] };
  running.push(state);

  const add = (
    identity: string,
    configure?: (locks: Map<string, RecordingLeaseLock>, members: FreezableDirectory) => void,
  ) => {
    const locks = new Map(elections.map((name) => [name, new RecordingLeaseLock(leases.get(name)!, clock)]));
    const members = new FreezableDirectory(directory);
    configure?.(locks, members);
    const group = new LeaderElectionGroup({
      identity,
      elections,
      lockFor: (election) => locks.get(election)!,
      members,
      clock,
      random,
      logger,
      ...TIMING,
      ...overrides,
    });
    for (const [election, elector] of group.electors) {
      elector.subscribe((event) => {
        if (event.type === 'started-leading') terms.push({ election, identity, startedAt: clock.now() });
        if (event.type === 'stopped-leading') {
          const term = terms.find(
            (t) => t.election === election && t.identity === identity && t.endedAt === undefined,
          )!;
          term.endedAt = clock.now();
          term.reason = event.reason;
        }
      });
    }
    const replica = { identity, group, locks, members };
    replicas.push(replica);
    state.groups.push(group);
    void group.start();
    return replica;
  };

  const loads = () =>
    replicas
      .filter(({ members }) => !members.frozen)
      .map(({ group }) => group.leading.length)
      .sort((a, b) => a - b);
  const ledByOne = () =>
    elections.every((election) => replicas.filter(({ group }) => group.electors.get(election)!.isLeader).length === 1);
  /** Advances in 5 ms steps; after each, no election has two leaders. */
  const run = async (ms: number, until?: () => boolean) => {
    const end = clock.now() + ms;
    while (clock.now() < end) {
      await clock.advance(5);
      for (const election of elections) {
        const leaders = replicas.filter(({ group }) => group.electors.get(election)!.isLeader);
        expect(leaders.map(({ identity }) => identity).length).toBeLessThanOrEqual(1);
      }
      if (until?.()) return clock.now();
    }
    return null;
  };
  const crash = (identity: string) => {
    const replica = replicas.find((r) => r.identity === identity)!;
    replica.members.frozen = true;
    for (const lock of replica.locks.values()) lock.delay('*', Number.POSITIVE_INFINITY, { ignoreAbort: true });
  };
  const conflicts = () =>
    replicas.flatMap(({ locks }) =>
      [...locks.values()].flatMap((lock) => lock.log.filter((call) => call.error instanceof LeaseConflictError)),
    ).length;
  return { clock, replicas, terms, add, loads, ledByOne, run, crash, conflicts, directory };
}

afterEach(async () => {
  for (const { clock, groups } of running.splice(0)) {
    const stopping = Promise.all(groups.map((group) => group.stop()));
    await clock.advance(5000);
    await stopping;
  }
});

describe('spreadEvenly', () => {
  it('places 12 elections on 3 members 4/4/4, the same on every replica whatever the member order', () => {
    const members = ['a_1', 'b_2', 'c_3'];
    const placed = spreadEvenly(JOBS, members);
    const counts = new Map<string, number>();
    for (const order of placed.values()) counts.set(order[0]!, (counts.get(order[0]!) ?? 0) + 1);
    expect([...counts.values()].sort()).toEqual([4, 4, 4]);
    expect(spreadEvenly(JOBS, [...members].reverse())).toEqual(placed);
    for (const [election, order] of placed) {
      expect(new Set(order)).toEqual(new Set(members));
      expect(order.slice(1)).toEqual(rendezvousOrder(election, members).filter((m) => m !== order[0]));
    }
  });

  it('a member joining moves its share to it, and on average under one election between the others', () => {
    let between = 0;
    for (let trial = 0; trial < 500; trial++) {
      const [a, b, c] = [`a${trial}`, `b${trial}`, `c${trial}`];
      const before = spreadEvenly(JOBS, [a, b]);
      const after = spreadEvenly(JOBS, [a, b, c]);
      const moved = JOBS.filter((job) => before.get(job)![0] !== after.get(job)![0]);
      expect(moved.filter((job) => after.get(job)![0] === c)).toHaveLength(4);
      between += moved.length - 4;
    }
    expect(between / 500).toBeLessThan(1);
  });

  it('keeps loads within one of each other for any number of elections and members', () => {
    for (let elections = 1; elections <= 20; elections++) {
      for (let size = 1; size <= 7; size++) {
        const names = Array.from({ length: elections }, (_, i) => `e${i}`);
        const members = Array.from({ length: size }, (_, i) => `m${i}`);
        const counts = new Map(members.map((m) => [m, 0]));
        for (const order of spreadEvenly(names, members).values()) counts.set(order[0]!, counts.get(order[0]!)! + 1);
        const values = [...counts.values()];
        expect(Math.max(...values) - Math.min(...values)).toBeLessThanOrEqual(1);
      }
    }
  });
});

// Fake time, but many steps of 12 electors each: give the longer scenarios room on a loaded machine.
jest.setTimeout(30_000);

describe('LeaderElectionGroup', () => {
  it('cold start: 12 elections on 3 replicas settle at 4/4/4 within 2 x leaseDuration, never two leaders', async () => {
    const f = fleet(JOBS);
    for (const identity of ['a', 'b', 'c']) f.add(identity);
    const settledAt = await f.run(2 * TIMING.leaseDuration, () => f.ledByOne() && f.loads().join() === '4,4,4');
    expect(settledAt).not.toBeNull();
    expect(settledAt!).toBeLessThanOrEqual(2 * TIMING.leaseDuration);
    // Started together, they saw each other before campaigning: nothing had to move.
    expect(f.terms.filter((t) => t.reason === 'handed-over')).toHaveLength(0);
  });

  it('a replica that starts later receives its share by graceful handover only', async () => {
    const f = fleet(JOBS);
    f.add('a');
    f.add('b');
    await f.run(3000, () => f.ledByOne() && f.loads().join() === '6,6');
    expect(f.loads()).toEqual([6, 6]);
    const joinedAt = f.clock.now();
    f.add('c');
    const settledAt = await f.run(4 * TIMING.leaseDuration, () => f.ledByOne() && f.loads().join() === '4,4,4');
    expect(settledAt).not.toBeNull();
    const moved = f.terms.filter((t) => t.endedAt !== undefined && t.endedAt >= joinedAt);
    expect(moved.length).toBeGreaterThanOrEqual(4);
    expect(new Set(moved.map((t) => t.reason))).toEqual(new Set(['handed-over']));
    // Each handed-over election was led again within a few ms (the receiver's watch saw the release): four by c,
    // and balancing may move one or two between a and b.
    const receivers = moved.map((ended) => {
      const next = f.terms.find((t) => t.election === ended.election && t.startedAt >= ended.endedAt!)!;
      expect(next.startedAt - ended.endedAt!).toBeLessThanOrEqual(10);
      return next.identity;
    });
    expect(receivers.filter((identity) => identity === 'c')).toHaveLength(4);
    expect(receivers.length - 4).toBeLessThanOrEqual(2);
  });

  it('a SIGKILLed replica: its elections are led again within leaseDuration + retryPeriod + 2 rank steps, then 6/6', async () => {
    const f = fleet(JOBS);
    for (const identity of ['a', 'b', 'c']) f.add(identity);
    await f.run(2 * TIMING.leaseDuration, () => f.ledByOne() && f.loads().join() === '4,4,4');
    const victim = f.replicas[2]!;
    const orphaned = victim.group.leading;
    expect(orphaned).toHaveLength(4);
    const crashedAt = f.clock.now();
    f.crash(victim.identity);
    const bound = TIMING.leaseDuration + TIMING.retryPeriod + 2 * 100;
    const recoveredAt = await f.run(bound + 500, () =>
      orphaned.every((election) => f.replicas.some((r) => r !== victim && r.group.electors.get(election)!.isLeader)),
    );
    expect(recoveredAt).not.toBeNull();
    expect(recoveredAt! - crashedAt).toBeLessThanOrEqual(bound);
    const settled = await f.run(3 * TIMING.leaseDuration, () => f.loads().join() === '6,6');
    expect(settled).not.toBeNull();
  });

  it('leaving on stop: the member record goes first and every election moves without waiting for expiry', async () => {
    const f = fleet(JOBS);
    for (const identity of ['a', 'b', 'c']) f.add(identity);
    await f.run(2 * TIMING.leaseDuration, () => f.ledByOne() && f.loads().join() === '4,4,4');
    const leaving = f.replicas[0]!;
    const stoppedAt = f.clock.now();
    const stopping = leaving.group.stop();
    const movedAt = await f.run(1000, () =>
      JOBS.every((election) => f.replicas.some((r) => r !== leaving && r.group.electors.get(election)!.isLeader)),
    );
    await stopping;
    expect(movedAt! - stoppedAt).toBeLessThanOrEqual(50);
    expect(f.directory.identities).not.toContain(leaving.identity);
    expect(f.conflicts()).toBe(0);
  });

  it('an election whose preferred replica is alive but cannot write is still led, and not handed back in a loop', async () => {
    const f = fleet(JOBS, 3);
    f.add('a');
    f.add('b');
    // c announces itself and looks healthy, but every Lease write is forbidden.
    f.add('c', (locks) => {
      for (const lock of locks.values()) lock.failAlways('*', new LeaseForbiddenError('injected 403', { status: 403 }));
    });
    await f.run(4 * TIMING.leaseDuration, () => f.ledByOne());
    expect(f.ledByOne()).toBe(true);
    // c withdraws once its writes keep failing; from then on nothing moves until its backoff (10 x leaseDuration).
    await f.run(4 * TIMING.leaseDuration);
    expect(f.directory.identities).not.toContain('c');
    const before = f.terms.length;
    let unled = 0;
    for (let t = 0; t < 5 * TIMING.leaseDuration; t += 50) {
      await f.run(50);
      if (!f.ledByOne()) unled++;
    }
    expect(unled).toBe(0);
    expect(f.terms.length).toBe(before);
  });

  it('without a member view (list or watch forbidden) every election is still led, by plain campaigning', async () => {
    const f = fleet(JOBS);
    for (const identity of ['a', 'b']) {
      f.add(identity, (_, members) => {
        members.failFollow = new LeaseForbiddenError('injected 403 on list', { status: 403 });
      });
    }
    await f.run(2 * TIMING.leaseDuration, () => f.ledByOne());
    expect(f.ledByOne()).toBe(true);
    expect(f.replicas.every(({ group }) => !group.spreading)).toBe(true);
  });

  it('a member record left by a replica that died long ago is not counted live by a newcomer', async () => {
    const f = fleet(JOBS);
    await f.directory.announce('ghost', TIMING.leaseDuration, new AbortController().signal);
    await f.clock.advance(3 * TIMING.leaseDuration); // nobody renews it
    const a = f.add('a');
    await f.run(TIMING.retryPeriod);
    expect(a.group.members).toEqual(['a']);
    expect(f.directory.identities).toContain('ghost');
  });

  it('a member list that never answers delays the start by at most requestTimeout, then campaigns plainly', async () => {
    const f = fleet(JOBS);
    f.add('a', (_, members) => {
      members.hangFollow = true;
    });
    // requestTimeout (renewDeadline / 2) for the list, then memberSettle (retryPeriod), then every election.
    const ledAt = await f.run(TIMING.renewDeadline / 2 + TIMING.retryPeriod + 100, () => f.ledByOne());
    expect(ledAt).not.toBeNull();
    expect(f.replicas[0]!.group.spreading).toBe(false);
  });

  it('one transient 403 does not make a replica withdraw or hand away its share (item 6)', async () => {
    const f = fleet(JOBS);
    f.add('a');
    f.add('b');
    const c = f.add('c');
    await f.run(2 * TIMING.leaseDuration, () => f.ledByOne() && f.loads().join() === '4,4,4');
    const since = f.clock.now();
    const [election, lock] = [...c.locks].find(([name]) => c.group.leading.includes(name))!;
    // The one-PUT renewal and its read-then-write retry both answer 403 once.
    lock.failNext('update', new LeaseForbiddenError('injected 403 (API server restarting)', { status: 403 }), {
      times: 2,
    });
    await f.run(5 * TIMING.leaseDuration);
    expect(f.directory.identities).toContain('c');
    expect(c.group.leading).toContain(election);
    expect(f.terms.filter((t) => (t.endedAt ?? 0) >= since && t.reason === 'handed-over')).toHaveLength(0);
  });

  it('a replica whose writes stay forbidden for over leaseDuration still withdraws (item 6)', async () => {
    const f = fleet(JOBS);
    f.add('a');
    f.add('b');
    const c = f.add('c');
    await f.run(2 * TIMING.leaseDuration, () => f.ledByOne() && f.loads().join() === '4,4,4');
    for (const lock of c.locks.values()) lock.failAlways('*', new LeaseForbiddenError('injected 403', { status: 403 }));
    const withdrawnAt = await f.run(4 * TIMING.leaseDuration, () => !f.directory.identities.includes('c'));
    expect(withdrawnAt).not.toBeNull();
    await f.run(3 * TIMING.leaseDuration, () => f.ledByOne() && f.loads().join() === '0,6,6');
    expect(f.loads()).toEqual([0, 6, 6]);
  });

  it('a stop while an announce is in flight leaves no member record behind (item 7)', async () => {
    const f = fleet(JOBS);
    f.add('a');
    const b = f.add('b');
    await f.run(2 * TIMING.leaseDuration, () => f.ledByOne() && f.loads().join() === '6,6');
    let open!: () => void;
    b.members.announceGate = new Promise<void>((resolve) => (open = resolve));
    await f.run(TIMING.leaseDuration, () => b.members.gatedAnnounces > 0); // b's next renewal is in flight
    const stopping = b.group.stop();
    await f.run(10);
    open();
    await f.run(TIMING.leaseDuration);
    await stopping;
    expect(f.directory.identities).toEqual(['a']);
  });

  it('a stop during start, with the first announce in flight, leaves no member record behind (item 7)', async () => {
    const f = fleet(JOBS);
    f.add('a');
    await f.run(TIMING.leaseDuration);
    let open!: () => void;
    const b = f.add('b', (_, members) => {
      members.announceGate = new Promise<void>((resolve) => (open = resolve));
    });
    await f.run(50, () => b.members.gatedAnnounces > 0);
    const stopping = b.group.stop();
    await f.run(10);
    open();
    await f.run(TIMING.leaseDuration);
    await stopping;
    expect(f.directory.identities).toEqual(['a']);
  });

  it('elections are handed only to a newcomer whose electors run, even when its first list is slow (item 8)', async () => {
    const f = fleet(JOBS);
    f.add('a');
    f.add('b');
    await f.run(3000, () => f.ledByOne() && f.loads().join() === '6,6');
    await f.run(TIMING.leaseDuration); // past minTermHold: the terms may be handed over as soon as c is taken as ready
    const joinedAt = f.clock.now();
    // c's first member list never answers: its electors start only after requestTimeout plus memberSettle.
    f.add('c', (_, members) => {
      members.hangFollow = true;
    });
    const settledAt = await f.run(6 * TIMING.leaseDuration, () => f.ledByOne() && f.loads().join() === '4,4,4');
    expect(settledAt).not.toBeNull();
    const moved = f.terms.filter((t) => t.endedAt !== undefined && t.endedAt >= joinedAt);
    expect(moved.length).toBeGreaterThanOrEqual(4);
    for (const ended of moved) {
      const next = f.terms.find((t) => t.election === ended.election && t.startedAt >= ended.endedAt!)!;
      expect(next.startedAt - ended.endedAt!).toBeLessThanOrEqual(10);
    }
  });

  it('denied evictions are logged once with the missing grant, counted, and backed off (item 10)', async () => {
    const warnings: string[] = [];
    const logger: ElectorLogger = { ...quiet, warn: (message: string) => warnings.push(message) };
    const f = fleet(JOBS, 1, {}, logger);
    const a = f.add('a', (_, members) => {
      members.failEvict = new LeaseForbiddenError('injected 403 on delete', { status: 403 });
    });
    const events: string[] = [];
    a.group.subscribe((event) => events.push(`${event.operation}:${event.error.reason}`));
    await f.run(TIMING.leaseDuration);
    // A replica that left without withdrawing: its record is never renewed again.
    await f.directory.announce('departed', TIMING.leaseDuration, new AbortController().signal);
    await f.run(20 * TIMING.leaseDuration);
    // Without back-off: one delete every leaseDuration / 3 after the record aged 3 durations, about 50.
    expect(a.members.evictCalls).toBeGreaterThanOrEqual(1);
    expect(a.members.evictCalls).toBeLessThanOrEqual(6);
    expect(events).toEqual(Array(a.members.evictCalls).fill('evict:forbidden'));
    expect(warnings.filter((line) => line.includes('Grant "delete"'))).toHaveLength(1);
  });

  it('50 candidates on one Lease: a graceful handover wakes one candidate first, with no conflicts', async () => {
    const f = fleet(['single']);
    for (let i = 0; i < 50; i++) f.add(`c${String(i).padStart(2, '0')}`);
    await f.run(2 * TIMING.leaseDuration, () => f.ledByOne());
    for (let round = 0; round < 3; round++) {
      const leader = f.replicas.find(({ group }) => group.leading.length === 1)!;
      const conflictsBefore = f.conflicts();
      const stoppedAt = f.clock.now();
      void leader.group.stop();
      const next = await f.run(1000, () =>
        f.replicas.some((r) => r !== leader && r.group.electors.get('single')!.isLeader),
      );
      expect(next! - stoppedAt).toBeLessThanOrEqual(10);
      expect(f.conflicts() - conflictsBefore).toBe(0);
      f.replicas.splice(f.replicas.indexOf(leader), 1);
    }
  });
});

describe('LeaderElectionGroup options', () => {
  it('names the field of a bad option', () => {
    const base = { lockFor: (name: string) => new MemoryLeaseLock(name), members: new MemoryMemberDirectory() };
    expect(() => new LeaderElectionGroup({ ...base, elections: [] })).toThrow(/`elections`/);
    expect(() => new LeaderElectionGroup({ ...base, elections: ['a', 'a'] })).toThrow(/"a" is listed twice/);
    expect(() => new LeaderElectionGroup({ ...base, elections: ['a'], minTermHold: -1 })).toThrow(/`minTermHold`/);
  });
});
