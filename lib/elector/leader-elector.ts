import { sleep, timeoutSignal, type TimerHandle } from './clock.js';
import {
  ElectorFailures,
  isConfigurationError,
  type ElectorDiagnostics,
  type ElectorState,
  type LoopActivity,
} from './elector-diagnostics.js';
import {
  JITTER_FACTOR,
  resolveElectorOptions,
  type LeaderElectorOptions,
  type ResolvedElectorOptions,
} from './elector-options.js';
import { EventDispatcher } from './event-dispatcher.js';
import { isComparableResourceVersion, isOlderResourceVersion, type FencingScheme } from './fencing-token.js';
import type { ElectorOperation, LeaderElectionListener } from './leader-election.events.js';
import { LeadershipEndedError, type LeadershipTerm, type TermEndReason } from './leadership-term.js';
import { LeaseEventRecorder } from './lease-event-recorder.js';
import { LeaseFollower } from './lease-follower.js';
import type { LeaseReadResult } from './lease-lock.js';
import { asLeaseLockError, type LeaseLockError } from './lease-lock.errors.js';
import { formatMicroTime, sameRecord, type LeaseRecord, type LeaseSnapshot } from './lease-record.js';

/** Options of {@link LeaderElector.stop}. */
export interface StopOptions {
  /**
   * Runs after the term's signal has aborted and before the Lease is
   * released. The Lease keeps being renewed meanwhile, so no other replica
   * starts leader work while ours is still finishing.
   */
  drain?: () => Promise<void>;
}

interface LiveTerm {
  term: LeadershipTerm;
  controller: AbortController;
}

/** Random spread of watch-driven attempts, so followers woken by the same event do not all collide. */
const HANDOVER_SPREAD_MS = 5;
const CONFIG_ERRORS_BEFORE_BACKOFF = 3;
const MAX_BACKOFF_FACTOR = 4;

