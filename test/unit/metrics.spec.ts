/**
 * LeaderElectionMetrics bound to a LeaderElector on a fake clock: every
 * counter and gauge moves exactly on its own event and on nothing else.
 * Each test takes a snapshot of every series in a fresh registry before and
 * after one event and asserts the exact difference.
 */
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { Registry } from 'prom-client';
import {
  LeaderElectionGroup,
  LeaderElector,
  MemoryMemberDirectory,
  TERM_END_REASONS,
  type MemberRecord,
  LeaseConflictError,
  LeaseForbiddenError,
  LeaseInvalidError,
  LeaseLockError,
  LeaseNotFoundError,
  LeaseTimeoutError,
  LeaseUnavailableError,
  MemoryLeaseLock,
  formatMicroTime,
  type ElectorLogger,
  type LeaderElectionEvent,
  type LeaseRecord,
} from '../../lib/elector/internal.js';
import {
  LEADER_ELECTION_METRIC_NAMES,
  LeaderElectionMetrics,
  type LeaderElectionMetricName,
} from '../../lib/metrics/index.js';
import { FakeClock } from '../support/fake-clock.js';
import { RecordingLeaseLock } from '../support/recording-lease-lock.js';

const TIMING = { leaseDuration: 2000, renewDeadline: 1000, retryPeriod: 250 } as const;
const LEASE = 'metrics-lease';
const NAMESPACE = 'metrics-ns';
const quiet: ElectorLogger = { log: () => undefined, warn: () => undefined, error: () => undefined };

/** The exact label names every metric is allowed to carry (histogram buckets add `le`). */
const EXPECTED_LABELS: Record<LeaderElectionMetricName, string[]> = {
  leader_election_master_status: ['name', 'lease', 'namespace'],
  leader_election_is_leader: ['lease', 'namespace'],
  leader_election_acquired_total: ['lease', 'namespace'],
  leader_election_lost_total: ['lease', 'namespace', 'reason'],
  leader_election_leader_changed_total: ['lease', 'namespace'],
  leader_election_slowpath_total: ['lease', 'namespace'],
  leader_election_renew_duration_seconds: ['lease', 'namespace'],
  leader_election_errors_total: ['lease', 'namespace', 'operation', 'reason'],
  leader_election_last_renew_timestamp_seconds: ['lease', 'namespace'],
  leader_election_follower_watching: ['lease', 'namespace'],
  leader_election_fencing_scheme: ['lease', 'namespace', 'scheme'],
};
const EXPECTED_TYPES: Record<LeaderElectionMetricName, string> = {
  leader_election_master_status: 'gauge',
  leader_election_is_leader: 'gauge',
  leader_election_acquired_total: 'counter',
  leader_election_lost_total: 'counter',
  leader_election_leader_changed_total: 'counter',
  leader_election_slowpath_total: 'counter',
  leader_election_renew_duration_seconds: 'histogram',
  leader_election_errors_total: 'counter',
  leader_election_last_renew_timestamp_seconds: 'gauge',
  leader_election_follower_watching: 'gauge',
  leader_election_fencing_scheme: 'gauge',
};

type Labels = Record<string, string | number>;
interface Sample {
  value: number;
  labels: Labels;
  metricName?: string;
}
interface MetricObject {
  name: string;
  labelNames: string[];
  get(): Promise<{ type: string; values: Sample[] }>;
}

/** A series key as in the exposition format, labels sorted: `name{a="1",b="2"}`. */
function series(name: string, labels: Labels): string {
  const body = Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, value]) => `${key}="${value}"`)
    .join(',');
  return `${name}{${body}}`;
}

function metricOf(registry: Registry, name: string): MetricObject {
  const metric = registry.getSingleMetric(name) as unknown as MetricObject | undefined;
  if (!metric) throw new Error(`metric ${name} is not registered`);
  return metric;
}

