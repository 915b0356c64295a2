import { Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { Observable, Subject } from 'rxjs';
import type { ElectorLogger, LeaderElectionEvent, LeaderElector, LeadershipTerm } from './elector/internal.js';
import type { LeaderElectionModuleOptions } from './interfaces/leader-election-module-options.interface.js';
import type { LeadershipEvent } from './interfaces/leadership-event.interface.js';
import type { RunIfLeaderOptions } from './interfaces/only-when-leader-options.interface.js';
import { DEFAULT_SHUTDOWN_DRAIN_TIMEOUT } from './leader-election.constants.js';
import { NO_SHUTDOWN_HOOKS } from './leader-election.messages.js';
import { LEADER_WORK, LeaderWork, type HasLeaderWork } from './leader-work.js';

/**
 * One election, tied to the Nest application lifecycle: candidacy starts on
 * bootstrap and the Lease is released on shutdown after leader-only work
 * drains. Inject it with `LeaderElectionService` (default election) or
 * `@InjectLeaderElection(name)`.
 */
@Injectable()
export class LeaderElectionService implements OnApplicationBootstrap, BeforeApplicationShutdown, HasLeaderWork {
  /** Leadership events of this election: acquired, lost (with reason), leader-changed. */
  readonly events$: Observable<LeadershipEvent>;
  /** @internal Leader-only calls and handlers of this election (used by the decorators). */
  readonly [LEADER_WORK]: LeaderWork;

  private readonly subject = new Subject<LeadershipEvent>();
  private readonly unsubscribe: () => void;
  private shutdownHooksChecked = false;

  /** Created by `LeaderElectionModule`; not meant to be constructed by hand. */
  constructor(
    /** Registration name (`default` unless named). */
    readonly election: string,
    /** The framework-free elector underneath, for advanced use. */
    readonly elector: LeaderElector,
    private readonly options: LeaderElectionModuleOptions,
    private readonly logger: ElectorLogger,
    /**
     * Steps around the elector: before it starts (a LeaseCandidate), after it stopped (Pod label, candidate).
     * `managed`: a spreading group starts and stops the elector, not the app lifecycle of this service.
     */
    private readonly around: { prepare(): Promise<void>; settle(): Promise<void>; managed?: boolean } = {
      prepare: () => Promise.resolve(),
      settle: () => Promise.resolve(),
    },
  ) {
    this.events$ = this.subject.asObservable();
    this[LEADER_WORK] = new LeaderWork(this, (message) => logger.debug?.(message));
    this.unsubscribe = elector.subscribe((event) => this.forward(event));
  }

  /**
   * True only while this replica leads: computed from the monotonic time of
   * the last successful renewal, so it turns false on time even after the
   * event loop was blocked.
   */
  get isLeader(): boolean {
    return this.elector.isLeader;
  }

  /** Identity of the current leader as this replica sees it, or null if none is known. */
  get leader(): string | null {
    return this.elector.leader;
  }

  /** This replica's identity. */
  get identity(): string {
    return this.elector.identity;
  }

  /** Name of this election's Lease. */
  get lease(): string {
    return this.elector.options.lock.name;
  }

  /** Namespace of this election's Lease. */
  get namespace(): string {
    return this.elector.options.lock.namespace;
  }

  /** The current term (fencing token, acquiredAt, signal) while leading, else null. */
  get term(): LeadershipTerm | null {
    return this.elector.term;
  }

  /** Resolves with the term once this replica leads; rejects if `signal` aborts or the app shuts down first. */
  waitForLeadership(signal?: AbortSignal): Promise<LeadershipTerm> {
    return this.elector.waitForLeadership(signal);
  }

  /** Starts candidacy; waits for leadership only with `awaitLeadershipOnBootstrap`. */
  async onApplicationBootstrap(): Promise<void> {
    if (this.around.managed || this.elector.state !== 'idle') return;
    await this.around.prepare();
    this.elector.start();
    const wait = this.options.awaitLeadershipOnBootstrap;
    if (!wait) return;
    const signal = typeof wait === 'number' ? AbortSignal.timeout(wait) : undefined;
    try {
      await this.elector.waitForLeadership(signal);
    } catch (error) {
      await this.elector.stop();
      throw new Error(
        `LeaderElectionModule (${this.election}): awaitLeadershipOnBootstrap gave up before this replica led lease ` +
          `${this.elector.options.lock.describe()}: ${(error as Error)?.message ?? String(error)}`,
        { cause: error },
      );
    }
  }

  /**
   * Ends the term (aborting its signal and calling the loss handlers), drains
   * in-flight leader-only calls and async handlers, then releases the Lease.
   */
  async beforeApplicationShutdown(): Promise<void> {
    if (this.around.managed) return;
    await this.elector.stop({ drain: () => this.drainLeaderWork() });
    await this.around.settle();
    this.close();
  }

  /**
   * The term that admitted the current `@OnlyWhenLeader` call of this
   * election (or the acquire handler that started this work), followed across
   * awaits; null outside such a call. Unlike `term`, it never turns into a
   * later term: once that term ends its `signal` is aborted, which is what
   * running work must check.
   */
  admittedTerm(): LeadershipTerm | null {
    return this[LEADER_WORK].admittedTerm();
  }

  /**
   * The imperative `@OnlyWhenLeader`, for work that no decorator reaches (a
   * job added with `SchedulerRegistry`, a closure, a consumer's callback):
   * runs `work` only while this replica leads, passing the term that admitted
   * it (its `signal` aborts when the term ends, its `fencingToken` fences
   * writes). Nested leader-only calls keep that term, and the shutdown drain
   * waits for it. On a follower it resolves `undefined`, or rejects with a
   * `NotLeaderError` with `onFollower: 'throw'`.
   */
  runIfLeader<T>(
    work: (term: LeadershipTerm) => T | PromiseLike<T>,
    options: RunIfLeaderOptions = {},
  ): Promise<T | undefined> {
    return this[LEADER_WORK].runIfLeader(work, options.onFollower, options.label);
  }

  /** @internal Waits (bounded by `shutdownDrainTimeout`) for this election's running leader-only work. */
  async drainLeaderWork(): Promise<void> {
    const work = this[LEADER_WORK];
    // Let a loss event queued behind the current dispatch (stop() called from a listener) reach its handlers first.
    await Promise.resolve();
    if (work.size === 0) return;
    const timeout = this.options.shutdownDrainTimeout ?? DEFAULT_SHUTDOWN_DRAIN_TIMEOUT;
    this.logger.log(`waiting up to ${timeout}ms for ${work.size} leader-only call(s) and handler(s) to finish`);
    if (!(await work.drain(timeout))) {
      this.logger.warn(
        `${work.size} leader-only call(s) or handler(s) still running after ${timeout}ms; releasing anyway`,
      );
    }
  }

  /**
   * At the first term (Nest installs its signal listeners only when
   * `enableShutdownHooks()` runs, possibly after init): in a Pod, warn once
   * if nothing would handle SIGTERM. Not in standalone mode, nor outside a Pod.
   */
  private checkShutdownHooks(): void {
    if (this.shutdownHooksChecked) return;
    this.shutdownHooksChecked = true;
    if (this.options.standalone || !process.env.KUBERNETES_SERVICE_HOST) return;
    // A macrotask later: main.ts may call enableShutdownHooks() right after the bootstrap that started this term.
    setTimeout(() => {
      if (process.listenerCount('SIGTERM') > 0) return;
      this.logger.warn(NO_SHUTDOWN_HOOKS(`${this.namespace}/${this.lease}`, this.elector.options.leaseDuration));
    }, 0).unref();
  }

  /** @internal Ends the event stream once the elector has stopped. */
  close(): void {
    this.subject.complete();
    this.unsubscribe();
  }

  private forward(event: LeaderElectionEvent): void {
    const base = {
      election: this.election,
      lease: this.elector.options.lock.name,
      namespace: this.elector.options.lock.namespace,
      identity: this.elector.identity,
      timestamp: new Date(),
    };
    switch (event.type) {
      case 'started-leading':
        this.checkShutdownHooks();
        this.subject.next({
          ...base,
          type: 'acquired',
          holder: this.elector.identity,
          term: event.term,
          fencingToken: event.term.fencingToken,
        });
        break;
      case 'stopped-leading':
        this.subject.next({
          ...base,
          type: 'lost',
          holder: this.elector.leader,
          term: event.term,
          fencingToken: event.term.fencingToken,
          reason: event.reason,
        });
        break;
      case 'new-leader':
        this.subject.next({ ...base, type: 'leader-changed', holder: event.identity, term: null, fencingToken: null });
        break;
      default:
        break;
    }
  }
}