/**
 * Elects one leader among candidates sharing a Lease, with client-go's
 * algorithm: followers judge expiry only by their own monotonic clock from the
 * moment they saw the record change, using the record's lease duration.
 *
 * Guarantee: at most one candidate's term is live at a time (from
 * `started-leading` until its signal aborts and `stopped-leading` fires) while
 * the clock-rate difference between any two candidates stays below
 * leaseDuration / renewDeadline: a term ends renewDeadline after the send time
 * of its last successful write, by a timer re-armed until it is due, and
 * nobody takes over earlier than leaseDuration after observing that write.
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
  /** The last holder named by a record we saw; a spreading group ranks without it once it lets go. */
  private previousHolder: string | null = null;
  private termStartedAt = 0;
  private lastTermEnd: TermEndReason | null = null;
  /** A handover drained its work: release the Lease before campaigning again. */
  private releaseAfterHandover = false;
  private lastRenewSentAt = Number.NEGATIVE_INFINITY;
  private lastWrite: LeaseSnapshot | null = null;
  private deadlineTimer: TimerHandle | null = null;
  /**
   * Set while a drain keeps the Lease renewed after its term ended. Each
   * handover (and the stop) owns its own hold, so a drain that outlived its
   * hold cannot end a later one.
   */
  private hold: object | null = null;
  private renewAttemptedSinceSuccess = false;
  private nextAttemptAt = 0;
  private activity: LoopActivity = { phase: 'idle', since: 0, wakeAt: null };
  /** Aborted when stop is requested: ends sleeps and the watch. */
  private readonly stopController = new AbortController();
  /** Aborted once the drain is over: cuts in-flight calls so the release need not wait for them. */
  private readonly haltController = new AbortController();
  private watchedRelease: LeaseReadResult | null = null;
  /** Highest `leaseTransitions` seen or written; -1 before any. */
  private highestTransitions = -1;
  private fencingScheme: FencingScheme | null = null;
  private startedAt: number | null = null;
  private lastAttemptCompletedAt: number | null = null;
  private loopError: string | null = null;
  private stopRequested = false;
  private wakeController = new AbortController();
  private loop: Promise<void> | null = null;
  private watching: Promise<void> | null = null;
  private inFlight: Promise<unknown> | null = null;
  private wroteOnce = false;
  private stopping: Promise<void> | null = null;
  private readonly events: EventDispatcher;
  private readonly failures: ElectorFailures;
  private readonly follower: LeaseFollower;
  private readonly leaseEvents: LeaseEventRecorder;

  /** Validates options; throws `InvalidLeaderElectionOptionError` naming the field. Does not start. */
  constructor(options: LeaderElectorOptions) {
    this.options = resolveElectorOptions(options);
    this.events = new EventDispatcher(this.options.logger);
    this.failures = new ElectorFailures(this.options.logger, () => this.options.lock.describe());
    this.follower = new LeaseFollower(this.options, {
      onChange: (snapshot) => this.onWatchedChange(snapshot),
      onModeChange: (watching, reason) => this.onFollowerModeChange(watching, reason),
      knownVersion: () => this.observed?.resourceVersion,
    });
    const { lock, identity, clock, requestTimeout, logger } = this.options;
    this.leaseEvents = new LeaseEventRecorder(lock, identity, clock, requestTimeout, logger);
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

  /**
   * Registers a listener; returns a function that removes it. Listeners get
   * every event in order, one event at a time, even when a listener's own
   * reaction (such as calling `stop()`) causes the next one.
   */
  subscribe(listener: LeaderElectionListener): () => void {
    return this.events.subscribe(listener);
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
    this.watching = this.follower.run(this.stopController.signal);
    this.loop = this.run().catch((error: unknown) => this.crashed(error));
  }

  /**
   * Resolves with the term once we lead. Rejects if `signal` aborts, or the
   * elector is stopping or stopped (at once when called after `stop()`).
   */
  waitForLeadership(signal?: AbortSignal): Promise<LeadershipTerm> {
    const current = this.term;
    if (current) return Promise.resolve(current);
    if (this.stopRequested || this.stateValue === 'stopped' || this.stateValue === 'stopping') {
      return Promise.reject(this.notLeadingAnymore());
    }
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
          reject(this.notLeadingAnymore());
        }
      });
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Ends candidacy. The current term ends first (its signal aborts and
   * `stopped-leading` fires), then `drain` runs while the Lease is still
   * renewed, then, with `releaseOnStop`, the Lease is released once no write
   * is in flight. Idempotent.
   */
  stop(options: StopOptions = {}): Promise<void> {
    if (this.stopping) return this.stopping;
    this.stopping = this.doStop(options);
    return this.stopping;
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
      lastError: this.failures.lastError,
      errorStreak: this.failures.streak ? { ...this.failures.streak } : null,
      loopError: this.loopError,
      loop: { ...this.activity },
      watch: this.follower.diagnostics,
      fencingScheme: this.fencingScheme,
    };
  }

  private notLeadingAnymore(): Error {
    return new Error(`LeaderElector for ${this.options.lock.describe()} stopped before becoming leader.`);
  }

  private crashed(error: unknown): void {
    this.loopError = (error as Error)?.stack ?? String(error);
    this.options.logger.error(`elector loop crashed: ${this.loopError}`);
    this.stopRequested = true;
    this.stopController.abort();
    this.endTerm('shutdown');
    this.setActivity('idle', null);
    if (!this.stopping) {
      this.stopping = Promise.resolve();
      this.markStopped();
    }
  }

  /** The last event: listeners hear `elector-stopped` once, then are dropped. */
  private markStopped(): void {
    this.stateValue = 'stopped';
    this.events.emit({ type: 'elector-stopped' });
    this.events.clear();
  }

  private async doStop(options: StopOptions): Promise<void> {
    if (this.stateValue === 'idle') {
      this.markStopped();
      return;
    }
    // A term whose renew deadline already passed (a stall nobody noticed yet) ended by that deadline, not by stop.
    this.checkRenewDeadline();
    this.stopRequested = true;
    this.stopController.abort();
    this.stateValue = 'stopping';
    // A handover already draining keeps the Lease renewed through the stop's own drain too; the stop owns it now.
    this.hold = (this.live !== null || this.hold !== null) && options.drain !== undefined ? {} : null;
    this.endTerm('shutdown');
    try {
      if (options.drain) await options.drain();
    } catch (error) {
      this.options.logger.warn(`drain before release failed: ${(error as Error)?.message ?? String(error)}`);
    } finally {
      this.hold = null;
      this.haltController.abort();
      this.wake();
    }
    // In-flight calls were aborted; a lock that ignores its signal gets one more requestTimeout. Release only once
    // no write is in flight, or a late renewal could re-acquire. The watch never writes, so it is not awaited here.
    const { clock, requestTimeout, logger, lock } = this.options;
    const giveUp = new AbortController();
    const settled = await Promise.race([
      Promise.all([this.loop, this.inFlight?.catch(() => undefined)]).then(() => true),
      sleep(clock, requestTimeout, giveUp.signal).then(() => false),
    ]);
    giveUp.abort();
    if (!settled) {
      logger.warn(`a request to lease ${lock.describe()} ignored its deadline; stopping without releasing`);
    } else if (this.options.releaseOnStop && this.wroteOnce) {
      await this.release();
    }
    const watchEnded = new AbortController();
    await Promise.race([this.watching, sleep(clock, requestTimeout, watchEnded.signal)]);
    watchEnded.abort();
    await this.leaseEvents.flush();
    this.markStopped();
  }

  // ---------------------------------------------------------------- loops

  private async run(): Promise<void> {
    while (!this.stopRequested) {
      if (!(await this.acquire())) break;
      await this.renewWhileLeading();
      if (this.releaseAfterHandover && !this.stopRequested) {
        this.releaseAfterHandover = false;
        await this.release();
      }
    }
    this.setActivity('idle', null);
  }

  /** Tries until a term begins (true) or stop is requested (false). */
  private async acquire(): Promise<boolean> {
    const { clock, candidacy } = this.options;
    // A ranked candidate stands back before its first attempt too (at start, and after handing the Lease over),
    // so the preferred one's write lands first.
    const rank = this.rank();
    if (rank !== null && rank > 0) {
      this.nextAttemptAt = clock.now() + rank * candidacy!.rankStep;
      await this.sleepUntilNextAttempt();
    }
    while (!this.stopRequested) {
      const acquired = await this.attempt('acquire');
      if (this.stopRequested) return false;
      if (acquired && this.beginTerm()) return true;
      this.nextAttemptAt = clock.now() + this.nextAttemptDelay();
      await this.sleepUntilNextAttempt();
    }
    return false;
  }

  /** Watch events and watch failures move the next attempt; re-checks after every wake-up. */
  private async sleepUntilNextAttempt(): Promise<void> {
    const { clock } = this.options;
    while (!this.stopRequested && clock.now() < this.nextAttemptAt) {
      this.setActivity('sleep', this.nextAttemptAt);
      await sleep(clock, this.nextAttemptAt - clock.now(), this.wakeController.signal);
    }
    this.setActivity('idle', null);
  }

  /** Renews every retryPeriod until the term ends (or, while draining, until the drain is over). */
  private async renewWhileLeading(): Promise<void> {
    const { clock, retryPeriod, renewDeadline, lock, logger } = this.options;
    while (this.live !== null || this.hold !== null) {
      this.setActivity('sleep', clock.now() + retryPeriod);
      await sleep(clock, retryPeriod, this.wakeController.signal);
      this.setActivity('idle', null);
      if (this.stopRequested && this.hold === null) return;
      this.checkRenewDeadline();
      if (this.live === null && this.hold === null) return;
      this.renewAttemptedSinceSuccess = true;
      const renewed = await this.attempt('renew');
      this.checkRenewDeadline();
      if (renewed) {
        const target = this.live ? this.options.candidacy?.handoverTarget(clock.now() - this.termStartedAt) : null;
        if (target) this.beginHandover(target);
        continue;
      }
      const preferred = this.preferredOther();
      if (preferred !== null && this.live !== null) {
        await this.yieldToPreferred(preferred);
        return;
      }
      const holder = this.observed?.record.holderIdentity ?? '';
      if (holder !== '' && holder !== this.identity && this.observedValid()) {
        logger.warn(`lease ${lock.describe()} is now held by ${holder}; stepping down`);
        this.endTerm('stolen');
        this.dropHold();
        return;
      }
      if (clock.now() >= this.lastRenewSentAt + renewDeadline) {
        this.dropHold();
        return;
      }
    }
  }

  /**
   * Ends the term for a preferred candidate: the work drains while the Lease
   * is still renewed, so the two never overlap; then the run loop releases it.
   */
  private beginHandover(target: string): void {
    const { lock, logger, handoverDrain } = this.options;
    logger.log(`handing ${lock.describe()} over to ${target}, which the group prefers`);
    this.endTerm('handed-over');
    this.releaseAfterHandover = true;
    if (!handoverDrain) return;
    const hold = {};
    this.hold = hold;
    void this.runDrain(handoverDrain, 'handover').finally(() => {
      // Only its own hold: a stop or a later handover may own the current one.
      if (this.hold === hold) this.hold = null;
      this.wake();
    });
  }

  /**
   * The hold ended before its drain did (the Lease was taken, or renewals
   * missed the deadline): the work may still run, so the Lease is left to
   * lapse rather than released to the next holder.
   */
  private dropHold(): void {
    if (this.hold === null) return;
    this.hold = null;
    if (this.releaseAfterHandover) {
      this.releaseAfterHandover = false;
      this.options.logger.warn(
        `lost the hold on ${this.options.lock.describe()} while its work drained; letting it lapse instead of releasing`,
      );
    }
  }

  /**
   * Coordinated preemption (client-go neither renews nor releases once
   * `preferredHolder` names another): the term ends so its signal aborts,
   * the work drains within what remains of the renew deadline, and only then
   * is the Lease released; a drain that outlasts it lets the Lease lapse.
   */
  private async yieldToPreferred(preferred: string): Promise<void> {
    const { clock, lock, logger, renewDeadline, handoverDrain } = this.options;
    logger.log(`the coordinator prefers ${preferred} as holder of ${lock.describe()}; handing over`);
    this.endTerm('preempted');
    this.dropHold();
    if (handoverDrain) {
      const deadline = this.lastRenewSentAt + renewDeadline;
      const gaveUp = new AbortController();
      const drained = await Promise.race([
        this.runDrain(handoverDrain, 'preemption').then(() => true),
        sleep(clock, Math.max(0, deadline - clock.now()), gaveUp.signal).then(() => false),
      ]);
      gaveUp.abort();
      if (!drained || clock.now() >= deadline) {
        logger.warn(
          `leader work of ${lock.describe()} was still draining at the renew deadline; letting the Lease lapse ` +
            'instead of releasing it',
        );
        return;
      }
    }
    // Without a holder the coordinator hands the Lease to the preferred candidate at once, not after expiry.
    await this.release();
  }

  /** Runs a drain; a failure is logged, never thrown. */
  private runDrain(drain: () => Promise<void>, what: string): Promise<void> {
    return Promise.resolve()
      .then(drain)
      .catch((error: unknown) =>
        this.options.logger.warn(`drain before ${what} failed: ${(error as Error)?.message ?? String(error)}`),
      );
  }

  /**
   * When a candidate tries next. Following by watch it needs no polling: it
   * tries right after a release (with a few ms of spread against 409 storms)
   * and otherwise exactly when the observed claim expires by its own clock.
   * Without a working watch it polls at client-go's jittered cadence, but
   * never later than that expiry.
   */
  private nextAttemptDelay(): number {
    const { clock, random } = this.options;
    const holder = this.observed?.record.holderIdentity ?? '';
    if (this.options.coordinated) return this.coordinatedAttemptDelay(holder);
    const heldByOther = this.observed !== null && holder !== '' && holder !== this.identity;
    // Ranked candidates stand back by rank, so the preferred one's write lands first; others spread at random.
    const rank = this.rank();
    const spread = rank === null ? random() * HANDOVER_SPREAD_MS : rank * this.options.candidacy!.rankStep;
    const untilExpiry = Math.max(0, this.observedExpiry() - clock.now()) + spread;
    // A 409 only means another candidate won, and the watch is about to deliver its record.
    const failing = this.failures.failing;
    if (this.follower.watching && !failing) return heldByOther ? untilExpiry : spread;
    const poll = this.acquireDelay();
    return heldByOther && !failing ? Math.min(poll, untilExpiry) : poll;
  }

  /**
   * Coordinated: only a term the coordinator gave is taken, and at once; until
   * then a watching candidate waits for the watch (re-reading every
   * leaseDuration), a polling one polls at client-go's cadence.
   */
  private coordinatedAttemptDelay(holder: string): number {
    const { random, leaseDuration } = this.options;
    if (holder === this.identity && this.observedValid() && this.preferredOther() === null) {
      return random() * HANDOVER_SPREAD_MS;
    }
    const failing = this.failures.consecutive > 0;
    return this.follower.watching && !failing ? leaseDuration : this.acquireDelay();
  }

  /**
   * Our place in the spreading group's order, or null without one. We stand
   * back as the previous holder only after handing the Lease over; after any
   * other end of a term we keep our place, so a blip does not move the Lease.
   */
  private rank(): number | null {
    const { candidacy, identity } = this.options;
    if (!candidacy) return null;
    const handedOver = this.lastTermEnd === 'handed-over';
    return candidacy.rank(this.previousHolder === identity && !handedOver ? null : this.previousHolder);
  }

  /** Coordinated: the candidate the coordinator prefers over us, named in the observed record; else null. */
  private preferredOther(): string | null {
    const preferred = this.options.coordinated ? (this.observed?.record.preferredHolder ?? '') : '';
    return preferred !== '' && preferred !== this.identity ? preferred : null;
  }

  /**
   * client-go's jittered retry period. Repeated configuration errors (RBAC,
   * invalid, missing namespace) back off up to 4x, but only after a few in a
   * row: an apiserver that is starting up answers 403 for a moment, and that
   * must not delay recovery.
   */
  private acquireDelay(): number {
    const { retryPeriod, random, leaseDuration } = this.options;
    const { lastReason, consecutive } = this.failures;
    const configErrors = isConfigurationError(lastReason) ? consecutive : 0;
    const base =
      configErrors > CONFIG_ERRORS_BEFORE_BACKOFF
        ? Math.max(
            retryPeriod,
            Math.min(
              retryPeriod * Math.min(2 ** (configErrors - CONFIG_ERRORS_BEFORE_BACKOFF), MAX_BACKOFF_FACTOR),
              // A full jittered pause stays under leaseDuration: a polling follower owes an attempt that often.
              leaseDuration / (1 + JITTER_FACTOR),
            ),
          )
        : retryPeriod;
    return base + random() * JITTER_FACTOR * base;
  }

  private wake(): void {
    this.wakeController.abort();
    this.wakeController = new AbortController();
  }

  private setActivity(phase: LoopActivity['phase'], wakeAt: number | null): void {
    this.activity = { phase, since: this.options.clock.now(), wakeAt };
  }

  // ------------------------------------------------------------------ watch

  private onWatchedChange(snapshot: LeaseReadResult | null): void {
    // A leader renews on its own schedule; only candidates act on watched changes.
    if (this.live !== null || this.hold !== null || this.stopRequested) return;
    if (snapshot) this.observe(snapshot);
    // A release just watched is as good as a fresh GET: the PUT is conditional on its resourceVersion.
    this.watchedRelease = snapshot && snapshot.record.holderIdentity === '' ? snapshot : null;
    // After a failed attempt the retry it owes stays due: a holder's renewals must not push it out forever.
    this.reschedule(this.failures.failing);
  }

  private onFollowerModeChange(watching: boolean, reason?: string): void {
    this.events.emit({ type: 'follower-mode', mode: watching ? 'watch' : 'poll', ...(reason ? { reason } : {}) });
    // Losing the watch must not leave a follower asleep until an expiry planned from stale information.
    this.reschedule(!watching);
  }

  /** Recomputes when a candidate tries next; `earlierOnly` keeps an attempt already planned sooner. */
  private reschedule(earlierOnly: boolean): void {
    if (this.live !== null || this.stopRequested || this.stateValue !== 'candidate') return;
    const at = this.options.clock.now() + this.nextAttemptDelay();
    this.nextAttemptAt = earlierOnly ? Math.min(this.nextAttemptAt, at) : at;
    this.wake();
  }

  // ------------------------------------------------------ acquire or renew

  private attempt(operation: ElectorOperation): Promise<boolean> {
    this.setActivity('attempt', null);
    const attempt = this.tryAcquireOrRenew(operation);
    this.inFlight = attempt;
    return attempt.finally(() => {
      this.lastAttemptCompletedAt = this.options.clock.now();
      this.setActivity('idle', null);
      if (this.inFlight === attempt) this.inFlight = null;
    });
  }

  /** client-go's tryAcquireOrRenew: fast path for a leader, else GET then CREATE or UPDATE. */
  private async tryAcquireOrRenew(operation: ElectorOperation): Promise<boolean> {
    const { lock, clock } = this.options;
    const started = clock.now();
    const leading = this.live !== null || this.hold !== null;

    if (leading && this.observed && this.observedValid() && this.preferredOther() === null) {
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

    if (!leading && this.fencingScheme === null) {
      try {
        await this.chooseFencingScheme();
      } catch (error) {
        return this.fail(operation, asLeaseLockError(error));
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
      // Coordinated: only the coordinator creates the Lease.
      if (this.options.coordinated) {
        this.failures.clear();
        return false;
      }
      // The Lease vanished while another holder's claim is still valid by our
      // observation: it was deleted under a live leader, who will re-create it.
      // Wait that claim out instead of creating a second leader.
      const lastHolder = this.observed?.record.holderIdentity ?? '';
      if (!leading && lastHolder !== '' && lastHolder !== this.identity && this.observedValid()) {
        this.failures.clear();
        return false;
      }
      const now = formatMicroTime(clock.wallNow());
      const record: LeaseRecord = {
        holderIdentity: this.identity,
        leaseDurationSeconds: this.options.leaseDuration / 1000,
        acquireTime: now,
        renewTime: now,
        // A re-created Lease continues from the highest count we have seen: a running term keeps its count, a new
        // term takes the next one.
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

    // An answer older than a record already seen (overtaken by the watch, or from a lagging cache) would
    // bring back a dead claim and restart its expiry clock: drop it and try again.
    if (this.observed && isOlderResourceVersion(current.resourceVersion, this.observed.resourceVersion)) {
      this.failures.clear();
      return false;
    }
    const changed = !this.observed || !sameRecord(this.observed.record, current.record);
    this.observe(current);
    if (changed && !leading) this.follower.reopen(current.resourceVersion);
    const old = current.record;
    if (old.holderIdentity !== '' && old.holderIdentity !== this.identity && this.observedValid()) {
      this.failures.clear();
      return false;
    }
    // Coordinated (client-go's tryCoordinatedRenew): write only a valid claim the coordinator gave us, and stop
    // renewing once it prefers someone else.
    if (
      this.options.coordinated &&
      (old.holderIdentity !== this.identity || !this.observedValid() || this.preferredOther() !== null)
    ) {
      this.failures.clear();
      return false;
    }

    const now = formatMicroTime(clock.wallNow());
    // A renewal keeps acquireTime and the transition count; any new term bumps
    // the count, even when the record already names us.
    const renewing = leading && old.holderIdentity === this.identity;
    const record: LeaseRecord = {
      ...old,
      holderIdentity: this.identity,
      leaseDurationSeconds: this.options.leaseDuration / 1000,
      renewTime: now,
      acquireTime:
        renewing && old.acquireTime !== null && !Number.isNaN(Date.parse(old.acquireTime)) ? old.acquireTime : now,
      // The high-water mark survives an outside writer resetting the count (a wiped spec).
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

  /** Decides once, before the first term, whether resourceVersions can serve as fencing tokens. */
  private async chooseFencingScheme(): Promise<void> {
    const { lock, logger } = this.options;
    const comparable = lock.resourceVersionsComparable
      ? await this.call((signal) => lock.resourceVersionsComparable!(signal))
      : false;
    this.fencingScheme = comparable ? 'resource-version' : 'lease-transitions';
    if (comparable) {
      logger.log(`fencing tokens of ${lock.describe()}: the resourceVersion of each term's first write`);
    } else {
      logger.warn(
        `fencing tokens of ${lock.describe()}: leaseTransitions, because its resourceVersions are not comparable ` +
          '(Kubernetes < 1.35, or a lock that does not declare them comparable). Tokens still rise across terms this ' +
          'process sees, but may repeat after the Lease is deleted or wiped while no replica remembers it.',
      );
    }
  }

  /**
   * Runs one API call with a signal that aborts after requestTimeout, at the
   * renew deadline while leading, and at once when the stop has drained.
   */
  private async call<T>(send: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const { clock, requestTimeout, renewDeadline } = this.options;
    let timeout = requestTimeout;
    if (this.live !== null) timeout = Math.min(timeout, this.lastRenewSentAt + renewDeadline - clock.now());
    const controller = new AbortController();
    const halt = () => controller.abort();
    this.haltController.signal.addEventListener('abort', halt, { once: true });
    if (timeout <= 0 || this.haltController.signal.aborted) controller.abort();
    const handle = timeout > 0 ? clock.setTimeout(() => controller.abort(), timeout) : null;
    try {
      return await send(controller.signal);
    } finally {
      if (handle !== null) clock.clearTimeout(handle);
      this.haltController.signal.removeEventListener('abort', halt);
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
    this.failures.succeeded();
    this.lastWrite = written;
    this.setObserved(written, clock.now());
    const stillLeading = this.live !== null || this.hold !== null;
    if (stillLeading || operation === 'acquire') {
      this.lastRenewSentAt = sentAt;
      this.renewAttemptedSinceSuccess = false;
      this.armDeadlineTimer();
    }
    if (operation === 'renew' && stillLeading) {
      this.events.emit({ type: 'renewed', durationMs: clock.now() - started, slowPath });
    }
  }

  private fail(operation: ElectorOperation, error: LeaseLockError): false {
    // A call cut short by the stop is not a failure of the API server.
    if (this.haltController.signal.aborted) return false;
    this.failures.record(operation, error, this.options.clock.now());
    this.events.emit({ type: 'error', operation, error });
    return false;
  }

  // ------------------------------------------------------------ observation

  private observe(read: LeaseReadResult): void {
    this.failures.reportMalformed(this.options.coordinated ? withoutCoordinationProblems(read) : read);
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
    if (holder !== null) this.previousHolder = holder;
    if (holder !== this.reportedLeader) {
      const previous = this.reportedLeader;
      this.reportedLeader = holder;
      this.events.emit({ type: 'new-leader', identity: holder, previous, isSelf: holder === this.identity });
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

  /**
   * Starts the term our last write won, unless it is already over: an answer
   * that arrived after the renew deadline (a slow API server, a GC pause), or
   * a newer record naming someone else seen in between.
   */
  private beginTerm(): boolean {
    const { clock, renewDeadline, lock, logger } = this.options;
    const written = this.lastWrite;
    if (written === null || this.observed?.record.holderIdentity !== this.identity) {
      logger.debug?.(`acquired ${lock.describe()}, but a newer record names someone else; not starting a term`);
      return false;
    }
    if (clock.now() >= this.lastRenewSentAt + renewDeadline) {
      logger.warn(
        `acquired ${lock.describe()} but the answer came ${Math.round(clock.now() - this.lastRenewSentAt)}ms after ` +
          `sending, past renewDeadline (${renewDeadline}ms); not starting a term that may already overlap another`,
      );
      return false;
    }
    const controller = new AbortController();
    const acquireTime = written.record.acquireTime;
    const checkDeadline = () => this.checkRenewDeadline();
    const term: LeadershipTerm = {
      identity: this.identity,
      lease: lock.name,
      namespace: lock.namespace,
      ...this.fencingFor(written),
      leaseTransitions: written.record.leaseTransitions,
      acquiredAt: acquireTime ? new Date(acquireTime) : clock.wallNow(),
      // Reading the signal re-checks the deadline: code resuming after a stall sees it aborted even
      // before the elector's own timer has had a chance to run.
      get signal() {
        checkDeadline();
        return controller.signal;
      },
    };
    this.live = { term, controller };
    this.termStartedAt = clock.now();
    this.stateValue = 'leader';
    this.armDeadlineTimer();
    logger.log(`became leader of ${lock.describe()} (fencing token ${term.fencingToken})`);
    this.events.emit({ type: 'started-leading', term });
    this.leaseEvents.record('became leader');
    return true;
  }

  private fencingFor(written: LeaseSnapshot): Pick<LeadershipTerm, 'fencingToken' | 'fencingScheme'> {
    if (this.fencingScheme === 'resource-version' && !isComparableResourceVersion(written.resourceVersion)) {
      this.fencingScheme = 'lease-transitions';
      this.options.logger.warn(
        `lease ${this.options.lock.describe()} returned resourceVersion ${JSON.stringify(written.resourceVersion)}, ` +
          'which is not comparable; fencing tokens fall back to leaseTransitions from now on',
      );
    }
    return this.fencingScheme === 'resource-version'
      ? { fencingToken: written.resourceVersion, fencingScheme: 'resource-version' }
      : { fencingToken: String(written.record.leaseTransitions), fencingScheme: 'lease-transitions' };
  }

  private endTerm(reason: TermEndReason): void {
    const live = this.live;
    if (!live) return;
    this.live = null;
    this.lastTermEnd = reason;
    if (this.stateValue === 'leader') this.stateValue = 'candidate';
    this.clearDeadlineTimer();
    live.controller.abort(new LeadershipEndedError(reason, this.options.lock.describe()));
    this.options.logger.log(`stopped leading ${this.options.lock.describe()} (${reason})`);
    this.events.emit({ type: 'stopped-leading', term: live.term, reason });
    this.leaseEvents.record('stopped leading');
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

  /** Ends the term at its deadline with no reads needed; re-armed when a timer fires early. */
  private armDeadlineTimer(): void {
    this.clearDeadlineTimer();
    if (!this.live) return;
    const { clock, renewDeadline } = this.options;
    this.deadlineTimer = clock.setTimeout(
      () => {
        this.deadlineTimer = null;
        this.checkRenewDeadline();
        if (this.live) this.armDeadlineTimer();
      },
      Math.max(0, this.lastRenewSentAt + renewDeadline - clock.now()),
    );
  }

  private clearDeadlineTimer(): void {
    if (this.deadlineTimer !== null) this.options.clock.clearTimeout(this.deadlineTimer);
    this.deadlineTimer = null;
  }

  // ---------------------------------------------------------------- release

  /** client-go's released record: no holder, a 1 s duration, both times now. */
  private releasedRecord(record: LeaseRecord): LeaseRecord {
    const now = formatMicroTime(this.options.clock.wallNow());
    return { ...record, holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now };
  }

  /**
   * client-go's release: if we still hold the Lease, hand it over with holder
   * "" and a 1s duration. The first try is one PUT conditional on our last
   * write when no newer record has been seen since; after a 409 or an error
   * it reads the Lease first, as client-go always does.
   */
  private async release(): Promise<void> {
    const { lock, clock, releaseTimeout, requestTimeout, logger } = this.options;
    const deadline = clock.now() + releaseTimeout;
    const own = this.lastWrite;
    let known =
      own && own.record.holderIdentity === this.identity && this.observed?.resourceVersion === own.resourceVersion
        ? own
        : null;
    while (clock.now() < deadline) {
      // Each request within requestTimeout, like every other call: a lost answer is retried within the budget,
      // and a stop waiting on this loop (for requestTimeout) never gives up on a release that would still land.
      const timeout = timeoutSignal(clock, Math.max(0, Math.min(requestTimeout, deadline - clock.now())));
      try {
        let current = known;
        known = null;
        if (current === null) {
          const read = await lock.get(timeout.signal);
          this.observe(read);
          if (read.record.holderIdentity !== this.identity) return;
          current = read;
        }
        const released = await lock.update(
          this.releasedRecord(current.record),
          current.resourceVersion,
          timeout.signal,
        );
        this.setObserved(released, clock.now());
        logger.log(`released lease ${lock.describe()}`);
        return;
      } catch (error) {
        const failure = asLeaseLockError(error);
        if (failure.reason === 'not_found') return;
        this.events.emit({ type: 'error', operation: 'release', error: failure });
        if (failure.reason !== 'conflict') this.failures.log('release', failure, clock.now());
        if (clock.now() >= deadline) break;
        // A 409 means the Lease moved on: read it at once. Anything else: pause first.
        if (failure.reason !== 'conflict') {
          await sleep(clock, Math.min(this.options.retryPeriod / 4, Math.max(0, deadline - clock.now())));
        }
      } finally {
        timeout.clear();
      }
    }
    logger.warn(`could not release lease ${lock.describe()} within ${releaseTimeout}ms; it will expire on its own`);
  }
}

/** A read whose `strategy` and `preferredHolder` are expected (coordinated mode), not malformations. */
function withoutCoordinationProblems(read: LeaseReadResult): LeaseReadResult {
  if (!read.normalized) return read;
  const problems = read.normalized.problems.filter(
    (problem) => problem.field !== 'strategy' && problem.field !== 'preferredHolder',
  );
  return { ...read, normalized: { ...read.normalized, problems } };
}