/** Every series of every metric in `registry`; of a histogram only `_count` and `_sum`. */
async function sample(registry: Registry): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const metric of registry.getMetricsAsArray() as unknown as MetricObject[]) {
    const { values } = await metric.get();
    for (const value of values) {
      const name = value.metricName ?? metric.name;
      if (name.endsWith('_bucket')) continue;
      out[series(name, value.labels)] = value.value;
    }
  }
  return out;
}

const isCounterLike = (key: string) => /_(total|count|sum)\{/.test(key);

/**
 * What changed between two samples: counters (and histogram _count/_sum) as
 * the increase (a series appearing at 0 is no change), gauges as their new value.
 */
function changes(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (before[key] === after[key]) continue;
    if (isCounterLike(key)) {
      const delta = Math.round(((after[key] ?? 0) - (before[key] ?? 0)) * 1e9) / 1e9;
      if (delta !== 0) out[key] = delta;
    } else {
      out[key] = after[key];
    }
  }
  return out;
}

const lease = { lease: LEASE, namespace: NAMESPACE };
const key = {
  master: series('leader_election_master_status', { name: LEASE, ...lease }),
  isLeader: () => series('leader_election_is_leader', lease),
  promoted: series('leader_election_acquired_total', lease),
  demoted: (reason: string) => series('leader_election_lost_total', { ...lease, reason }),
  newLeader: series('leader_election_leader_changed_total', lease),
  slowpath: series('leader_election_slowpath_total', lease),
  renewCount: series('leader_election_renew_duration_seconds_count', lease),
  renewSum: series('leader_election_renew_duration_seconds_sum', lease),
  errors: (operation: string, reason: string) =>
    series('leader_election_errors_total', { ...lease, operation, reason }),
  lastRenew: series('leader_election_last_renew_timestamp_seconds', lease),
  watching: series('leader_election_follower_watching', lease),
  scheme: (scheme: string) => series('leader_election_fencing_scheme', { ...lease, scheme }),
};

const running: Array<{ elector: LeaderElector; clock: FakeClock; metrics: LeaderElectionMetrics }> = [];

/** Wall time of the current test's fake clock, in ms (set by setup()). */
let currentWall = () => 0;

beforeEach(() => {
  // The metrics stamp last_renew_timestamp with Date.now(); tie it to the fake clock's wall time so values are exact.
  jest.spyOn(Date, 'now').mockImplementation(() => currentWall());
});

afterEach(async () => {
  for (const { elector, clock, metrics } of running.splice(0)) {
    let done = false;
    const stopped = elector.stop().then(() => {
      done = true;
    });
    await clock.advanceUntil(() => done, 60_000, 50);
    await stopped;
    metrics.close();
  }
  jest.restoreAllMocks();
});

async function setup(
  options: {
    registry?: Registry;
    prefix?: string;
    identity?: string;
    leaseName?: string;
    clock?: FakeClock;
    memory?: MemoryLeaseLock;
  } = {},
) {
  const clock = options.clock ?? new FakeClock();
  currentWall = () => clock.wallNow().getTime();
  const memory = options.memory ?? new MemoryLeaseLock(options.leaseName ?? LEASE, NAMESPACE);
  const lock = new RecordingLeaseLock(memory, clock);
  const identity = options.identity ?? 'me';
  const elector = new LeaderElector({ lock, clock, identity, logger: quiet, random: () => 0, ...TIMING });
  const events: LeaderElectionEvent[] = [];
  elector.subscribe((event) => events.push(event));
  const registry = options.registry ?? new Registry();
  const metrics = await LeaderElectionMetrics.create(
    elector,
    { registry, ...(options.prefix === undefined ? {} : { prefix: options.prefix }) },
    quiet,
  );
  if (!metrics) throw new Error('prom-client is a dev dependency; metrics must load');
  running.push({ elector, clock, metrics });
  const heldBy = (holderIdentity: string, extra: Partial<LeaseRecord> = {}): LeaseRecord => ({
    holderIdentity,
    leaseDurationSeconds: TIMING.leaseDuration / 1000,
    acquireTime: formatMicroTime(clock.wallNow()),
    renewTime: formatMicroTime(clock.wallNow()),
    leaseTransitions: (memory.peek() as LeaseRecord | null)?.leaseTransitions ?? 0,
    ...extra,
  });
  const snapshot = () => sample(registry);
  /** Starts the elector and waits until it leads (get, create on the empty Lease). */
  const lead = async () => {
    elector.start();
    await clock.flush();
    expect(elector.isLeader).toBe(true);
  };
  /** Calls stop() and advances the clock until it resolves. */
  const stop = async () => {
    let done = false;
    const stopping = elector.stop().then(() => {
      done = true;
    });
    await clock.advanceUntil(() => done, 60_000);
    await stopping;
  };
  const wallSeconds = () => clock.wallNow().getTime() / 1000;
  /** What last_renew_timestamp_seconds reads for an event at monotonic `ms` (no wall skew in these tests). */
  const wallAt = (ms: number) => (clock.wallNow().getTime() - clock.now() + ms) / 1000;
  return { clock, memory, lock, elector, events, registry, metrics, heldBy, snapshot, lead, stop, wallSeconds, wallAt };
}

