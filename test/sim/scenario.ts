import fc from 'fast-check';
import type { FaultRates } from './faulty-lease-lock.js';

/** Election timings shared by every node (one Deployment). Milliseconds. */
export interface Timing {
  leaseDuration: number;
  renewDeadline: number;
  retryPeriod: number;
  /** Undefined: the elector's default (renewDeadline / 2). */
  requestTimeout?: number;
}

/**
 * Something that happens to the world at `at` (ms of virtual time). A `slot`
 * of 7 or more names the current leader (else slot modulo the node count).
 */
export type Fault =
  | { at: number; kind: 'crash' | 'restart'; slot: number }
  | { at: number; kind: 'stop'; slot: number; drainMs: number }
  /** The node's watch ends cleanly, its reconnect hangs (ignoring its abort), and it is stopped 100 ms later. */
  | { at: number; kind: 'stop-during-hung-connect'; slot: number }
  /** `span` in [0, 1] scales the fault's duration (see world.ts). */
  | { at: number; kind: 'stall' | 'partition' | 'forbid-watch' | 'pause-on-answer'; slot: number; span: number }
  | { at: number; kind: 'close-watches'; span: number }
  | { at: number; kind: 'outside-write'; variant: 'touch' | 'intruder' | 'malformed' }
  | { at: number; kind: 'delete' }
  | { at: number; kind: 'stop-on-start' | 'reject-listener' | 'throwing-logger'; slot: number };

/**
 * A failover in the quiet phase, after faults cleared and a leader emerged:
 * the followers' watches go down (or replay old records), then the leader
 * crashes, and a new leader is due within a bound of its own (README).
 * - `healthy`: nothing happens to the watches.
 * - `broken` / `forbidden`: open watches break (503), and reconnects fail with 503 / 403, until (0.5 + 2
 *   `span`) x leaseDuration after the crash.
 * - `slow`: open watches end cleanly (a server timeout), and reconnects take up to 1.2 x requestTimeout
 *   (honouring their abort), until (0.5 + 2 `span`) x leaseDuration after the crash.
 * - `replay`: every open watch delivers an older record (0.1 + 0.5 `replayAt`) x leaseDuration after the crash.
 * The watch fault comes (1 + `settle`) x leaseDuration after a leader is seen, the crash (2 + 2 `offset`) x
 * retryPeriod after that (so the leader renewed since the followers' last watched change). Fractions in [0, 1].
 */
export interface QuietCrash {
  watch: 'healthy' | 'broken' | 'forbidden' | 'slow' | 'replay';
  settle: number;
  offset: number;
  span: number;
  replayAt: number;
}

/**
 * Leader-only work on every node (`work.ts`): jobs whose gated calls nest across simulated awaits and send fenced
 * writes, and job loops that a started-leading listener starts with `runInTerm`. Fractions in [0, 1].
 */
export interface WorkPlan {
  /** Pause between a node's jobs: 0.5 to (0.5 + 4 `every`) x retryPeriod. */
  every: number;
  /** Share of awaits that last 0.3 to 1.5 x leaseDuration (else up to 0.5 x retryPeriod): terms end mid-call. */
  long: number;
  /** Share of nodes whose started-leading listener starts a job loop. */
  loops: number;
  /** Share of nested calls made with `onFollower: 'throw'` (else `'skip'`). */
  strict: number;
}

/**
 * Coordinated Leader Election (`coordinator.ts`): every elector is `coordinated`, with a `handoverDrain` that
 * waits for its leader work; the coordinator in the server names holders. Implies a {@link WorkPlan}.
 */
export interface CoordinatedPlan {
  /** Version of each slot's first process, 1 to 3; lower is preferred (OldestEmulationVersion). */
  versions: number[];
  /** Share of restarts that come back with another version (an upgrade or a rollback): preemptions. */
  upgrade: number;
  /** The coordinator acts this many ms (0 to 10) after a change it sees. */
  reactMs: number;
  /** Quiet phase: (1 + `settle`) x leaseDuration after a leader emerged, a version-0 candidate joins. */
  settle: number;
  /** The leader then runs a job of (0.2 + 1.4 `job`) x renewDeadline: its drain ends before or after the deadline. */
  job: number;
}

