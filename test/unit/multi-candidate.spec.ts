import { afterEach, describe, expect, it } from '@jest/globals';
import {
  LeaderElector,
  LeaseUnavailableError,
  MemoryLeaseLock,
  type ElectorLogger,
  type LeaseRecord,
} from '../../lib/elector/internal.js';
import { seededRandom } from '../sim/random.js';
import { FakeClock } from '../support/fake-clock.js';
import { RecordingLeaseLock } from '../support/recording-lease-lock.js';

const TIMING = { leaseDuration: 2000, renewDeadline: 1000, retryPeriod: 250 } as const;
const STEP = 10;

interface Term {
  identity: string;
  token: bigint;
  startedAt: number;
  endedAt?: number;
}

interface Member {
  identity: string;
  lock: RecordingLeaseLock;
  elector: LeaderElector;
}

const quiet: ElectorLogger = { log: () => undefined, warn: () => undefined, error: () => undefined };
const clusters: Array<{ clock: FakeClock; members: Member[] }> = [];

function cluster(size: number, seed: number) {
  const clock = new FakeClock();
  const memory = new MemoryLeaseLock('test-lease', 'default');
  const random = seededRandom(seed);
  const terms: Term[] = [];
  const members: Member[] = [];
  let nextId = 0;

  const add = (): Member => {
    const identity = `candidate-${nextId++}`;
    const lock = new RecordingLeaseLock(memory, clock);
    const elector = new LeaderElector({ lock, clock, identity, logger: quiet, random, ...TIMING });
    elector.subscribe((event) => {
      if (event.type === 'started-leading') {
        terms.push({ identity, token: BigInt(event.term.fencingToken), startedAt: clock.now() });
      } else if (event.type === 'stopped-leading') {
        const term = terms.find((t) => t.identity === identity && t.endedAt === undefined);
        if (term) term.endedAt = clock.now();
      }
    });
    const member = { identity, lock, elector };
    members.push(member);
    elector.start();
    return member;
  };
  for (let i = 0; i < size; i++) add();

  const leaders = () => members.filter((member) => member.elector.isLeader);
  /** Advances `ms` in small steps, asserting at most one leader (or exactly one) after every step. */
  const run = async (ms: number, expectation: 'at-most-one' | 'exactly-one') => {
    for (let elapsed = 0; elapsed < ms; elapsed += STEP) {
      await clock.advance(STEP);
      const count = leaders().length;
      if (expectation === 'exactly-one' && count !== 1) {
        throw new Error(`expected exactly one leader at t=${clock.now()}, found ${count}`);
      }
      if (count > 1) throw new Error(`split brain at t=${clock.now()}: ${leaders().map((m) => m.identity)}`);
    }
  };
  const settle = async (maxMs: number) => {
    await clock.advanceUntil(
      () => {
        const count = leaders().length;
        if (count > 1) throw new Error(`split brain at t=${clock.now()}`);
        return count === 1;
      },
      maxMs,
      STEP,
    );
    return leaders()[0];
  };
  /** Terms of different candidates never overlap, and tokens strictly increase in the order terms began. */
  const checkTerms = () => {
    for (let i = 1; i < terms.length; i++) {
      expect(terms[i].token).toBeGreaterThan(terms[i - 1].token);
      expect(terms[i - 1].endedAt).toBeDefined();
      expect(terms[i].startedAt).toBeGreaterThanOrEqual(terms[i - 1].endedAt!);
    }
  };
  const stored = () => memory.peek() as LeaseRecord;
  clusters.push({ clock, members });
  return { clock, memory, members, terms, add, leaders, run, settle, checkTerms, stored, random };
}

afterEach(async () => {
  for (const { clock, members } of clusters.splice(0)) {
    let done = false;
    const stopped = Promise.all(members.map((member) => member.elector.stop())).then(() => {
      done = true;
    });
    await clock.advanceUntil(() => done, 60_000, 50);
    await stopped;
  }
});

