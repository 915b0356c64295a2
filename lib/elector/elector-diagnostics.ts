import type { ElectorLogger } from './elector-options.js';
import type { FencingScheme } from './fencing-token.js';
import type { ElectorOperation } from './leader-election.events.js';
import type { LeaseReadResult } from './lease-lock.js';
import type { LeaseLockError } from './lease-lock.errors.js';

/** Where the elector is in its life. */
export type ElectorState = 'idle' | 'candidate' | 'leader' | 'stopping' | 'stopped';

/** The last failed API call, as kept for health checks. */
export interface ElectorErrorRecord {
  operation: ElectorOperation;
  reason: LeaseLockError['reason'];
  message: string;
  /** Monotonic ms (the elector's clock). */
  at: number;
}

/** Failures of one reason in a row, with no success in between. */
export interface ErrorStreak {
  reason: LeaseLockError['reason'];
  since: number;
  count: number;
}

/**
 * What the election loop is doing: sending an attempt, sleeping until
 * `wakeAt`, or briefly neither between the two. Times are monotonic ms.
 */
export interface LoopActivity {
  phase: 'attempt' | 'sleep' | 'idle';
  since: number;
  /** When the sleep is due to end; null unless sleeping. */
  wakeAt: number | null;
}

/**
 * The follower's watch. `open` streams changes; `connecting` waits for the
 * server; `retrying` waits until `retryAt` to reconnect (polling meanwhile);
 * `off` when watching is disabled or unsupported; `ended` once the watch task
 * is over.
 */
export interface WatchActivity {
  state: 'off' | 'connecting' | 'open' | 'retrying' | 'ended';
  since: number;
  /** When a `retrying` watch reconnects, or an `open` one is due to be reopened (its timeout). */
  dueAt: number | null;
  /** Last event or bookmark received, or null. */
  lastEventAt: number | null;
  /** The last reason the watch failed, or null. */
  lastFailure: string | null;
}

/** A snapshot of the elector's progress, for health checks and debugging. Times are monotonic ms. */
export interface ElectorDiagnostics {
  state: ElectorState;
  isLeader: boolean;
  /** When `start()` was called, or null. */
  startedAt: number | null;
  /** When the last acquire/renew attempt finished, successful or not, or null. */
  lastAttemptCompletedAt: number | null;
  /** Send time of the last successful write by this candidate (acquire or renew), or null. */
  lastSuccessfulWriteSentAt: number | null;
  /** The most recent failed call (conflicts excluded), or null. */
  lastError: ElectorErrorRecord | null;
  /** Since when calls have failed with the same reason without a success in between, or null. */
  errorStreak: ErrorStreak | null;
  /** Set when the election loop died of an unexpected exception. */
  loopError: string | null;
  /** What the election loop is doing now. */
  loop: LoopActivity;
  /** The follower's watch. */
  watch: WatchActivity;
  /** Where fencing tokens come from; null until the first term is about to begin. */
  fencingScheme: FencingScheme | null;
}

const ERROR_LOG_REPEAT_MS = 60_000;

/**
 * Failures that do not heal by waiting: rejected credentials, RBAC, a missing namespace, an object
 * the API server rejects, a bad client configuration. The elector's back-off,
 * the health rules and a spreading group's withdrawal all use this one set.
 */
export const CONFIGURATION_ERROR_REASONS: ReadonlySet<LeaseLockError['reason']> = new Set([
  'unauthorized',
  'forbidden',
  'not_found',
  'invalid',
  'other',
]);

/** Whether `reason` is one of {@link CONFIGURATION_ERROR_REASONS}. */
export function isConfigurationError(reason: LeaseLockError['reason'] | null | undefined): boolean {
  return reason !== null && reason !== undefined && CONFIGURATION_ERROR_REASONS.has(reason);
}

/**
 * The streak of a configuration error that has lasted longer than
 * `leaseDuration` with no answer in between, else null. A restarting API
 * server answers 403 for a few seconds; only a streak this long means the
 * configuration is wrong (readiness goes down, a group member withdraws).
 */
export function persistentConfigurationError(
  diagnostics: ElectorDiagnostics,
  now: number,
  leaseDuration: number,
): ErrorStreak | null {
  const campaigning = diagnostics.state === 'candidate' || diagnostics.state === 'leader';
  const streak = diagnostics.errorStreak;
  return campaigning && streak && isConfigurationError(streak.reason) && now - streak.since > leaseDuration
    ? streak
    : null;
}

/**
 * The elector's memory of failures: the streak that drives backoff and
 * health, and log throttling so a persistent error is logged once a minute
 * and a malformed record once per kind of problem.
 */
export class ElectorFailures {
  /** Failed calls in a row, conflicts included. */
  consecutive = 0;
  lastReason: LeaseLockError['reason'] | null = null;
  lastError: ElectorErrorRecord | null = null;

  /** The last call failed for a reason other than losing a race (a 409 only means another candidate won). */
  get failing(): boolean {
    return this.consecutive > 0 && this.lastReason !== 'conflict';
  }
  streak: ErrorStreak | null = null;
  private lastLog: { message: string; at: number; repeats: number } | null = null;
  private readonly reportedProblems = new Set<string>();

  constructor(
    private readonly logger: ElectorLogger,
    private readonly describe: () => string,
  ) {}

  /** A call got an answer (a write landed, or the Lease is validly held by another): the streak ends. */
  clear(): void {
    this.consecutive = 0;
    this.streak = null;
  }

  /** A write landed: later failures are logged afresh. */
  succeeded(): void {
    this.clear();
    this.lastLog = null;
  }

  record(operation: ElectorOperation, error: LeaseLockError, at: number): void {
    this.consecutive++;
    this.lastReason = error.reason;
    if (error.reason === 'conflict') {
      // The API server authorized and judged the write: whatever configuration error came before is over.
      this.streak = null;
    } else {
      this.lastError = { operation, reason: error.reason, message: error.message, at };
      if (this.streak?.reason === error.reason) this.streak.count++;
      else this.streak = { reason: error.reason, since: at, count: 1 };
    }
    this.log(operation, error, at);
  }

  log(operation: ElectorOperation, error: LeaseLockError, at: number): void {
    if (error.reason === 'conflict') {
      this.logger.debug?.(`${operation}: ${error.message} (another candidate wrote first)`);
      return;
    }
    const last = this.lastLog;
    if (last && last.message === error.message && at - last.at < ERROR_LOG_REPEAT_MS) {
      last.repeats++;
      return;
    }
    const repeats =
      last && last.message === error.message && last.repeats > 0 ? ` (repeated ${last.repeats} times)` : '';
    const line = `${operation} failed [${error.reason}]: ${error.message}${repeats}`;
    if (error.reason === 'timeout' || error.reason === 'unavailable') this.logger.warn(line);
    else this.logger.error(line);
    this.lastLog = { message: error.message, at, repeats: 0 };
  }

  /** Warns about a malformed stored record, once per field and kind of problem. */
  reportMalformed(read: LeaseReadResult): void {
    for (const { field, problem, kind } of read.normalized?.problems ?? []) {
      // By class, not text: a holder writing a bad renewTime writes a new one on every renewal.
      const key = `${field}: ${kind ?? problem}`;
      if (this.reportedProblems.has(key)) continue;
      this.reportedProblems.add(key);
      this.logger.warn(`malformed lease ${this.describe()}: ${field}: ${problem}`);
    }
  }
}
