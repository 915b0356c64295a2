import { sleep, type TimerHandle } from './clock.js';
import {
  JITTER_FACTOR,
  resolveElectorOptions,
  type LeaderElectorOptions,
  type ResolvedElectorOptions,
} from './elector-options.js';
import type { LeaderElectionEvent, LeaderElectionListener, ElectorOperation } from './leader-election.events.js';
import { LeadershipEndedError, type LeadershipTerm, type TermEndReason } from './leadership-term.js';
import type { LeaseReadResult } from './lease-lock.js';
import { asLeaseLockError, type LeaseLockError } from './lease-lock.errors.js';
import { formatMicroTime, sameRecord, type LeaseRecord, type LeaseSnapshot } from './lease-record.js';

/** Where the elector is in its life. */
export type ElectorState = 'idle' | 'candidate' | 'leader' | 'stopping' | 'stopped';

/** Options of {@link LeaderElector.stop}. */
export interface StopOptions {
  /**
   * Runs after the term's signal has aborted and before the Lease is
   * released. The Lease keeps being renewed meanwhile, so no other replica
   * starts leader work while ours is still finishing.
   */
  drain?: () => Promise<void>;
}

/** The last failed API call, as kept for health checks. */
export interface ElectorErrorRecord {
  operation: ElectorOperation;
  reason: LeaseLockError['reason'];
  message: string;
  /** Monotonic ms (the elector's clock). */
  at: number;
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
  errorStreak: { reason: LeaseLockError['reason']; since: number; count: number } | null;
  /** Set when the election loop died of an unexpected exception. */
  loopError: string | null;
}

interface LiveTerm {
  term: LeadershipTerm;
  controller: AbortController;
}

const CONFIG_ERROR_REASONS = new Set(['forbidden', 'invalid', 'not_found', 'other']);
const ERROR_LOG_REPEAT_MS = 60_000;
/** Random spread of watch-driven attempts, so followers woken by the same event do not all collide. */
const HANDOVER_SPREAD_MS = 5;
/** Longest pause between attempts to open a watch that was forbidden. */
const MAX_WATCH_RETRY_MS = 5 * 60_000;
const CONFIG_ERRORS_BEFORE_BACKOFF = 3;
const MAX_BACKOFF_FACTOR = 4;

/**
 * Elects one leader among candidates sharing a Lease, with client-go's
 * algorithm: followers judge expiry only by their own monotonic clock from the
 * moment they saw the record change, using the record's lease duration.
 *
 * Guarantee: at most one candidate considers itself leader at a time while the
 * clock-rate difference between any two candidates stays below
 * leaseDuration / renewDeadline, because a leader deposes itself renewDeadline
 * after sending its last successful renewal, and nobody takes over earlier
 * than leaseDuration after observing that renewal land.
 *
 * Unlike client-go's `Run`, the elector is long-lived: after a term ends it
 * becomes a candidate again until {@link LeaderElector.stop}.
 */
export class LeaderElector {
  /** Resolved options (defaults applied). */
  readonly options: ResolvedElectorOptions;

  private stateValue: ElectorState = 'idle';
  private live: LiveTerm | null = null;
  private observed: LeaseSnapshot | null = null;
  private observedAt = 0;
  private reportedLeader: string | null = null;
  private lastRenewSentAt = Number.NEGATIVE_INFINITY;
  private deadlineTimer: TimerHandle | null = null;
  private holdForDrain = false;
  private renewAttemptedSinceSuccess = false;
  private nextAttemptAt = 0;
  private watchHealthy = false;
  private watchFrom: string | undefined;
  private watchController: AbortController | null = null;
  private readonly stopController = new AbortController();
  private watchedRelease: LeaseReadResult | null = null;
  /** Highest `leaseTransitions` seen or written; -1 before any. */
  private highestTransitions = -1;
  private startedAt: number | null = null;
  private lastAttemptCompletedAt: number | null = null;
  private lastError: ElectorErrorRecord | null = null;
  private errorStreak: { reason: LeaseLockError['reason']; since: number; count: number } | null = null;
  private loopError: string | null = null;
  private stopRequested = false;
  private wakeController = new AbortController();
  private loop: Promise<void> | null = null;
  private watching: Promise<void> | null = null;
  private inFlight: Promise<unknown> | null = null;
  private wroteOnce = false;
  private consecutiveErrors = 0;
  private lastFailureReason: LeaseLockError['reason'] | null = null;
  private readonly listeners = new Set<LeaderElectionListener>();
  private readonly reportedProblems = new Set<string>();
  private lastErrorLog: { message: string; at: number; repeats: number } | null = null;
  private stopping: Promise<void> | null = null;