describe('several candidates sharing one MemoryLeaseLock', () => {
  it('elect exactly one leader, at every step, and keep it while it renews', async () => {
    const { clock, members, terms, run, settle, checkTerms } = cluster(5, 1);
    const leader = await settle(100);
    expect(clock.now()).toBe(0); // the first round of attempts already elected one
    for (const member of members) member.lock.resetCalls();

    await run(30_000, 'exactly-one');
    expect(leader.elector.isLeader).toBe(true);
    expect(terms).toHaveLength(1);
    // Followers only read; the leader only writes, one fast-path update per retryPeriod.
    for (const member of members) {
      if (member === leader) {
        expect(new Set(member.lock.calls)).toEqual(new Set(['update']));
        expect(member.lock.calls).toHaveLength(30_000 / TIMING.retryPeriod);
      } else {
        expect(new Set(member.lock.calls)).toEqual(new Set(['get']));
      }
      expect(member.elector.leader).toBe(leader.identity);
    }
    checkTerms();
  });

  it('fail over when the leader is partitioned, without any overlap, and the old leader rejoins as follower', async () => {
    const { clock, terms, run, settle, checkTerms } = cluster(4, 2);
    const first = await settle(100);
    await run(1000, 'exactly-one');

    first.lock.failAlways('*', new LeaseUnavailableError('partitioned', { status: 503 }));
    const partitionedAt = clock.now();
    await run(5000, 'at-most-one');
    const second = await settle(0);
    expect(second).not.toBe(first);
    // Takeover after the 2s lease, plus at most one jittered retry.
    expect(terms[1].startedAt - partitionedAt).toBeLessThanOrEqual(
      TIMING.leaseDuration + TIMING.retryPeriod * 2.2 + STEP,
    );
    expect(terms[0].endedAt! - partitionedAt).toBeLessThanOrEqual(TIMING.renewDeadline);

    first.lock.clearFailures();
    await run(10_000, 'exactly-one');
    expect(second.elector.isLeader).toBe(true);
    expect(first.elector.leader).toBe(second.identity);
    expect(terms).toHaveLength(2);
    checkTerms();
  });

  it('hand over quickly when the leader stops, and again when its successor stops', async () => {
    const { clock, members, terms, run, settle, checkTerms, stored } = cluster(3, 3);
    let leader = await settle(100);
    for (let round = 0; round < 2; round++) {
      await run(1000, 'exactly-one');
      const stopping = leader.elector.stop();
      const stoppedAt = clock.now();
      await clock.flush();
      await stopping;
      expect(stored().holderIdentity).toBe('');
      const next = await settle(2000);
      expect(next).not.toBe(leader);
      expect(clock.now() - stoppedAt).toBeLessThanOrEqual(TIMING.retryPeriod * 2.2 + STEP);
      leader = next;
    }
    await run(2000, 'exactly-one');
    expect(members.filter((member) => member.elector.state === 'stopped')).toHaveLength(2);
    expect(terms.map((term) => term.token)).toEqual(
      [...terms].map((term) => term.token).sort((x, y) => (x < y ? -1 : 1)),
    );
    expect(new Set(terms.map((term) => term.token)).size).toBe(3);
    checkTerms();
  });

  it('keep at most one leader at every step through partitions, slow calls, stalls, crashes and newcomers', async () => {
    const { clock, members, terms, add, run, settle, checkTerms, random } = cluster(5, 4);
    await settle(100);
    const disturbances: string[] = [];
    for (let round = 0; round < 25; round++) {
      const live = members.filter((member) => member.elector.state !== 'stopped');
      const victim = live[Math.floor(random() * live.length)];
      const leader = live.find((member) => member.elector.isLeader) ?? victim;
      const pick = Math.floor(random() * 6);
      if (pick === 0) {
        disturbances.push('partition leader');
        leader.lock.failAlways('*', new LeaseUnavailableError('partitioned', { status: 503 }));
        await run(500 + Math.floor(random() * 4000), 'at-most-one');
        leader.lock.clearFailures();
      } else if (pick === 1) {
        disturbances.push('slow leader');
        leader.lock.delay('*', 300 + Math.floor(random() * 900));
        await run(500 + Math.floor(random() * 4000), 'at-most-one');
        leader.lock.delay('*', 0);
      } else if (pick === 2) {
        disturbances.push('stall everyone');
        clock.jump(Math.floor(random() * 3000));
      } else if (pick === 3 && live.length > 2) {
        disturbances.push('graceful stop');
        const stopping = victim.elector.stop();
        await run(TIMING.renewDeadline + TIMING.retryPeriod, 'at-most-one');
        await stopping;
      } else if (pick === 4 && live.length > 2) {
        disturbances.push('crash (no release)');
        victim.lock.failAlways('*', new LeaseUnavailableError('process gone', { status: 503 }));
        const stopping = victim.elector.stop();
        await run(TIMING.renewDeadline + TIMING.retryPeriod, 'at-most-one');
        await stopping;
      } else {
        disturbances.push('newcomer');
        add();
      }
      await run(3000, 'at-most-one');
      await settle(5000);
    }
    await run(3000, 'exactly-one');
    expect(new Set(disturbances).size).toBeGreaterThanOrEqual(5);
    expect(terms.length).toBeGreaterThan(3);
    checkTerms();
  }, 30_000);
});
