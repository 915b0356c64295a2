import { afterEach, describe, expect, it } from '@jest/globals';
import {
  LeaderElector,
  MemoryLeaseLock,
  formatMicroTime,
  normalizeLeaseSpec,
  sameRecord,
  type ElectorLogger,
  type LeaseRecord,
} from '../../lib/elector/internal.js';
import { FakeClock } from '../support/fake-clock.js';
import { RecordingLeaseLock } from '../support/recording-lease-lock.js';

const TIMING = { leaseDuration: 2000, renewDeadline: 1000, retryPeriod: 250 } as const;
const MICRO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const WALL = '2025-01-01T00:00:00.000000Z';
const FAR_FUTURE = '2999-01-01T00:00:00.000000Z';
const running: Array<{ elector: LeaderElector; clock: FakeClock }> = [];

function setup() {
  const clock = new FakeClock({ wallStart: new Date(WALL) });
  const memory = new MemoryLeaseLock('test-lease', 'default');
  const lock = new RecordingLeaseLock(memory, clock);
  const logs: Array<{ level: string; message: string }> = [];
  const logger: ElectorLogger = {
    debug: (message) => logs.push({ level: 'debug', message }),
    log: (message) => logs.push({ level: 'log', message }),
    warn: (message) => logs.push({ level: 'warn', message }),
    error: (message) => logs.push({ level: 'error', message }),
  };
  const elector = new LeaderElector({ lock, clock, logger, identity: 'baz', random: () => 0, ...TIMING });
  running.push({ elector, clock });
  const malformationWarnings = () =>
    logs.filter((line) => line.level === 'warn' && line.message.startsWith('malformed lease'));
  return { clock, memory, lock, elector, logs, malformationWarnings };
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

const held = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  holderIdentity: 'bing',
  leaseDurationSeconds: 3,
  acquireTime: WALL,
  renewTime: WALL,
  leaseTransitions: 2,
  ...extra,
});
const without = (field: string, spec: Record<string, unknown>) => {
  const copy = { ...spec };
  delete copy[field];
  return copy;
};

interface Shape {
  name: string;
  spec: unknown;
  /** When the elector may take the Lease: 0 = at once; otherwise ms after first observing it. */
  takeoverAt: number;
  /** The field whose malformation must be logged exactly once, or null for a well-formed (if unusual) record. */
  logged: string | null;
}