describe('metric definitions', () => {
  it('the demotion help text and the loss-reason docs name every term-end reason (issue 25, item 11)', async () => {
    const { registry } = await setup();
    const help = (metricOf(registry, 'leader_election_lost_total') as unknown as { help: string }).help;
    const eventDocs = readFileSync(
      new URL('../../lib/interfaces/leadership-event.interface.ts', import.meta.url),
      'utf8',
    );
    const lossDocs = eventDocs.slice(eventDocs.indexOf('export interface LeadershipLostEvent'));
    const coreDocs = readFileSync(new URL('../../lib/elector/leadership-term.ts', import.meta.url), 'utf8');
    for (const reason of TERM_END_REASONS) {
      expect({ reason, inHelp: help.includes(reason) }).toEqual({ reason, inHelp: true });
      expect({ reason, inEventDocs: lossDocs.includes(`\`${reason}\``) }).toEqual({ reason, inEventDocs: true });
      expect({ reason, inType: coreDocs.includes(`| '${reason}'`) }).toEqual({ reason, inType: true });
    }
  });

  it("counts a spreading group's denied member evictions under the group's lease name (issue 25, item 10)", async () => {
    const clock = new FakeClock();
    const registry = new Registry();
    class DenyingDirectory extends MemoryMemberDirectory {
      override evict(record: MemberRecord, signal: AbortSignal): Promise<void> {
        void record;
        void signal;
        return Promise.reject(new LeaseForbiddenError('injected 403 on delete', { status: 403 }));
      }
    }
    const directory = new DenyingDirectory('jobs', () => clock.wallNow());
    const group = new LeaderElectionGroup({
      identity: 'me',
      elections: ['billing'],
      lockFor: (election) => new MemoryLeaseLock(election, NAMESPACE),
      members: directory,
      clock,
      logger: quiet,
      ...TIMING,
    });
    const metrics = await LeaderElectionMetrics.create(group.electors.get('billing')!, { registry }, quiet);
    metrics!.followGroup(group, 'jobs', NAMESPACE);
    void group.start();
    await directory.announce('departed', TIMING.leaseDuration, new AbortController().signal);
    await clock.advance(6 * TIMING.leaseDuration);
    const denied = series('leader_election_errors_total', {
      lease: 'jobs',
      namespace: NAMESPACE,
      operation: 'evict',
      reason: 'forbidden',
    });
    expect((await sample(registry))[denied]).toBeGreaterThanOrEqual(1);
    metrics!.close();
    const stopping = group.stop();
    await clock.advance(5000);
    await stopping;
  });

  it('registers exactly the eleven metrics, with their types and exact, bounded label names', async () => {
    const { registry } = await setup();
    const registered = (registry.getMetricsAsArray() as unknown as MetricObject[]).map((metric) => metric.name);
    expect(registered.sort()).toEqual([...LEADER_ELECTION_METRIC_NAMES].sort());
    for (const name of LEADER_ELECTION_METRIC_NAMES) {
      const metric = metricOf(registry, name);
      expect({ name, labelNames: [...metric.labelNames].sort() }).toEqual({
        name,
        labelNames: [...EXPECTED_LABELS[name]].sort(),
      });
      expect({ name, type: (await metric.get()).type }).toEqual({ name, type: EXPECTED_TYPES[name] });
    }
  });

  it('after a busy run, every series carries exactly its label names, with values from bounded sets', async () => {
    const { clock, memory, lock, elector, registry, heldBy, lead, stop } = await setup();
    await lead();
    await clock.advance(300); // a renewal
    lock.failNext('update', new LeaseConflictError('409'));
    await clock.advance(250); // slow path
    lock.failNext('update', new LeaseUnavailableError('503'), { times: 2 });
    await clock.advance(250); // renew error
    memory.overwrite(heldBy('thief'));
    await clock.advance(250); // stolen
    expect(elector.isLeader).toBe(false);
    lock.failNext('get', new LeaseForbiddenError('403'));
    await clock.advance(3000); // acquire error, then re-acquire after the thief's lease runs out
    expect(elector.isLeader).toBe(true);
    await stop();

    const bounded: Record<string, Set<string>> = {
      lease: new Set([LEASE]),
      name: new Set([LEASE]),
      namespace: new Set([NAMESPACE]),
      identity: new Set(['me']),
      scheme: new Set(['resource-version', 'lease-transitions']),
      reason: new Set([
        'stolen',
        'renew-failed',
        'expired',
        'shutdown',
        'conflict',
        'forbidden',
        'not_found',
        'timeout',
        'unavailable',
        'invalid',
        'other',
      ]),
      operation: new Set(['acquire', 'renew', 'release']),
    };
    let seen = 0;
    for (const name of LEADER_ELECTION_METRIC_NAMES) {
      const { values } = await metricOf(registry, name).get();
      expect(values.length).toBeGreaterThan(0);
      for (const value of values) {
        seen++;
        const labelNames = Object.keys(value.labels).filter((label) => label !== 'le');
        expect({ name, labels: labelNames.sort() }).toEqual({ name, labels: [...EXPECTED_LABELS[name]].sort() });
        for (const label of labelNames) {
          expect(bounded[label].has(String(value.labels[label]))).toBe(true);
        }
        if ('le' in value.labels) expect(value.metricName).toBe(`${name}_bucket`);
      }
    }
    expect(seen).toBeGreaterThan(20);
  });

  it('starts with both leadership gauges at 0 and no counter series, before the elector starts', async () => {
    const { snapshot } = await setup();
    expect(await snapshot()).toEqual({ [key.master]: 0, [key.isLeader()]: 0, [key.watching]: 0 });
  });

  it('prefixes every name with the prefix option, and registers no unprefixed name', async () => {
    const { registry, metrics, lead } = await setup({ prefix: 'myapp_' });
    const registered = (registry.getMetricsAsArray() as unknown as MetricObject[]).map((metric) => metric.name);
    expect(registered.sort()).toEqual(LEADER_ELECTION_METRIC_NAMES.map((name) => `myapp_${name}`).sort());
    for (const name of LEADER_ELECTION_METRIC_NAMES) {
      expect(registry.getSingleMetric(name)).toBeUndefined();
      expect(metrics.metric(name)).toBe(registry.getSingleMetric(`myapp_${name}`));
    }
    await lead();
    const values = await sample(registry);
    expect(values[`myapp_${key.promoted}`]).toBe(1);
    expect(values[`myapp_${key.isLeader()}`]).toBe(1);
    expect(values[`myapp_${key.master}`]).toBe(1);
  });

  it('two electors (two named elections) share one registry without throwing, each with its own labels', async () => {
    const registry = new Registry();
    const clock = new FakeClock();
    const billing = await setup({ registry, clock, leaseName: 'billing', identity: 'me' });
    const reports = await setup({ registry, clock, leaseName: 'reports', identity: 'me' });
    for (const name of LEADER_ELECTION_METRIC_NAMES) {
      expect(billing.metrics.metric(name)).toBe(reports.metrics.metric(name));
      expect(billing.metrics.metric(name)).toBe(registry.getSingleMetric(name));
    }
    expect(registry.getMetricsAsArray()).toHaveLength(LEADER_ELECTION_METRIC_NAMES.length);

    billing.elector.start();
    await clock.flush();
    const onlyBilling = await sample(registry);
    const labelsOf = (leaseName: string) => ({ lease: leaseName, namespace: NAMESPACE });
    expect(onlyBilling[series('leader_election_acquired_total', labelsOf('billing'))]).toBe(1);
    expect(onlyBilling[series('leader_election_acquired_total', labelsOf('reports'))]).toBeUndefined();
    expect(onlyBilling[series('leader_election_is_leader', labelsOf('reports'))]).toBe(0);

    reports.elector.start();
    await clock.flush();
    const both = await sample(registry);
    for (const leaseName of ['billing', 'reports']) {
      expect(both[series('leader_election_acquired_total', labelsOf(leaseName))]).toBe(1);
      expect(both[series('leader_election_is_leader', labelsOf(leaseName))]).toBe(1);
      expect(both[series('leader_election_master_status', { name: leaseName, ...labelsOf(leaseName) })]).toBe(1);
    }

    await billing.stop();
    const after = await sample(registry);
    expect(after[series('leader_election_is_leader', labelsOf('billing'))]).toBe(0);
    expect(after[series('leader_election_is_leader', labelsOf('reports'))]).toBe(1);
    expect(after[series('leader_election_lost_total', { ...labelsOf('billing'), reason: 'shutdown' })]).toBe(1);
    expect(after[series('leader_election_lost_total', { ...labelsOf('reports'), reason: 'shutdown' })]).toBe(undefined);
  });

  it('records nothing more after close()', async () => {
    const { clock, metrics, snapshot, lead } = await setup();
    metrics.close();
    const before = await snapshot();
    await lead();
    await clock.advance(1000);
    expect(changes(before, await snapshot())).toEqual({});
  });
});