/** One simulated run: everything it does follows from these values. */
export interface Scenario {
  /** Seeds the per-request randomness (latencies, fates, jitter). */
  seed: number;
  nodes: number;
  timing: Timing;
  /** Per slot, in [-1, 1]: the clock rate is 1 + value x the allowed skew. */
  skew: number[];
  /** Faults are injected in [0, faultMs); then they clear and liveness is checked. */
  faultMs: number;
  rates: FaultRates;
  faults: Fault[];
  /** A leader crash in the quiet phase, or null. */
  quiet: QuietCrash | null;
  /** Leader-only work on every node, or null. */
  work: WorkPlan | null;
  /** Coordinated election (then `quiet` is null: the quiet phase stages a preemption instead), or null. */
  coordinated: CoordinatedPlan | null;
}

/** Knobs of the generator. */
export interface ScenarioOptions {
  /** Longest fault phase in ms of virtual time. */
  maxFaultMs: number;
  maxFaults: number;
  /** Include faults of user code the elector does not own (a logger that throws). */
  loggerFaults?: boolean;
  /** Leader-only work on every node ({@link WorkPlan}). */
  work?: boolean;
  /** Coordinated election with leader work ({@link CoordinatedPlan}). */
  coordinated?: boolean;
}

/** Numbers in [min, max]. */
type Unit = (min: number, max: number) => fc.Arbitrary<number>;
/**
 * fast-check's doubles, uniform over representable values: nearly all lie within 1e-3 of `min` or `max`
 * (most fault times at the very start or end of the fault phase). Kept for the runs without work, so their
 * seeds replay as before.
 */
const doubles: Unit = (min, max) => fc.double({ min, max, noNaN: true });
/** Uniform in value on a grid of a millionth (with fast-check's usual bias towards the ends), shrinking to `min`. */
const uniform: Unit = (min, max) =>
  fc.integer({ min: 0, max: 1_000_000 }).map((n) => min + ((max - min) * n) / 1_000_000);

export const timingArb: fc.Arbitrary<Timing> = timingOf(doubles);

function timingOf(unit: Unit): fc.Arbitrary<Timing> {
  return fc
    .tuple(
      fc.oneof(
        fc.constant({ leaseDuration: 2000, renewDeadline: 1000, retryPeriod: 250 }),
        fc.constant({ leaseDuration: 15_000, renewDeadline: 10_000, retryPeriod: 2000 }),
        fc.constant({ leaseDuration: 12_000, renewDeadline: 10_000, retryPeriod: 4000 }),
        fc
          .record({
            seconds: fc.integer({ min: 2, max: 20 }),
            deadline: unit(0.4, 0.97),
            retry: unit(0.1, 0.82),
          })
          .map(({ seconds, deadline, retry }) => {
            const leaseDuration = seconds * 1000;
            const renewDeadline = Math.max(200, Math.floor(leaseDuration * deadline));
            return { leaseDuration, renewDeadline, retryPeriod: Math.max(50, Math.floor(renewDeadline * retry)) };
          }),
      ),
      fc.option(unit(0.15, 0.99), { nil: undefined }),
    )
    .map(([timing, timeout]) =>
      timeout === undefined
        ? timing
        : { ...timing, requestTimeout: Math.max(20, Math.floor(timing.renewDeadline * timeout)) },
    );
}

export const ratesArb: fc.Arbitrary<FaultRates> = ratesOf(doubles);

function ratesOf(unit: Unit): fc.Arbitrary<FaultRates> {
  return fc.record({
    lost: unit(0, 0.15),
    drop: unit(0, 0.15),
    error: unit(0, 0.15),
    slow: unit(0, 0.2),
    watchDrop: unit(0, 0.5),
    watchStale: unit(0, 0.2),
    watchHang: unit(0, 0.1),
  });
}

function quietOf(unit: Unit): fc.Arbitrary<QuietCrash> {
  return fc.record({
    watch: fc.constantFrom(
      'healthy' as const,
      'broken' as const,
      'forbidden' as const,
      'slow' as const,
      'replay' as const,
    ),
    settle: unit(0, 1),
    offset: unit(0, 1),
    span: unit(0, 1),
    replayAt: unit(0, 1),
  });
}