  /** Validates options; throws `InvalidLeaderElectionOptionError` naming the field. Does not start. */
  constructor(options: LeaderElectorOptions) {
    this.options = resolveElectorOptions(options);
  }

  /** This candidate's identity. */
  get identity(): string {
    return this.options.identity;
  }

  /** Current state; reading it notices an expired renew deadline. */
  get state(): ElectorState {
    this.checkRenewDeadline();
    return this.stateValue;
  }

  /**
   * True only while less than renewDeadline has passed since the send time of
   * our last successful renewal, on the monotonic clock. Computed on every
   * read, so it turns false on time even if the event loop was blocked and
   * no timer has fired yet.
   */
  get isLeader(): boolean {
    this.checkRenewDeadline();
    return this.live !== null;
  }

  /** The current term, or null when not leading. */
  get term(): LeadershipTerm | null {
    this.checkRenewDeadline();
    return this.live?.term ?? null;
  }

  /**
   * The holder we currently believe valid: ourselves while leading, else the
   * observed holder until its lease expires by our observation, else null.
   */
  get leader(): string | null {
    if (this.isLeader) return this.identity;
    const observedHolder = this.observed?.record.holderIdentity ?? '';
    if (observedHolder === '' || observedHolder === this.identity || !this.observedValid()) return null;
    return observedHolder;
  }