describe('acquire and renew', () => {
  it('acquire: promoted +1, both gauges 1, last renew timestamp set, the new holder counted once; nothing else', async () => {
    const { snapshot, lead, wallSeconds } = await setup();
    const before = await snapshot();
    await lead();
    expect(changes(before, await snapshot())).toEqual({
      [key.promoted]: 1,
      [key.master]: 1,
      [key.isLeader()]: 1,
      [key.lastRenew]: wallSeconds(),
      [key.newLeader]: 1,
      [key.scheme('resource-version')]: 1,
      [key.scheme('lease-transitions')]: 0,
    });
  });

  it('renewal: the duration histogram counts it and the timestamp moves; no other series changes', async () => {
    const { clock, lock, snapshot, lead, wallAt } = await setup();
    await lead();
    await clock.advance(100);
    const before = await snapshot();
    lock.delay('update', 40);
    await clock.advance(250); // the renewal sent at 250 lands at 290
    expect(changes(before, await snapshot())).toEqual({
      [key.renewCount]: 1,
      [key.renewSum]: 0.04,
      [key.lastRenew]: wallAt(290),
    });

    lock.delay('update', 0);
    const next = await snapshot();
    await clock.advance(500); // two more renewals, at 540 and 790
    expect(changes(next, await snapshot())).toEqual({
      [key.renewCount]: 2,
      [key.lastRenew]: wallAt(790),
    });
  });

  it('slow path: counted only when a leader renewal needed a GET, together with that renewal', async () => {
    const { clock, lock, snapshot, lead, wallAt } = await setup();
    await lead();
    await clock.advance(100);
    const before = await snapshot();
    lock.failNext('update', new LeaseConflictError('injected 409'));
    lock.resetCalls();
    await clock.advance(200); // the renewal at 250
    expect(lock.calls).toEqual(['update', 'get', 'update']);
    expect(changes(before, await snapshot())).toEqual({
      [key.slowpath]: 1,
      [key.renewCount]: 1,
      [key.lastRenew]: wallAt(250),
    });

    // The next renewal takes the fast path again.
    const next = await snapshot();
    lock.resetCalls();
    await clock.advance(250);
    expect(lock.calls).toEqual(['update']);
    expect(changes(next, await snapshot())).toEqual({
      [key.renewCount]: 1,
      [key.lastRenew]: wallAt(500),
    });
  });

  it('an acquire that needed a GET (every acquire does) is not a slow path', async () => {
    const { memory, heldBy, snapshot, lead, lock } = await setup();
    memory.overwrite(heldBy(''));
    await lead();
    expect(lock.calls).toEqual(['get', 'update']);
    expect((await snapshot())[key.slowpath]).toBeUndefined();
  });
});