function faultArb(options: ScenarioOptions, unit: Unit): fc.Arbitrary<Fault> {
  const at = unit(0, 1);
  // Slots 7 and 8 mean "whoever leads then", so faults hit leaders often.
  const slot = fc.nat(8);
  const span = unit(0, 1);
  const kinds: fc.Arbitrary<Fault>[] = [
    fc.record({ at, kind: fc.constantFrom('crash' as const, 'restart' as const), slot }),
    fc.record({ at, kind: fc.constant('stop' as const), slot, drainMs: fc.oneof(fc.constant(0), fc.nat(5000)) }),
    fc.record({
      at,
      kind: fc.constantFrom(
        'stall' as const,
        'partition' as const,
        'forbid-watch' as const,
        'pause-on-answer' as const,
      ),
      slot,
      span,
    }),
    fc.record({ at, kind: fc.constant('stop-during-hung-connect' as const), slot }),
    fc.record({ at, kind: fc.constant('close-watches' as const), span }),
    fc.record({
      at,
      kind: fc.constant('outside-write' as const),
      variant: fc.constantFrom('touch', 'intruder', 'malformed'),
    }),
    fc.record({ at, kind: fc.constant('delete' as const) }),
    fc.record({ at, kind: fc.constantFrom('stop-on-start' as const, 'reject-listener' as const), slot }),
  ];
  if (options.loggerFaults) kinds.push(fc.record({ at, kind: fc.constant('throwing-logger' as const), slot }));
  return fc.oneof(...kinds);
}

const fraction = uniform(0, 1);

const workArb: fc.Arbitrary<WorkPlan> = fc.record({
  every: fraction,
  long: fraction,
  loops: fraction,
  strict: fraction,
});

const coordinatedArb: fc.Arbitrary<CoordinatedPlan> = fc.record({
  versions: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 7, maxLength: 7 }),
  upgrade: fraction,
  reactMs: fc.integer({ min: 0, max: 10 }),
  settle: fraction,
  job: fraction,
});

/** Generates scenarios; fast-check shrinks them to fewer faults, fewer nodes and shorter runs. */
export function scenarioArb(options: ScenarioOptions): fc.Arbitrary<Scenario> {
  // Runs without work draw exactly what they drew before these options existed; the others draw uniform fractions.
  if (!options.work && !options.coordinated) {
    return baseArb(options, doubles).map((scenario) => ({ ...scenario, work: null, coordinated: null }));
  }
  const base = baseArb(options, uniform);
  // Blips: the leader is cut off for renewDeadline to 0.9 x leaseDuration, so its term ends and it often takes its
  // own still-valid claim back: a second term of the same node while calls of the first still run.
  const blips = fc.array(fc.record({ at: fraction, span: fraction }), { maxLength: 12 });
  return fc
    .tuple(base, workArb, blips, options.coordinated ? coordinatedArb : fc.constant(null))
    .map(([scenario, work, blips, coordinated]) => {
      const { leaseDuration, renewDeadline } = scenario.timing;
      const partitions = blips.map(({ at, span }): Fault => {
        const ms = renewDeadline + span * Math.max(0, 0.9 * leaseDuration - renewDeadline);
        // A partition lasts span x 1.5 x leaseDuration (world.ts); slot 7 is the leader.
        return { at: Math.floor(at * scenario.faultMs), kind: 'partition', slot: 7, span: ms / (1.5 * leaseDuration) };
      });
      return {
        ...scenario,
        faults: [...scenario.faults, ...partitions],
        quiet: coordinated ? null : scenario.quiet,
        work,
        coordinated,
      };
    });
}

function baseArb(options: ScenarioOptions, unit: Unit): fc.Arbitrary<Omit<Scenario, 'work' | 'coordinated'>> {
  return fc
    .record({
      seed: fc.nat(),
      nodes: fc.integer({ min: 3, max: 7 }),
      timing: unit === doubles ? timingArb : timingOf(unit),
      skew: fc.array(unit(-1, 1), { minLength: 7, maxLength: 7 }),
      faultMs: fc.integer({ min: 10_000, max: options.maxFaultMs }),
      rates: unit === doubles ? ratesArb : ratesOf(unit),
      faults: fc.array(faultArb(options, unit), { maxLength: options.maxFaults, size: 'max' }),
      quiet: fc.option(quietOf(unit), { nil: null, freq: 6 }),
    })
    .map((scenario) => ({
      ...scenario,
      // Fault times are fractions of the fault phase, so shrinking the phase keeps them inside it.
      faults: scenario.faults.map((fault) => ({ ...fault, at: Math.floor(fault.at * scenario.faultMs) })),
    }));
}
