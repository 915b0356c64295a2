import { Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { AsyncLocalStorage } from 'node:async_hooks';
import { Observable, Subject } from 'rxjs';
import type { ElectorLogger, LeaderElectionEvent, LeaderElector, LeadershipTerm } from './elector/index.js';
import { NotLeaderError } from './errors/not-leader.error.js';
import type { LeaderElectionModuleOptions } from './interfaces/leader-election-module-options.interface.js';
import type { LeadershipEvent, LeadershipLossReason } from './interfaces/leadership-event.interface.js';
import type { FollowerCallBehaviour } from './interfaces/only-when-leader-options.interface.js';
import { DEFAULT_SHUTDOWN_DRAIN_TIMEOUT } from './leader-election.options.js';

/**
 * One election, tied to the Nest application lifecycle: candidacy starts on
 * bootstrap and the Lease is released on shutdown after leader-only work
 * drains. Inject it with `LeaderElectionService` (default election) or
 * `@InjectLeaderElection(name)`.
 */
@Injectable()
export class LeaderElectionService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  /** Leadership events of this election: acquired, lost (with reason), leader-changed. */
  readonly events$: Observable<LeadershipEvent>;

  private readonly subject = new Subject<LeadershipEvent>();
  private readonly inFlight = new Set<Promise<unknown>>();
  /**
   * The term that admitted the running `@OnlyWhenLeader` call. One store per
   * service, so neither another election nor another app in the process can
   * see (or overwrite) it.
   */
  private readonly admitted = new AsyncLocalStorage<LeadershipTerm>();
  private readonly unsubscribe: () => void;

  /** Created by `LeaderElectionModule`; not meant to be constructed by hand. */
  constructor(
    /** Registration name (`default` unless named). */
    readonly election: string,
    /** The framework-free elector underneath, for advanced use. */
    readonly elector: LeaderElector,
    private readonly options: LeaderElectionModuleOptions,
    private readonly logger: ElectorLogger,
  ) {
    this.events$ = this.subject.asObservable();
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
    if (this.elector.state !== 'idle') return;
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
    await this.elector.stop({ drain: () => this.drain() });
    this.subject.complete();
    this.unsubscribe();
  }

  /**
   * The term that admitted the current `@OnlyWhenLeader` call of this
   * election, followed across awaits; null outside such a call. Unlike `term`,
   * it never turns into a later term: once that term ends its `signal` is
   * aborted, which is what running work must check.
   */
  currentTerm(): LeadershipTerm | null {
    return this.admitted.getStore() ?? null;
  }

  /**
   * Runs `body` if this replica leads, inside the term's context and tracked
   * for the shutdown drain. On a follower it returns undefined (a resolved
   * promise when `async`), or throws a `NotLeaderError` (rejects) with
   * `onFollower: 'throw'`. Used by `@OnlyWhenLeader()`.
   */
  runAsLeader<T>(
    body: () => T,
    async: boolean,
    label: string,
    onFollower: FollowerCallBehaviour = 'skip',
  ): T | undefined | Promise<undefined> {
    // Reading `term` re-checks the renew deadline, so a stalled leader is not admitted.
    const term = this.elector.term;
    if (!term) {
      const lease = this.elector.options.lock.describe();
      if (onFollower === 'throw') {
        const error = new NotLeaderError(this.election, lease, this.elector.leader, this.elector.identity);
        if (async) return Promise.reject(error);
        throw error;
      }
      this.logger.debug?.(`${label} skipped: not the leader of ${lease}`);
      return async ? Promise.resolve(undefined) : undefined;
    }
    const result = this.admitted.run(term, body);
    if (result && typeof (result as { then?: unknown }).then === 'function')
      this.track(result as unknown as PromiseLike<unknown>);
    return result;
  }

  /** Runs `body` with `term` as the current term of this election. @internal */
  runInTerm<T>(term: LeadershipTerm, body: () => T): T {
    return this.admitted.run(term, body);
  }

  /** Makes the shutdown drain wait for `work` (leader-only calls and leadership handlers). @internal */
  track(work: PromiseLike<unknown>): void {
    const settled = Promise.resolve(work).then(
      () => undefined,
      () => undefined,
    );
    this.inFlight.add(settled);
    void settled.finally(() => this.inFlight.delete(settled));
  }

  /** Number of leader-only calls and async leadership handlers still running. */
  get inFlightCount(): number {
    return this.inFlight.size;
  }

  private async drain(): Promise<void> {
    // Let a loss event queued behind the current dispatch (stop() called from a listener) reach its handlers first.
    await Promise.resolve();
    if (this.inFlight.size === 0) return;
    const timeout = this.options.shutdownDrainTimeout ?? DEFAULT_SHUTDOWN_DRAIN_TIMEOUT;
    this.logger.log(
      `waiting up to ${timeout}ms for ${this.inFlight.size} leader-only call(s) and handler(s) to finish`,
    );
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeout)));
    let outcome: 'drained' | 'timeout' = 'drained';
    // Loop: a queued handler (a loss handler waiting for its acquire handler) joins the set while we wait.
    while (this.inFlight.size > 0 && outcome === 'drained') {
      outcome = await Promise.race([Promise.all([...this.inFlight]).then(() => 'drained' as const), timedOut]);
    }
    clearTimeout(timer);
    if (outcome === 'timeout') {
      this.logger.warn(
        `${this.inFlight.size} leader-only call(s) or handler(s) still running after ${timeout}ms; releasing anyway`,
      );
    }
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
          reason: event.reason as LeadershipLossReason,
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
