import fc from 'fast-check';
import type { FaultRates } from './faulty-lease-lock.js';
import type { Timing } from './scenario.js';

/** Fault probabilities of the member directory while faults are on (lost, drop, 503 and slow as for Leases). */
export interface DirectoryRates {
  /** A list answers after 0.3 to 1.2 x requestTimeout (a loaded API server), so a newcomer starts late. */
  slowList: number;
  /** A directory request is answered 403 (an RBAC change propagating, an API server starting up). */
  forbidden: number;
  /** A member watch breaks (503) or ends cleanly some time after it opened. */
  watchDrop: number;
}

/**
 * Something that happens to the group at `at` (virtual ms). `slot` picks a
 * replica (modulo the slots in use); `span` in [0, 1] scales a duration.
 */
export type GroupFault =
  | { at: number; kind: 'crash' | 'restart' | 'leave' | 'join'; slot: number }
  /** The replica is stopped while its next member announce is in flight. */
  | { at: number; kind: 'stop-during-announce'; slot: number }
  /** A fresh replica joins and is stopped `delay` x (requestTimeout + memberSettle) later, inside its start(). */
  | { at: number; kind: 'stop-during-start'; slot: number; delay: number }
  | { at: number; kind: 'stall' | 'partition'; slot: number; span: number }
  /** The next one or two Lease requests of each of the replica's electors are answered 403. */
  | { at: number; kind: 'forbid-blip'; slot: number; span: number }
  /** The replica's member watch goes silent for good: no more events, never ends (a half-open connection). */
  | { at: number; kind: 'member-watch-stall'; slot: number };

/** One simulated run of spreading groups. */
export interface GroupScenario {
  seed: number;
  /** Replicas at the start (3 to 7); joins add up to 7 slots. */
  replicas: number;
  elections: number;
  timing: Timing;
  /** Per slot in [-1, 1]: clock rate 1 + value x the allowed skew. */
  skew: number[];
  faultMs: number;
  rates: FaultRates;
  directory: DirectoryRates;
  /** handoverBackoff = (1.5 + 1.5 x value) x leaseDuration. */
  backoff: number;
  /**
   * Share of replicas started after the first ones (joins, restarts, refills) whose first member list is slow:
   * 0.5 to 0.95 x requestTimeout, so their electors start late.
   */
  slowStarts: number;
  /** A work unit lasts up to `work` x leaseDuration / 2; units start every 0.1 to 1 retryPeriod. */
  work: number;
  faults: GroupFault[];
  /** A lone 403 on a renewal of the busiest replica, this fraction of a leaseDuration after the view settled. */
  quietBlip: number | null;
}

/** Knobs of the generator. */
export interface GroupScenarioOptions {
  maxFaultMs: number;
  maxFaults: number;
  /** Largest number of elections (6 to 20). */
  maxElections?: number;
  /** Include 403 blips (default true); off to hunt past a known failure they cause. */
  blips?: boolean;
}

/**
 * Uniform in value on a grid of a millionth, shrinking to `min`. (fast-check's doubles are uniform over
 * representable values: nearly all would sit within 1e-3 of a bound, every fault at the start or end.)
 */
function uniform(min: number, max: number): fc.Arbitrary<number> {
  return fc.integer({ min: 0, max: 1_000_000 }).map((n) => min + ((max - min) * n) / 1_000_000);
}

/**
 * The single-elector simulator's timings, with retryPeriod at least 200: the group's default rankStep,
 * min(100, retryPeriod / 2), then outlasts the five legs by which a preferred candidate's write may trail.
 */