describe('loss, by each reason', () => {
  it('stolen (an outside writer overwrote the Lease): demoted{stolen} +1, gauges 0, the thief counted', async () => {
    const { clock, memory, elector, heldBy, snapshot, lead, events } = await setup();
    await lead();
    await clock.advance(100);
    const before = await snapshot();
    memory.overwrite(heldBy('thief', { leaseTransitions: 1 }));
    await clock.advance(200); // the renewal at 250 finds it
    expect(elector.isLeader).toBe(false);
    expect(events.filter((e) => e.type === 'stopped-leading')).toEqual([expect.objectContaining({ reason: 'stolen' })]);
    expect(changes(before, await snapshot())).toEqual({
      [key.demoted('stolen')]: 1,
      [key.master]: 0,
      [key.isLeader()]: 0,
      [key.newLeader]: 1,
    });

    // Following the thief for a while changes nothing.
    const following = await snapshot();
    await clock.advance(1000);
    expect(changes(following, await snapshot())).toEqual({});
  });

  it('renew-failed (every call fails during leadership): demoted{renew-failed} +1 once, gauges 0', async () => {
    const { clock, lock, elector, snapshot, lead, events } = await setup();
    await lead();
    await clock.advance(100);
    const before = await snapshot();
    const errorsBefore = events.filter((e) => e.type === 'error').length;
    lock.failAlways('*', new LeaseUnavailableError('injected 503', { status: 503 }));
    await clock.advanceUntil(() => !elector.isLeader, 5000);
    await clock.advance(2000); // keeps failing as a candidate: no further demotion
    expect(events.filter((e) => e.type === 'stopped-leading')).toEqual([
      expect.objectContaining({ reason: 'renew-failed' }),
    ]);

    const failures = events.slice(errorsBefore).filter((e) => e.type === 'error');
    const renewErrors = failures.filter((e) => e.operation === 'renew').length;
    const acquireErrors = failures.filter((e) => e.operation === 'acquire').length;
    expect(renewErrors).toBeGreaterThan(0);
    expect(acquireErrors).toBeGreaterThan(0);
    expect(renewErrors + acquireErrors).toBe(failures.length);
    expect(changes(before, await snapshot())).toEqual({
      [key.demoted('renew-failed')]: 1,
      [key.master]: 0,
      [key.isLeader()]: 0,
      [key.errors('renew', 'unavailable')]: renewErrors,
      [key.errors('acquire', 'unavailable')]: acquireErrors,
    });
  });

  it('expired (a stall past renewDeadline, noticed by reading isLeader): demoted{expired} +1, gauges 0', async () => {
    const { clock, lock, elector, snapshot, lead, events } = await setup();
    await lead();
    await clock.advance(100);
    // Park the loop's next call so that only the demotion itself is measured.
    lock.delay('*', Number.POSITIVE_INFINITY);
    const before = await snapshot();
    clock.jump(TIMING.renewDeadline);
    expect(elector.isLeader).toBe(false);
    expect(events.filter((e) => e.type === 'stopped-leading')).toEqual([
      expect.objectContaining({ reason: 'expired' }),
    ]);
    expect(changes(before, await snapshot())).toEqual({
      [key.demoted('expired')]: 1,
      [key.master]: 0,
      [key.isLeader()]: 0,
    });
  });

  it('shutdown (stop): demoted{shutdown} +1, gauges 0; the release to a vacant holder is not a new leader', async () => {
    const { clock, lock, snapshot, lead, stop, events } = await setup();
    await lead();
    await clock.advance(100);
    const before = await snapshot();
    lock.resetCalls();
    await stop();
    expect(lock.calls).toEqual(['update']); // released in one PUT
    expect(events.filter((e) => e.type === 'new-leader').at(-1)).toMatchObject({ identity: null });
    expect(changes(before, await snapshot())).toEqual({
      [key.demoted('shutdown')]: 1,
      [key.master]: 0,
      [key.isLeader()]: 0,
    });
  });

  it('a second term counts a second promotion, and demotions are counted per term and reason', async () => {
    const { clock, memory, elector, heldBy, snapshot, lead } = await setup();
    await lead();
    memory.overwrite(heldBy('thief', { leaseTransitions: 1 }));
    await clock.advance(300);
    expect(elector.isLeader).toBe(false);
    await clock.advanceUntil(() => elector.isLeader, 5000); // the thief's lease runs out
    const values = await snapshot();
    expect(values[key.promoted]).toBe(2);
    expect(values[key.demoted('stolen')]).toBe(1);
    expect(values[key.newLeader]).toBe(3); // me, thief, me
    expect(values[key.isLeader()]).toBe(1);
    expect(values[key.master]).toBe(1);
  });
});

