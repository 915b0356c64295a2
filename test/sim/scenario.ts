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
}

/** Knobs of the generator. */
export interface ScenarioOptions {
  /** Longest fault phase in ms of virtual time. */
  maxFaultMs: number;
  maxFaults: number;
  /** Include faults of user code the elector does not own (a logger that throws). */
  loggerFaults?: boolean;
}

const timingArb: fc.Arbitrary<Timing> = fc
  .tuple(
    fc.oneof(
      fc.constant({ leaseDuration: 2000, renewDeadline: 1000, retryPeriod: 250 }),
      fc.constant({ leaseDuration: 15_000, renewDeadline: 10_000, retryPeriod: 2000 }),
      fc.constant({ leaseDuration: 12_000, renewDeadline: 10_000, retryPeriod: 4000 }),
      fc
        .record({
          seconds: fc.integer({ min: 2, max: 20 }),
          deadline: fc.double({ min: 0.4, max: 0.97, noNaN: true }),
          retry: fc.double({ min: 0.1, max: 0.82, noNaN: true }),
        })
        .map(({ seconds, deadline, retry }) => {
          const leaseDuration = seconds * 1000;
          const renewDeadline = Math.max(200, Math.floor(leaseDuration * deadline));
          return { leaseDuration, renewDeadline, retryPeriod: Math.max(50, Math.floor(renewDeadline * retry)) };
        }),
    ),
    fc.option(fc.double({ min: 0.15, max: 0.99, noNaN: true }), { nil: undefined }),
  )
  .map(([timing, timeout]) =>
    timeout === undefined
      ? timing
      : { ...timing, requestTimeout: Math.max(20, Math.floor(timing.renewDeadline * timeout)) },
  );

const ratesArb: fc.Arbitrary<FaultRates> = fc.record({
  lost: fc.double({ min: 0, max: 0.15, noNaN: true }),
  drop: fc.double({ min: 0, max: 0.15, noNaN: true }),
  error: fc.double({ min: 0, max: 0.15, noNaN: true }),
  slow: fc.double({ min: 0, max: 0.2, noNaN: true }),
  watchDrop: fc.double({ min: 0, max: 0.5, noNaN: true }),
  watchStale: fc.double({ min: 0, max: 0.2, noNaN: true }),
  watchHang: fc.double({ min: 0, max: 0.1, noNaN: true }),
});

const quietArb: fc.Arbitrary<QuietCrash> = fc.record({
  watch: fc.constantFrom(
    'healthy' as const,
    'broken' as const,
    'forbidden' as const,
    'slow' as const,
    'replay' as const,
  ),
  settle: fc.double({ min: 0, max: 1, noNaN: true }),
  offset: fc.double({ min: 0, max: 1, noNaN: true }),
  span: fc.double({ min: 0, max: 1, noNaN: true }),
  replayAt: fc.double({ min: 0, max: 1, noNaN: true }),
});

function faultArb(options: ScenarioOptions): fc.Arbitrary<Fault> {
  const at = fc.double({ min: 0, max: 1, noNaN: true });
  // Slots 7 and 8 mean "whoever leads then", so faults hit leaders often.
  const slot = fc.nat(8);
  const span = fc.double({ min: 0, max: 1, noNaN: true });
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

/** Generates scenarios; fast-check shrinks them to fewer faults, fewer nodes and shorter runs. */
export function scenarioArb(options: ScenarioOptions): fc.Arbitrary<Scenario> {
  return fc
    .record({
      seed: fc.nat(),
      nodes: fc.integer({ min: 3, max: 7 }),
      timing: timingArb,
      skew: fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 7, maxLength: 7 }),
      faultMs: fc.integer({ min: 10_000, max: options.maxFaultMs }),
      rates: ratesArb,
      faults: fc.array(faultArb(options), { maxLength: options.maxFaults, size: 'max' }),
      quiet: fc.option(quietArb, { nil: null, freq: 6 }),
    })
    .map((scenario) => ({
      ...scenario,
      // Fault times are fractions of the fault phase, so shrinking the phase keeps them inside it.
      faults: scenario.faults.map((fault) => ({ ...fault, at: Math.floor(fault.at * scenario.faultMs) })),
    }));
}