const shapes: Shape[] = [
  { name: 'no spec', spec: undefined, takeoverAt: 0, logged: 'spec' },
  { name: 'spec: null', spec: null, takeoverAt: 0, logged: 'spec' },
  { name: 'holderIdentity: null', spec: held({ holderIdentity: null }), takeoverAt: 0, logged: null },
  { name: 'holderIdentity: ""', spec: held({ holderIdentity: '' }), takeoverAt: 0, logged: null },
  { name: 'holderIdentity not a string', spec: held({ holderIdentity: 42 }), takeoverAt: 0, logged: 'holderIdentity' },
  // A held record with an unusable duration stays valid for the CONFIGURED 2s, never taken at once.
  {
    name: 'leaseDurationSeconds: 0',
    spec: held({ leaseDurationSeconds: 0 }),
    takeoverAt: 2000,
    logged: 'leaseDurationSeconds',
  },
  {
    name: 'leaseDurationSeconds negative',
    spec: held({ leaseDurationSeconds: -5 }),
    takeoverAt: 2000,
    logged: 'leaseDurationSeconds',
  },
  {
    name: 'leaseDurationSeconds missing',
    spec: without('leaseDurationSeconds', held()),
    takeoverAt: 2000,
    logged: 'leaseDurationSeconds',
  },
  {
    name: 'leaseDurationSeconds not an integer',
    spec: held({ leaseDurationSeconds: 1.5 }),
    takeoverAt: 2000,
    logged: 'leaseDurationSeconds',
  },
  {
    name: 'leaseDurationSeconds a string',
    spec: held({ leaseDurationSeconds: '3' }),
    takeoverAt: 2000,
    logged: 'leaseDurationSeconds',
  },
  {
    name: 'leaseDurationSeconds: null',
    spec: held({ leaseDurationSeconds: null }),
    takeoverAt: 2000,
    logged: 'leaseDurationSeconds',
  },
  { name: 'acquireTime missing', spec: without('acquireTime', held()), takeoverAt: 3000, logged: 'acquireTime' },
  { name: 'renewTime missing', spec: without('renewTime', held()), takeoverAt: 3000, logged: 'renewTime' },
  { name: 'acquireTime unparsable', spec: held({ acquireTime: 'yesterday' }), takeoverAt: 3000, logged: 'acquireTime' },
  {
    name: 'renewTime unparsable',
    spec: held({ renewTime: '2025-01-01 00:00:00' }),
    takeoverAt: 3000,
    logged: 'renewTime',
  },
  {
    name: 'renewTime an invalid Date',
    spec: held({ renewTime: new Date(Number.NaN) }),
    takeoverAt: 3000,
    logged: 'renewTime',
  },
  { name: 'renewTime in the future', spec: held({ renewTime: FAR_FUTURE }), takeoverAt: 3000, logged: 'renewTime' },
  {
    name: 'acquireTime in the future',
    spec: held({ acquireTime: FAR_FUTURE }),
    takeoverAt: 3000,
    logged: 'acquireTime',
  },
  {
    name: 'leaseTransitions negative',
    spec: held({ leaseTransitions: -1 }),
    takeoverAt: 3000,
    logged: 'leaseTransitions',
  },
  // Coordinated election is not supported: even naming us as preferred must not let us take a valid lease.
  {
    name: 'preferredHolder set (to us)',
    spec: held({ preferredHolder: 'baz' }),
    takeoverAt: 3000,
    logged: 'preferredHolder',
  },
  {
    name: 'strategy set',
    spec: held({ strategy: 'OldestEmulationVersion' }),
    takeoverAt: 3000,
    logged: 'strategy',
  },
];

describe('malformed Lease records, as seen by the elector', () => {
  it.each(shapes)('$name: never throws, never leads early, and is logged once', async (shape) => {
    const { clock, memory, lock, elector, logs, malformationWarnings } = setup();
    memory.overwrite(shape.spec);
    elector.start();
    await clock.flush();

    if (shape.takeoverAt === 0) {
      expect(lock.calls).toEqual(['get', 'update']);
      expect(elector.isLeader).toBe(true);
    } else {
      await clock.advanceTo(shape.takeoverAt - 1);
      expect(elector.isLeader).toBe(false);
      expect(new Set(lock.calls)).toEqual(new Set(['get']));
      expect(lock.calls.length).toBeGreaterThan(3);
      await clock.advanceTo(shape.takeoverAt);
      expect(lock.calls.slice(-2)).toEqual(['get', 'update']);
      expect(elector.isLeader).toBe(true);
    }

    // What we wrote over it is well-formed.
    const written = memory.peek() as LeaseRecord;
    expect(written.holderIdentity).toBe('baz');
    expect(written.leaseDurationSeconds).toBe(2);
    expect(written.renewTime).toMatch(MICRO_TIME);
    expect(written.acquireTime).toMatch(MICRO_TIME);
    // Coordinated-election fields are preserved on purpose, so they are still reported for what they are.
    const remaining = normalizeLeaseSpec(written, clock.wallNow()).problems.map((problem) => problem.field);
    expect(remaining.filter((field) => field !== 'strategy' && field !== 'preferredHolder')).toEqual([]);

    const warnings = malformationWarnings();
    if (shape.logged === null) expect(warnings).toEqual([]);
    else {
      expect(warnings).toHaveLength(1);
      expect(warnings[0].message).toContain(`${shape.logged}:`);
    }
    expect(logs.filter((line) => line.level === 'error')).toEqual([]);
    await clock.advance(1000);
    expect(elector.isLeader).toBe(true);
    expect(malformationWarnings()).toEqual(warnings);
  });

  it('keeps coordinated-election fields when it takes the Lease over', async () => {
    const { clock, memory, elector } = setup();
    memory.overwrite(held({ preferredHolder: 'bing', strategy: 'OldestEmulationVersion' }));
    elector.start();
    await clock.advanceUntil(() => elector.isLeader, 5000);
    expect(memory.peek()).toMatchObject({
      holderIdentity: 'baz',
      preferredHolder: 'bing',
      strategy: 'OldestEmulationVersion',
      leaseTransitions: 3,
    });
  });

  it('counts a malformed leaseTransitions as 0', async () => {
    const { clock, memory, elector } = setup();
    memory.overwrite(held({ holderIdentity: '', leaseTransitions: 'many' }));
    elector.start();
    await clock.flush();
    expect(elector.term?.leaseTransitions).toBe(1);
    expect(memory.peek()).toMatchObject({ leaseTransitions: 1 });
  });

  it.each([
    [
      'renewTime in the future',
      (i: number) => held({ renewTime: `29${String(i).padStart(2, '0')}-01-01T00:00:00.000000Z` }),
    ],
    ['renewTime unparsable', (i: number) => held({ renewTime: `2025-01-01 00:00:${String(i).padStart(2, '0')}` })],
    [
      'leaseDurationSeconds unusable',
      (i: number) => held({ leaseDurationSeconds: -i, renewTime: formatMicroTime(new Date(i * 1000)) }),
    ],
  ])(
    'logs a recurring malformation (%s) once, though each renewal by the other holder writes a new value',
    async (_name, renewal) => {
      const { clock, memory, elector, malformationWarnings } = setup();
      for (let i = 1; i <= 20; i++) {
        memory.overwrite(renewal(i));
        await clock.advance(500);
        expect(elector.isLeader).toBe(false);
      }
      expect(malformationWarnings()).toHaveLength(0); // not started yet: nothing read
      elector.start();
      for (let i = 21; i <= 60; i++) {
        memory.overwrite(renewal(i));
        await clock.advance(500);
        expect(elector.isLeader).toBe(false);
      }
      expect(malformationWarnings()).toHaveLength(1);
    },
  );
});