  /** Registers a listener for leadership events; returns a function that removes it. */
  subscribe(listener: LeaderElectionListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Becomes a candidate. Returns at once; leadership arrives through events or {@link waitForLeadership}. */
  start(): void {
    if (this.stateValue !== 'idle') {
      throw new Error(
        `LeaderElector for ${this.options.lock.describe()} was already started (state ${this.stateValue}).`,
      );
    }
    this.stateValue = 'candidate';
    this.options.logger.log(
      `candidate ${this.identity} for lease ${this.options.lock.describe()} ` +
        `(lease ${this.options.leaseDuration}ms, renew deadline ${this.options.renewDeadline}ms, retry ${this.options.retryPeriod}ms)`,
    );
    this.startedAt = this.options.clock.now();
    this.watching = this.watchLoop().catch((error: unknown) => {
      this.options.logger.warn(`lease watch stopped: ${(error as Error)?.message ?? String(error)}; polling instead`);
      this.setWatchHealthy(false);
    });
    this.loop = this.run().catch((error: unknown) => {
      this.loopError = (error as Error)?.stack ?? String(error);
      this.options.logger.error(`elector loop crashed: ${this.loopError}`);
      this.endTerm('shutdown');
      this.stateValue = 'stopped';
      this.emit({ type: 'elector-stopped' });
    });
  }

  /**
   * Resolves with the term once we lead. Rejects if `signal` aborts or the
   * elector stops first.
   */
  waitForLeadership(signal?: AbortSignal): Promise<LeadershipTerm> {
    const current = this.term;
    if (current) return Promise.resolve(current);
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        unsubscribe();
        signal?.removeEventListener('abort', onAbort);
      };
      const onAbort = () => {
        cleanup();
        reject(signal?.reason ?? new Error('aborted'));
      };
      const unsubscribe = this.subscribe((event) => {
        if (event.type === 'started-leading') {
          cleanup();
          resolve(event.term);
        } else if (event.type === 'elector-stopped') {
          cleanup();
          reject(new Error(`LeaderElector for ${this.options.lock.describe()} stopped before becoming leader.`));
        }
      });
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Ends candidacy. The current term ends first (its signal aborts and
   * `stopped-leading` fires), then `drain` runs while the Lease is still
   * renewed, then, with `releaseOnStop`, the Lease is released once no
   * request is in flight. Idempotent.
   */
  stop(options: StopOptions = {}): Promise<void> {
    if (this.stopping) return this.stopping;
    this.stopping = this.doStop(options);
    return this.stopping;
  }

  private async doStop(options: StopOptions): Promise<void> {
    if (this.stateValue === 'idle') {
      this.stateValue = 'stopped';
      this.emit({ type: 'elector-stopped' });
      return;
    }
    // A term whose renew deadline already passed (a stall nobody noticed yet) ended by that deadline, not by stop.
    this.checkRenewDeadline();
    this.stopRequested = true;
    this.stopController.abort();
    this.watchController?.abort();
    this.stateValue = 'stopping';
    this.holdForDrain = this.live !== null && options.drain !== undefined;
    this.endTerm('shutdown');
    try {
      if (options.drain) await options.drain();
    } catch (error) {
      this.options.logger.warn(`drain before release failed: ${(error as Error)?.message ?? String(error)}`);
    } finally {
      this.holdForDrain = false;
      this.wake();
    }
    // A lock that ignores its abort signal must not hang shutdown: wait a bounded time, and
    // release only once no request is in flight (a late renewal could otherwise re-acquire).
    const { clock, requestTimeout, logger, lock } = this.options;
    const giveUp = new AbortController();
    const settled = await Promise.race([
      Promise.all([this.loop, this.watching, this.inFlight?.catch(() => undefined)]).then(() => true),
      sleep(clock, requestTimeout * 3, giveUp.signal).then(() => false),
    ]);
    giveUp.abort();
    if (!settled) {
      logger.warn(`a request to lease ${lock.describe()} ignored its deadline; stopping without releasing`);
    } else if (this.options.releaseOnStop && this.wroteOnce) {
      await this.release();
    }
    this.clearDeadlineTimer();
    this.stateValue = 'stopped';
    this.emit({ type: 'elector-stopped' });
  }

  // ---------------------------------------------------------------- loops

  private async run(): Promise<void> {
    while (!this.stopRequested) {
      if (!(await this.acquire())) return;
      await this.renewWhileLeading();
    }
  }

  /** Tries until we acquire (true) or stop is requested (false). */
  private async acquire(): Promise<boolean> {
    while (!this.stopRequested) {
      const acquired = await this.attempt('acquire');
      if (this.stopRequested) return false;
      if (acquired) {
        this.beginTerm();
        return true;
      }
      this.nextAttemptAt = this.options.clock.now() + (this.watchedDelay() ?? this.acquireDelay());
      // A watch event may move the next attempt earlier or later; re-check after every wake-up.
      while (!this.stopRequested && this.options.clock.now() < this.nextAttemptAt) {
        await sleep(this.options.clock, this.nextAttemptAt - this.options.clock.now(), this.wakeController.signal);
      }
    }
    return false;
  }

  /**
   * With a healthy watch, a follower needs no polling: it tries right after a
   * release (with a few ms of spread against 409 storms) and otherwise exactly
   * when the observed claim expires by its own clock. Null means poll.
   */
  private watchedDelay(): number | null {
    // Errors fall back to the polling cadence; a 409 does not: it only means another candidate won, and the
    // watch is about to deliver its record.
    const failing = this.consecutiveErrors > 0 && this.lastFailureReason !== 'conflict';
    if (!this.watchHealthy || failing) return null;
    const { clock, random } = this.options;
    const spread = random() * HANDOVER_SPREAD_MS;
    const holder = this.observed?.record.holderIdentity ?? '';
    if (!this.observed || holder === '' || holder === this.identity) return spread;
    return Math.max(0, this.observedExpiry() - clock.now()) + spread;
  }

  // ------------------------------------------------------------------ watch

  /** Keeps a watch on the Lease open while a candidate; falls back to polling when it cannot. */
  private async watchLoop(): Promise<void> {
    const { lock, clock, retryPeriod, leaseDuration, logger } = this.options;
    if (!lock.watch || !this.options.watch) return;
    let failures = 0;
    let forbidden = 0;
    while (!this.stopRequested) {
      const controller = new AbortController();
      this.watchController = controller;
      try {
        const watch = await lock.watch(
          {
            onChange: (snapshot) => this.onWatchedChange(snapshot),
            onBookmark: (resourceVersion) => (this.watchFrom = resourceVersion || this.watchFrom),
          },
          this.watchFrom,
          controller.signal,
        );
        this.setWatchHealthy(true);
        failures = 0;
        forbidden = 0;
        this.reschedule();
        await watch.done;
      } catch (error) {
        if (this.stopRequested) break;
        const failure = asLeaseLockError(error);
        this.setWatchHealthy(false);
        if (failure.reason === 'forbidden') {
          // Usually RBAC without "watch"; but a starting apiserver also answers 403 for a moment, so keep
          // polling and try the watch again now and then instead of giving up for good.
          forbidden++;
          if (forbidden === 1) {
            logger.warn(
              `cannot watch lease ${lock.describe()} (${failure.message}); following it by polling every ` +
                `${retryPeriod}ms instead, as client-go does. Grant "watch" on the Lease to get instant hand-overs.`,
            );
            this.emit({ type: 'follower-mode', mode: 'poll', reason: failure.message });
          }
          await sleep(
            clock,
            Math.min(leaseDuration * 2 ** Math.min(forbidden - 1, 10), MAX_WATCH_RETRY_MS),
            this.stopController.signal,
          );
          continue;
        }
        if (failure.status === 410) {
          this.watchFrom = undefined; // too old: start again from the current state
          continue;
        }
        if (!controller.signal.aborted) {
          failures++;
          logger.debug?.(`watch of ${lock.describe()} failed (${failure.message}); polling until it reconnects`);
          await sleep(
            clock,
            Math.min(retryPeriod * 2 ** Math.min(failures - 1, 6), leaseDuration),
            this.stopController.signal,
          );
        }
      } finally {
        this.setWatchHealthy(false);
      }
    }
  }

  private setWatchHealthy(healthy: boolean): void {
    if (healthy === this.watchHealthy) return;
    this.watchHealthy = healthy;
    this.emit({ type: 'follower-mode', mode: healthy ? 'watch' : 'poll' });
  }

  private onWatchedChange(snapshot: LeaseReadResult | null): void {
    if (snapshot) this.watchFrom = snapshot.resourceVersion || this.watchFrom;
    // A leader renews on its own schedule; only candidates act on watched changes.
    if (this.live !== null || this.holdForDrain || this.stopRequested) return;
    if (snapshot) this.observe(snapshot);
    // A release just watched is as good as a fresh GET: the PUT is conditional on its resourceVersion.
    this.watchedRelease = snapshot && snapshot.record.holderIdentity === '' ? snapshot : null;
    this.reschedule();
  }

  /** Recomputes when a candidate should next try, after new information arrived. */
  private reschedule(): void {
    if (this.live !== null || this.stopRequested || this.stateValue !== 'candidate') return;
    const delay = this.watchedDelay();
    if (delay === null) return;
    this.nextAttemptAt = this.options.clock.now() + delay;
    this.wake();
  }

  /** The watch missed a change that a GET revealed: reopen it from the GET's resourceVersion. */
  private restartWatch(resourceVersion: string): void {
    if (!this.watchHealthy) return;
    this.watchFrom = resourceVersion;
    this.watchController?.abort();
  }

  /** Renews every retryPeriod until the term ends (or, while draining, until the drain is over). */
  private async renewWhileLeading(): Promise<void> {
    while (this.live !== null || this.holdForDrain) {
      await sleep(this.options.clock, this.options.retryPeriod, this.wakeController.signal);
      if (this.stopRequested && !this.holdForDrain) return;
      this.checkRenewDeadline();
      if (this.live === null && !this.holdForDrain) return;
      this.renewAttemptedSinceSuccess = true;
      const renewed = await this.attempt('renew');
      this.checkRenewDeadline();
      if (renewed) continue;
      const holder = this.observed?.record.holderIdentity ?? '';
      if (holder !== '' && holder !== this.identity && this.observedValid()) {
        this.options.logger.warn(`lease ${this.options.lock.describe()} is now held by ${holder}; stepping down`);
        this.endTerm('stolen');
        this.holdForDrain = false;
        return;
      }
      if (this.options.clock.now() >= this.lastRenewSentAt + this.options.renewDeadline) {
        this.holdForDrain = false;
        return;
      }
    }
  }

  /**
   * client-go's jittered retry period. Repeated configuration errors (RBAC,
   * invalid, missing namespace) back off up to 4x, but only after a few in a
   * row: an apiserver that is starting up answers 403 for a moment, and that
   * must not delay recovery.
   */
  private acquireDelay(): number {
    const { retryPeriod, random } = this.options;
    const configErrors =
      this.lastFailureReason !== null && CONFIG_ERROR_REASONS.has(this.lastFailureReason) ? this.consecutiveErrors : 0;
    const base =
      configErrors > CONFIG_ERRORS_BEFORE_BACKOFF
        ? Math.max(
            retryPeriod,
            Math.min(
              retryPeriod * Math.min(2 ** (configErrors - CONFIG_ERRORS_BEFORE_BACKOFF), MAX_BACKOFF_FACTOR),
              // Keep a full jittered pause under leaseDuration, so the health check never mistakes backoff for a wedge.
              this.options.leaseDuration / (1 + JITTER_FACTOR),
            ),
          )
        : retryPeriod;
    return base + random() * JITTER_FACTOR * base;
  }

  private wake(): void {
    this.wakeController.abort();
    this.wakeController = new AbortController();
  }

  // ------------------------------------------------------ acquire or renew

  private attempt(operation: ElectorOperation): Promise<boolean> {
    const attempt = this.tryAcquireOrRenew(operation);
    this.inFlight = attempt;
    return attempt.finally(() => {
      this.lastAttemptCompletedAt = this.options.clock.now();
      if (this.inFlight === attempt) this.inFlight = null;
    });
  }

  /** Progress snapshot for health checks: see {@link ElectorDiagnostics}. */
  get diagnostics(): ElectorDiagnostics {
    const isLeader = this.isLeader;
    return {
      state: this.stateValue,
      isLeader,
      startedAt: this.startedAt,
      lastAttemptCompletedAt: this.lastAttemptCompletedAt,
      lastSuccessfulWriteSentAt: Number.isFinite(this.lastRenewSentAt) ? this.lastRenewSentAt : null,
      lastError: this.lastError,
      errorStreak: this.errorStreak ? { ...this.errorStreak } : null,
      loopError: this.loopError,
    };
  }

  /** client-go's tryAcquireOrRenew: fast path for a leader, else GET then CREATE or UPDATE. */
  private async tryAcquireOrRenew(operation: ElectorOperation): Promise<boolean> {
    const { lock, clock } = this.options;
    const started = clock.now();
    const leading = this.live !== null || this.holdForDrain;

    if (leading && this.observed && this.observedValid()) {
      const record: LeaseRecord = {
        ...this.observed.record,
        holderIdentity: this.identity,
        leaseDurationSeconds: this.options.leaseDuration / 1000,
        renewTime: formatMicroTime(clock.wallNow()),
      };
      const observedVersion = this.observed.resourceVersion;
      const sentAt = clock.now();
      try {
        this.wroteOnce = true;
        const written = await this.call((signal) => lock.update(record, observedVersion, signal));
        this.recordWrite(written, sentAt, operation, started, false);
        return true;
      } catch (error) {
        this.options.logger.debug?.(
          `optimistic renew of ${lock.describe()} failed (${asLeaseLockError(error).message}); falling back to GET`,
        );
      }
    }

    let current: LeaseReadResult;
    const watchedRelease = leading ? null : this.watchedRelease;
    this.watchedRelease = null;
    try {
      // After a watched release, skip the GET: a stale snapshot only costs a 409, and the hand-over one round trip.
      current = watchedRelease ?? (await this.call((signal) => lock.get(signal)));
    } catch (error) {
      const failure = asLeaseLockError(error);
      if (failure.reason !== 'not_found') return this.fail(operation, failure);
      // The Lease vanished while another holder's claim is still valid by our
      // observation: it was deleted under a live leader, who will re-create it.
      // Wait that claim out instead of creating a second leader.
      const lastHolder = this.observed?.record.holderIdentity ?? '';
      if (!leading && lastHolder !== '' && lastHolder !== this.identity && this.observedValid()) {
        this.clearFailures();
        return false;
      }
      const now = formatMicroTime(clock.wallNow());
      const record: LeaseRecord = {
        holderIdentity: this.identity,
        leaseDurationSeconds: this.options.leaseDuration / 1000,
        acquireTime: now,
        renewTime: now,
        // A re-created Lease (deleted under us) continues from the highest count we have seen, so fencing tokens
        // never go back: a running term keeps its token, a new term takes the next one.
        leaseTransitions: leading ? Math.max(this.highestTransitions, 0) : this.highestTransitions + 1,
      };
      const sentAt = clock.now();
      try {
        this.wroteOnce = true;
        const written = await this.call((signal) => lock.create(record, signal));
        this.recordWrite(written, sentAt, operation, started, leading);
        return true;
      } catch (createError) {
        return this.fail(operation, asLeaseLockError(createError));
      }
    }

    const changed = !this.observed || !sameRecord(this.observed.record, current.record);
    this.observe(current);
    if (changed && !leading) this.restartWatch(current.resourceVersion);
    const old = current.record;
    if (old.holderIdentity !== '' && old.holderIdentity !== this.identity && this.observedValid()) {
      this.clearFailures();
      return false;
    }

    const now = formatMicroTime(clock.wallNow());
    // A renewal keeps acquireTime and the transition count; any new term bumps
    // the count, even when the record already names us, so fencing tokens
    // strictly increase across our own terms too.
    const renewing = leading && old.holderIdentity === this.identity;
    const record: LeaseRecord = {
      ...old,
      holderIdentity: this.identity,
      leaseDurationSeconds: this.options.leaseDuration / 1000,
      renewTime: now,
      acquireTime:
        renewing && old.acquireTime !== null && !Number.isNaN(Date.parse(old.acquireTime)) ? old.acquireTime : now,
      // The high-water mark survives an outside writer resetting the count (a wiped spec), so tokens never go back.
      leaseTransitions: renewing
        ? Math.max(old.leaseTransitions, this.highestTransitions)
        : Math.max(old.leaseTransitions, this.highestTransitions) + 1,
    };
    const sentAt = clock.now();
    try {
      this.wroteOnce = true;
      const written = await this.call((signal) => lock.update(record, current.resourceVersion, signal));
      this.recordWrite(written, sentAt, operation, started, leading);
      return true;
    } catch (error) {
      return this.fail(operation, asLeaseLockError(error));
    }
  }

  /** Runs one API call with a signal that aborts after requestTimeout, or at the renew deadline while leading. */
  private async call<T>(send: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const { clock, requestTimeout, renewDeadline } = this.options;
    let timeout = requestTimeout;
    if (this.live !== null) timeout = Math.min(timeout, this.lastRenewSentAt + renewDeadline - clock.now());
    const controller = new AbortController();
    if (timeout <= 0) controller.abort();
    const handle = timeout > 0 ? clock.setTimeout(() => controller.abort(), timeout) : null;
    try {
      return await send(controller.signal);
    } finally {
      if (handle !== null) clock.clearTimeout(handle);
    }
  }

  private recordWrite(
    written: LeaseSnapshot,
    sentAt: number,
    operation: ElectorOperation,
    started: number,
    slowPath: boolean,
  ): void {
    const { clock } = this.options;
    this.clearFailures();
    this.lastErrorLog = null;
    this.setObserved(written, clock.now());
    const stillLeading = this.live !== null || this.holdForDrain;
    if (stillLeading || operation === 'acquire') {
      this.lastRenewSentAt = sentAt;
      this.renewAttemptedSinceSuccess = false;
      this.armDeadlineTimer();
    }
    if (operation === 'renew' && stillLeading) {
      this.emit({ type: 'renewed', durationMs: clock.now() - started, slowPath });
    }
  }

  /** A call got an answer (a write landed, or the Lease is validly held by another): the error streak ends. */
  private clearFailures(): void {
    this.consecutiveErrors = 0;
    this.errorStreak = null;
  }

  private fail(operation: ElectorOperation, error: LeaseLockError): false {
    this.consecutiveErrors++;
    this.lastFailureReason = error.reason;
    if (error.reason !== 'conflict') {
      const at = this.options.clock.now();
      this.lastError = { operation, reason: error.reason, message: error.message, at };
      if (this.errorStreak?.reason === error.reason) this.errorStreak.count++;
      else this.errorStreak = { reason: error.reason, since: at, count: 1 };
    }
    this.emit({ type: 'error', operation, error });
    this.logError(operation, error);
    return false;
  }

  private logError(operation: ElectorOperation, error: LeaseLockError): void {
    const { logger, clock } = this.options;
    if (error.reason === 'conflict') {
      logger.debug?.(`${operation}: ${error.message} (another candidate wrote first)`);
      return;
    }
    const now = clock.now();
    const last = this.lastErrorLog;
    if (last && last.message === error.message && now - last.at < ERROR_LOG_REPEAT_MS) {
      last.repeats++;
      return;
    }
    const repeats =
      last && last.message === error.message && last.repeats > 0 ? ` (repeated ${last.repeats} times)` : '';
    const line = `${operation} failed [${error.reason}]: ${error.message}${repeats}`;
    if (error.reason === 'timeout' || error.reason === 'unavailable') logger.warn(line);
    else logger.error(line);
    this.lastErrorLog = { message: error.message, at: now, repeats: 0 };
  }

  // ------------------------------------------------------------ observation

  private observe(read: LeaseReadResult): void {
    if (read.normalized) {
      for (const { field, problem, kind } of read.normalized.problems) {
        // De-duplicated by class, not text: a holder that writes a future or unparsable renewTime writes a new
        // one on every renewal, which must not log a warning every retryPeriod.
        const key = `${field}: ${kind ?? problem}`;
        if (this.reportedProblems.has(key)) continue;
        this.reportedProblems.add(key);
        this.options.logger.warn(`malformed lease ${this.options.lock.describe()}: ${field}: ${problem}`);
      }
    }
    if (this.observed && sameRecord(this.observed.record, read.record)) {
      this.observed = { record: read.record, resourceVersion: read.resourceVersion };
      return;
    }
    this.setObserved(read, this.options.clock.now());
  }

  private setObserved(snapshot: LeaseSnapshot, at: number): void {
    this.highestTransitions = Math.max(this.highestTransitions, snapshot.record.leaseTransitions);
    this.observed = { record: snapshot.record, resourceVersion: snapshot.resourceVersion };
    this.observedAt = at;
    const holder = snapshot.record.holderIdentity === '' ? null : snapshot.record.holderIdentity;
    if (holder !== this.reportedLeader) {
      const previous = this.reportedLeader;
      this.reportedLeader = holder;
      this.emit({ type: 'new-leader', identity: holder, previous, isSelf: holder === this.identity });
    }
  }

  /** The observed record is still valid by our own clock and the record's own duration. */
  private observedValid(): boolean {
    return this.observed !== null && this.options.clock.now() < this.observedExpiry();
  }

  /** When the observed claim expires by our clock: observation time plus the record's own duration. */
  private observedExpiry(): number {
    const seconds = this.observed?.record.leaseDurationSeconds ?? 0;
    return this.observedAt + (seconds > 0 ? seconds * 1000 : this.options.leaseDuration);
  }

  // ------------------------------------------------------------------ terms

  private beginTerm(): void {
    const controller = new AbortController();
    const record = this.observed?.record;
    const acquiredAt = record?.acquireTime ? new Date(record.acquireTime) : this.options.clock.wallNow();
    const checkDeadline = () => this.checkRenewDeadline();
    const term: LeadershipTerm = {
      identity: this.identity,
      lease: this.options.lock.name,
      namespace: this.options.lock.namespace,
      fencingToken: record?.leaseTransitions ?? 0,
      acquiredAt,
      // Reading the signal re-checks the deadline: code resuming after a stall sees it aborted even
      // before the elector's own timer has had a chance to run.
      get signal() {
        checkDeadline();
        return controller.signal;
      },
    };
    this.live = { term, controller };
    this.stateValue = 'leader';
    this.armDeadlineTimer();
    this.options.logger.log(`became leader of ${this.options.lock.describe()} (fencing token ${term.fencingToken})`);
    this.emit({ type: 'started-leading', term });
  }

  private endTerm(reason: TermEndReason): void {
    const live = this.live;
    if (!live) return;
    this.live = null;
    if (this.stateValue === 'leader') this.stateValue = 'candidate';
    this.clearDeadlineTimer();
    live.controller.abort(new LeadershipEndedError(reason, this.options.lock.describe()));
    this.options.logger.log(`stopped leading ${this.options.lock.describe()} (${reason})`);
    this.emit({ type: 'stopped-leading', term: live.term, reason });
    this.wake();
  }

  private checkRenewDeadline(): void {
    if (this.live && this.options.clock.now() >= this.lastRenewSentAt + this.options.renewDeadline) {
      // No renewal even attempted in time means the process itself was stalled.
      const reason: TermEndReason = this.renewAttemptedSinceSuccess ? 'renew-failed' : 'expired';
      this.options.logger.warn(
        `no successful renewal of ${this.options.lock.describe()} within renewDeadline ` +
          `(${this.options.renewDeadline}ms since the last one was sent; ${reason}); stepping down`,
      );
      this.endTerm(reason);
    }
  }

  private armDeadlineTimer(): void {
    this.clearDeadlineTimer();
    if (!this.live) return;
    const { clock, renewDeadline } = this.options;
    this.deadlineTimer = clock.setTimeout(
      () => {
        this.deadlineTimer = null;
        this.checkRenewDeadline();
      },
      Math.max(0, this.lastRenewSentAt + renewDeadline - clock.now()),
    );
  }

  private clearDeadlineTimer(): void {
    if (this.deadlineTimer !== null) this.options.clock.clearTimeout(this.deadlineTimer);
    this.deadlineTimer = null;
  }

  // ---------------------------------------------------------------- release

  /** client-go's release: if we still hold the Lease, hand it over with holder "" and a 1s duration. */
  private async release(): Promise<void> {
    const { lock, clock, releaseTimeout, logger } = this.options;
    const deadline = clock.now() + releaseTimeout;
    while (clock.now() < deadline) {
      const controller = new AbortController();
      const handle = clock.setTimeout(() => controller.abort(), Math.max(0, deadline - clock.now()));
      try {
        const current = await lock.get(controller.signal);
        this.observe(current);
        if (current.record.holderIdentity !== this.identity) return;
        const now = formatMicroTime(clock.wallNow());
        const released = await lock.update(
          { ...current.record, holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now },
          current.resourceVersion,
          controller.signal,
        );
        this.setObserved(released, clock.now());
        logger.log(`released lease ${lock.describe()}`);
        return;
      } catch (error) {
        const failure = asLeaseLockError(error);
        if (failure.reason === 'not_found') return;
        this.emit({ type: 'error', operation: 'release', error: failure });
        if (failure.reason !== 'conflict') this.logError('release', failure);
        if (clock.now() >= deadline) break;
        if (failure.reason !== 'conflict') {
          await sleep(clock, Math.min(this.options.retryPeriod / 4, Math.max(0, deadline - clock.now())));
        }
      } finally {
        clock.clearTimeout(handle);
      }
    }
    logger.warn(`could not release lease ${lock.describe()} within ${releaseTimeout}ms; it will expire on its own`);
  }

  // ----------------------------------------------------------------- events

  private emit(event: LeaderElectionEvent): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch (error) {
        this.options.logger.error(`a ${event.type} listener threw: ${(error as Error)?.stack ?? String(error)}`);
      }
    }
  }
}