describe('new leader observed', () => {
  it('counts each change of holder once, never a re-read of the same holder, never a vacant holder', async () => {
    const { clock, memory, lock, elector, heldBy, snapshot, events } = await setup();
    memory.overwrite(heldBy('alpha'));
    const before = await snapshot();
    elector.start();
    await clock.flush();
    expect(changes(before, await snapshot())).toEqual({ [key.newLeader]: 1 });

    // alpha keeps renewing; we keep reading it: de-duplicated.
    const steady = await snapshot();
    for (let i = 0; i < 6; i++) {
      memory.overwrite(heldBy('alpha'));
      await clock.advance(250);
    }
    expect(changes(steady, await snapshot())).toEqual({});

    const toBeta = await snapshot();
    memory.overwrite(heldBy('beta'));
    await clock.advance(300);
    expect(changes(toBeta, await snapshot())).toEqual({ [key.newLeader]: 1 });

    // The Lease becomes vacant: an event fires, but no leader is counted. Our write to take it hangs (it
    // would time out after requestTimeout = 500ms, later than we look), so we do not become the holder.
    lock.delay('update', Number.POSITIVE_INFINITY);
    const toVacant = await snapshot();
    const eventsBefore = events.length;
    memory.overwrite(heldBy(''));
    await clock.advance(TIMING.retryPeriod);
    expect(lock.inFlight().map((call) => call.verb)).toEqual(['update']);
    expect(events.slice(eventsBefore).filter((e) => e.type === 'new-leader')).toEqual([
      { type: 'new-leader', identity: null, previous: 'beta', isSelf: false },
    ]);
    expect(changes(toVacant, await snapshot())).toEqual({});
  });
});