describe('normalizeLeaseSpec', () => {
  const now = new Date('2025-06-01T00:00:00.000Z');
  const problemFields = (spec: unknown) => normalizeLeaseSpec(spec, now).problems.map((problem) => problem.field);

  it('passes a well-formed record through unchanged, without problems', () => {
    const spec = held({ preferredHolder: undefined });
    const result = normalizeLeaseSpec(spec, now);
    expect(result).toEqual({
      record: {
        holderIdentity: 'bing',
        leaseDurationSeconds: 3,
        acquireTime: WALL,
        renewTime: WALL,
        leaseTransitions: 2,
      },
      durationUnusable: false,
      problems: [],
    });
  });

  it.each([undefined, null, 42, 'lease', true, [], [1, 2], { holderIdentity: {} }, { renewTime: {} }])(
    'never throws and yields a safe record for %p',
    (spec) => {
      const { record } = normalizeLeaseSpec(spec, now);
      expect(typeof record.holderIdentity).toBe('string');
      expect(Number.isInteger(record.leaseDurationSeconds) && record.leaseDurationSeconds >= 0).toBe(true);
      expect(Number.isInteger(record.leaseTransitions) && record.leaseTransitions >= 0).toBe(true);
    },
  );

  it('reports a missing spec as unheld', () => {
    expect(normalizeLeaseSpec(null, now).record.holderIdentity).toBe('');
    expect(problemFields(null)).toEqual(['spec']);
    expect(problemFields(undefined)).toEqual(['spec']);
  });

  it('treats a null or empty holder as unheld without complaint, and a non-string one as a problem', () => {
    expect(normalizeLeaseSpec(held({ holderIdentity: null }), now).record.holderIdentity).toBe('');
    expect(problemFields(held({ holderIdentity: null }))).toEqual([]);
    expect(problemFields(held({ holderIdentity: '' }))).toEqual([]);
    expect(normalizeLeaseSpec(held({ holderIdentity: 7 }), now).record.holderIdentity).toBe('');
    expect(problemFields(held({ holderIdentity: 7 }))).toEqual(['holderIdentity']);
  });

  it.each([0, -1, 1.5, '15', null, Number.NaN, Number.POSITIVE_INFINITY])(
    'marks leaseDurationSeconds %p unusable on a held lease',
    (duration) => {
      const result = normalizeLeaseSpec(held({ leaseDurationSeconds: duration }), now);
      expect(result.durationUnusable).toBe(true);
      expect(result.record.leaseDurationSeconds).toBe(0);
      expect(result.problems.map((problem) => problem.field)).toEqual(['leaseDurationSeconds']);
    },
  );

  it('does not complain about the duration of an unheld lease', () => {
    const result = normalizeLeaseSpec({ holderIdentity: '' }, now);
    expect(result.durationUnusable).toBe(true);
    expect(result.problems).toEqual([]);
  });

  it('keeps time strings verbatim and reports missing, unparsable and future ones', () => {
    expect(problemFields(without('renewTime', held()))).toEqual(['renewTime']);
    expect(problemFields(without('acquireTime', held()))).toEqual(['acquireTime']);
    const unparsable = normalizeLeaseSpec(held({ renewTime: 'soon' }), now);
    expect(unparsable.record.renewTime).toBe('soon');
    expect(unparsable.problems.map((problem) => problem.field)).toEqual(['renewTime']);
    const future = normalizeLeaseSpec(held({ acquireTime: FAR_FUTURE }), now);
    expect(future.record.acquireTime).toBe(FAR_FUTURE);
    expect(future.problems.map((problem) => problem.field)).toEqual(['acquireTime']);
    // Up to a minute ahead is tolerated as ordinary clock skew.
    expect(problemFields(held({ renewTime: '2025-06-01T00:00:59.000000Z' }))).toEqual([]);
    expect(problemFields(held({ renewTime: '2025-06-01T00:01:01.000000Z' }))).toEqual(['renewTime']);
  });

  it('accepts Date objects and formats them as MicroTime', () => {
    const result = normalizeLeaseSpec(held({ renewTime: new Date('2025-01-02T03:04:05.678Z') }), now);
    expect(result.record.renewTime).toBe('2025-01-02T03:04:05.678000Z');
    expect(result.problems).toEqual([]);
  });

  it('preserves and reports coordinated-election fields', () => {
    const result = normalizeLeaseSpec(held({ strategy: 'OldestEmulationVersion', preferredHolder: 'x' }), now);
    expect(result.record).toMatchObject({ strategy: 'OldestEmulationVersion', preferredHolder: 'x' });
    expect(result.problems.map((problem) => problem.field)).toEqual(['strategy', 'preferredHolder']);
  });
});