const timingArb: fc.Arbitrary<Timing> = fc
  .tuple(
    fc.oneof(
      fc.constant({ leaseDuration: 2000, renewDeadline: 1000, retryPeriod: 250 }),
      fc.constant({ leaseDuration: 15_000, renewDeadline: 10_000, retryPeriod: 2000 }),
      fc.constant({ leaseDuration: 12_000, renewDeadline: 10_000, retryPeriod: 4000 }),
      fc
        .record({ seconds: fc.integer({ min: 2, max: 20 }), deadline: uniform(0.4, 0.97), retry: uniform(0.1, 0.82) })
        .map(({ seconds, deadline, retry }) => {
          const leaseDuration = seconds * 1000;
          const renewDeadline = Math.floor(leaseDuration * deadline);
          return { leaseDuration, renewDeadline, retryPeriod: Math.max(200, Math.floor(renewDeadline * retry)) };
        }),
    ),
    fc.option(uniform(0.15, 0.99), { nil: undefined }),
  )
  .map(([timing, timeout]) =>
    timeout === undefined
      ? timing
      : { ...timing, requestTimeout: Math.max(20, Math.floor(timing.renewDeadline * timeout)) },
  );

const ratesArb: fc.Arbitrary<FaultRates> = fc.record({
  lost: uniform(0, 0.15),
  drop: uniform(0, 0.15),
  error: uniform(0, 0.15),
  slow: uniform(0, 0.2),
  watchDrop: uniform(0, 0.5),
  watchStale: uniform(0, 0.2),
  watchHang: fc.constant(0),
});

function faultArb(options: GroupScenarioOptions): fc.Arbitrary<GroupFault> {
  const at = uniform(0, 1);
  const slot = fc.nat(6);
  const span = uniform(0, 1);
  return fc.oneof(
    { weight: 3, arbitrary: fc.record({ at, kind: fc.constantFrom('crash' as const, 'restart' as const), slot }) },
    { weight: 3, arbitrary: fc.record({ at, kind: fc.constantFrom('leave' as const, 'join' as const), slot }) },
    { weight: 2, arbitrary: fc.record({ at, kind: fc.constant('stop-during-announce' as const), slot }) },
    {
      weight: 2,
      arbitrary: fc.record({
        at,
        kind: fc.constant('stop-during-start' as const),
        slot,
        delay: uniform(0, 1.2),
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({ at, kind: fc.constantFrom('stall' as const, 'partition' as const), slot, span }),
    },
    {
      weight: options.blips === false ? 0 : 3,
      arbitrary: fc.record({ at, kind: fc.constant('forbid-blip' as const), slot, span }),
    },
    { weight: 2, arbitrary: fc.record({ at, kind: fc.constant('member-watch-stall' as const), slot }) },
  );
}

const directoryArb: fc.Arbitrary<DirectoryRates> = fc.record({
  slowList: uniform(0, 0.5),
  forbidden: uniform(0, 0.1),
  watchDrop: uniform(0, 0.5),
});

/** Generates group scenarios; fast-check shrinks them to fewer faults, replicas and elections. */
export function groupScenarioArb(options: GroupScenarioOptions): fc.Arbitrary<GroupScenario> {
  return fc
    .record({
      seed: fc.nat(),
      replicas: fc.integer({ min: 3, max: 7 }),
      elections: fc.integer({ min: 6, max: Math.max(6, Math.min(20, options.maxElections ?? 20)) }),
      timing: timingArb,
      skew: fc.array(uniform(-1, 1), { minLength: 7, maxLength: 7 }),
      faultMs: fc.integer({ min: 5_000, max: Math.max(5_000, options.maxFaultMs) }),
      rates: ratesArb,
      directory: directoryArb,
      backoff: uniform(0, 1),
      slowStarts: uniform(0, 1),
      work: uniform(0, 1),
      faults: fc.array(faultArb(options), { maxLength: options.maxFaults, size: 'max' }),
      quietBlip: options.blips === false ? fc.constant(null) : fc.option(uniform(0, 1), { nil: null, freq: 3 }),
    })
    .map((scenario) => ({
      ...scenario,
      // Fractions of the fault phase, so shrinking the phase keeps every fault inside it.
      faults: scenario.faults.map((fault) => ({ ...fault, at: Math.floor(fault.at * scenario.faultMs) })),
    }));
}