describe('errors by operation and reason', () => {
  const reasons = [
    { reason: 'conflict', source: 'LeaseConflictError', error: () => new LeaseConflictError('injected 409') },
    { reason: 'forbidden', source: 'LeaseForbiddenError', error: () => new LeaseForbiddenError('injected 403') },
    { reason: 'not_found', source: 'LeaseNotFoundError', error: () => new LeaseNotFoundError('injected 404') },
    { reason: 'timeout', source: 'LeaseTimeoutError', error: () => new LeaseTimeoutError('injected timeout') },
    { reason: 'unavailable', source: 'LeaseUnavailableError', error: () => new LeaseUnavailableError('injected 503') },
    { reason: 'invalid', source: 'LeaseInvalidError', error: () => new LeaseInvalidError('injected 422') },
    { reason: 'other', source: 'a plain Error', error: () => new Error('a plain Error from a custom lock') },
    { reason: 'other', source: "LeaseLockError('other')", error: () => new LeaseLockError('other', 'injected') },
  ];

  it.each(reasons)('acquire, $source: errors_total{acquire,$reason} +1 and nothing else', async ({ reason, error }) => {
    const { clock, lock, elector, snapshot } = await setup();
    const before = await snapshot();
    lock.failNext('create', error()); // the Lease does not exist yet: get (404, not an error), create fails
    elector.start();
    await clock.flush();
    expect(lock.calls).toEqual(['get', 'create']);
    expect(elector.isLeader).toBe(false);
    expect(changes(before, await snapshot())).toEqual({ [key.errors('acquire', reason)]: 1 });
  });

  it.each(reasons)('renew, $source: errors_total{renew,$reason} +1 and nothing else', async ({ reason, error }) => {
    const { clock, lock, elector, snapshot, lead } = await setup();
    await lead();
    await clock.advance(100);
    const before = await snapshot();
    lock.resetCalls();
    lock.failNext('update', error(), { times: 2 }); // the optimistic update, then the slow-path update
    await clock.advance(200);
    expect(lock.calls).toEqual(['update', 'get', 'update']);
    expect(elector.isLeader).toBe(true);
    expect(changes(before, await snapshot())).toEqual({ [key.errors('renew', reason)]: 1 });
  });

  it.each(reasons.filter(({ reason }) => reason !== 'not_found'))(
    'release, $source: errors_total{release,$reason} +1 alongside the shutdown demotion',
    async ({ reason, error }) => {
      const { clock, lock, snapshot, lead, stop, memory } = await setup();
      await lead();
      await clock.advance(100);
      const before = await snapshot();
      lock.resetCalls();
      lock.failNext('update', error());
      await stop();
      expect(lock.calls).toEqual(['update', 'get', 'update']); // the one-PUT release failed, read, released
      expect((memory.peek() as LeaseRecord).holderIdentity).toBe('');
      expect(changes(before, await snapshot())).toEqual({
        [key.errors('release', reason)]: 1,
        [key.demoted('shutdown')]: 1,
        [key.master]: 0,
        [key.isLeader()]: 0,
      });
    },
  );

  it('release, not_found: the Lease is gone, which is as good as released: no error counted', async () => {
    const { clock, lock, snapshot, lead, stop } = await setup();
    await lead();
    await clock.advance(100);
    const before = await snapshot();
    lock.resetCalls();
    lock.failNext('update', new LeaseNotFoundError('injected 404', { status: 404 }));
    await stop();
    expect(lock.calls).toEqual(['update']);
    expect(changes(before, await snapshot())).toEqual({
      [key.demoted('shutdown')]: 1,
      [key.master]: 0,
      [key.isLeader()]: 0,
    });
  });

  it('a get that finds no Lease before creating it is not an error', async () => {
    const { lock, snapshot, lead } = await setup();
    await lead();
    expect(lock.calls).toEqual(['get', 'create']);
    expect(lock.log[0].outcome).toBe('error');
    const values = await snapshot();
    expect(Object.keys(values).filter((name) => name.startsWith('leader_election_errors_total'))).toEqual([]);
  });

  it('counts every failed call of a persistent failure, by operation', async () => {
    const { clock, lock, elector, snapshot } = await setup();
    lock.failAlways('get', new LeaseForbiddenError('injected 403', { status: 403 }));
    elector.start();
    await clock.advance(2000);
    const gets = lock.calls.filter((verb) => verb === 'get').length;
    expect(gets).toBeGreaterThan(3);
    expect(await snapshot()).toEqual({
      [key.master]: 0,
      [key.isLeader()]: 0,
      [key.watching]: 0,
      [key.errors('acquire', 'forbidden')]: gets,
    });
  });
});