describe('formatMicroTime', () => {
  it('writes RFC 3339 with exactly six fractional digits', () => {
    expect(formatMicroTime(new Date('2025-01-02T03:04:05.006Z'))).toBe('2025-01-02T03:04:05.006000Z');
    expect(formatMicroTime(new Date(0))).toBe('1970-01-01T00:00:00.000000Z');
    expect(formatMicroTime(new Date('2025-12-31T23:59:59.999Z'))).toBe('2025-12-31T23:59:59.999000Z');
    for (let ms = 1_700_000_000_000; ms < 1_700_000_000_000 + 5000; ms += 37) {
      const text = formatMicroTime(new Date(ms));
      expect(text).toMatch(MICRO_TIME);
      expect(Date.parse(text)).toBe(ms);
    }
  });
});

describe('sameRecord', () => {
  const base: LeaseRecord = {
    holderIdentity: 'a',
    leaseDurationSeconds: 15,
    acquireTime: WALL,
    renewTime: WALL,
    leaseTransitions: 1,
  };

  it('compares every field', () => {
    expect(sameRecord(base, { ...base })).toBe(true);
    expect(sameRecord(null, null)).toBe(true);
    expect(sameRecord(base, null)).toBe(false);
    const changes: Array<Partial<LeaseRecord>> = [
      { holderIdentity: 'b' },
      { leaseDurationSeconds: 16 },
      { acquireTime: null },
      { renewTime: '2025-01-01T00:00:00.000001Z' },
      { leaseTransitions: 2 },
      { strategy: 's' },
      { preferredHolder: 'p' },
    ];
    for (const change of changes) expect(sameRecord(base, { ...base, ...change })).toBe(false);
  });
});
