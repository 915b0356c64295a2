import type { BeforeApplicationShutdown, OnApplicationBootstrap } from '@nestjs/common';
import { Observable, Subject } from 'rxjs';
import { LeadershipEndedError } from '../elector/leadership-term.js';
import type { LeadershipTerm } from '../elector/leadership-term.js';
import type { TermEndReason } from '../elector/leadership-term.js';
import type { LeadershipEvent } from '../interfaces/leadership-event.interface.js';
import type { RunIfLeaderOptions } from '../interfaces/only-when-leader-options.interface.js';
import { DEFAULT_ELECTION, DEFAULT_SHUTDOWN_DRAIN_TIMEOUT } from '../leader-election.constants.js';
import { LEADER_WORK, LeaderWork, type HasLeaderWork } from '../leader-work.js';

type EventBase = 'election' | 'lease' | 'namespace' | 'identity' | 'timestamp';
/** An event without the fields every event of this election shares. */
type EventBody = LeadershipEvent extends infer E ? (E extends LeadershipEvent ? Omit<E, EventBase> : never) : never;

/** Options of {@link TestingLeaderElection} and `LeaderElectionTestingModule.forRoot()`. */
export interface TestingLeaderElectionOptions {
  /** Lead from bootstrap on. Default false: a follower until `becomeLeader()`. */
  leader?: boolean;
  /** Name of the election, as `LeaderElectionModule.forRoot({ election })`. Default `default`. */
  election?: string;
  /** This replica's identity. Default `test-replica`. */
  identity?: string;
  /** Lease name. Default `test-lease`. */
  leaseName?: string;
  /** Lease namespace. Default `default`. */
  namespace?: string;
  /** Fencing token of the first term; each later term gets a greater one. Default 1. */
  firstFencingToken?: number;
}

/**
 * An election you drive from a test: a follower or the leader at will, with
 * the same events, terms (signal, fencing token) and `admittedTerm()` as
 * `LeaderElectionService`, and no Kubernetes. It stands in for
 * `LeaderElectionService` under the same injection tokens, so
 * `@OnlyWhenLeader`, the leadership decorators and `LeaderGuard` use it.
 */
export class TestingLeaderElection implements OnApplicationBootstrap, BeforeApplicationShutdown, HasLeaderWork {
  /** Registration name. */
  readonly election: string;
  /** This replica's identity. */
  readonly identity: string;
  /** Leadership events: acquired, lost (with reason), leader-changed. */
  readonly events$: Observable<LeadershipEvent>;
  /** @internal */
  readonly [LEADER_WORK]: LeaderWork;

  private readonly subject = new Subject<LeadershipEvent>();
  private readonly leaseName: string;
  /** Namespace of the (pretend) Lease. */
  readonly namespace: string;
  private live: { term: LeadershipTerm; controller: AbortController } | null = null;
  private holder: string | null = null;
  private nextToken: bigint;
  private terms = 0;
  private waiters = new Set<{ resolve(term: LeadershipTerm): void; reject(error: unknown): void }>();
  private stopped = false;

  constructor(private readonly options: TestingLeaderElectionOptions = {}) {
    this.election = options.election ?? DEFAULT_ELECTION;
    this.identity = options.identity ?? 'test-replica';
    this.leaseName = options.leaseName ?? 'test-lease';
    this.namespace = options.namespace ?? 'default';
    this.nextToken = BigInt(options.firstFencingToken ?? 1);
    this.events$ = this.subject.asObservable();
    this[LEADER_WORK] = new LeaderWork(this, () => undefined);
  }

  get isLeader(): boolean {
    return this.live !== null;
  }

  /** The leader as this replica sees it, or null. */
  get leader(): string | null {
    return this.holder;
  }

  /** Name of the (pretend) Lease. */
  get lease(): string {
    return this.leaseName;
  }

  /** The current term while leading, else null. */
  get term(): LeadershipTerm | null {
    return this.live?.term ?? null;
  }

  /** The term that admitted the running `@OnlyWhenLeader` call (or acquire handler); null outside one. */
  admittedTerm(): LeadershipTerm | null {
    return this[LEADER_WORK].admittedTerm();
  }

  /** As `LeaderElectionService.runIfLeader()`: runs `work` only while leading, with the term that admitted it. */
  runIfLeader<T>(
    work: (term: LeadershipTerm) => T | PromiseLike<T>,
    options: RunIfLeaderOptions = {},
  ): Promise<T | undefined> {
    return this[LEADER_WORK].runIfLeader(work, options.onFollower, options.label);
  }

  /** Resolves with the term once this replica leads; rejects if `signal` aborts or the app shuts down first. */
  waitForLeadership(signal?: AbortSignal): Promise<LeadershipTerm> {
    if (this.live) return Promise.resolve(this.live.term);
    if (this.stopped) return Promise.reject(new Error(`election ${this.election} has stopped`));
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: (term: LeadershipTerm) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(term);
        },
        reject: (error: unknown) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      const onAbort = () => {
        this.waiters.delete(waiter);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(waiter);
    });
  }

  /**
   * Starts a term with a fencing token greater than every earlier one and
   * fires `leader-changed` and `acquired`. Resolves once the acquire handlers
   * (sync or async) have settled. A no-op while already leading.
   */
  async becomeLeader(): Promise<LeadershipTerm> {
    if (this.stopped) throw new Error(`election ${this.election} has stopped; create a new testing module`);
    if (this.live) return this.live.term;
    const controller = new AbortController();
    const term: LeadershipTerm = {
      identity: this.identity,
      lease: this.leaseName,
      namespace: this.namespace,
      fencingToken: String(this.nextToken++),
      fencingScheme: 'resource-version',
      leaseTransitions: this.terms++,
      acquiredAt: new Date(),
      signal: controller.signal,
    };
    this.live = { term, controller };
    this.changeHolder(this.identity);
    this.emit({ type: 'acquired', holder: this.identity, term, fencingToken: term.fencingToken });
    for (const waiter of this.waiters) waiter.resolve(term);
    this.waiters.clear();
    await this.settled();
    return term;
  }

  /**
   * Ends the term for `reason` (default `stolen`): aborts its signal with a
   * `LeadershipEndedError`, fires `lost`, then `leader-changed` when the
   * holder changes to `newLeader`. Resolves once the loss handlers have
   * settled. A no-op on a follower (only the holder changes).
   */
  async loseLeadership(
    reason: TermEndReason = 'stolen',
    newLeader: string | null = reason === 'stolen' ? 'another-replica' : null,
  ): Promise<void> {
    const live = this.live;
    if (live) {
      this.live = null;
      live.controller.abort(new LeadershipEndedError(reason, `${this.namespace}/${this.leaseName}`));
      this.emit({
        type: 'lost',
        holder: newLeader,
        term: live.term,
        fencingToken: live.term.fencingToken,
        reason,
      });
    }
    this.changeHolder(newLeader);
    await this.settled();
  }

  /** `becomeLeader()` or `loseLeadership()`. */
  async setLeader(leader: boolean): Promise<void> {
    if (leader) await this.becomeLeader();
    else await this.loseLeadership();
  }

  /** Makes another replica the leader, as a follower would observe it. */
  async observeLeader(holder: string | null): Promise<void> {
    if (this.live) await this.loseLeadership('stolen', holder);
    else this.changeHolder(holder);
  }

  /** Resolves once the leader-only calls and async leadership handlers running now have settled. */
  async settled(timeout = DEFAULT_SHUTDOWN_DRAIN_TIMEOUT): Promise<void> {
    // Handlers run synchronously inside emit(); a handler queued behind another joins within a tick.
    await Promise.resolve();
    if (!(await this[LEADER_WORK].drain(timeout))) {
      throw new Error(`leader-only work of election ${this.election} still running after ${timeout}ms`);
    }
  }

  /** Leads from bootstrap on with `leader: true`. */
  async onApplicationBootstrap(): Promise<void> {
    if (this.options.leader) await this.becomeLeader();
  }

  /** Ends a running term with `shutdown` and drains, as the real service does before releasing. */
  async beforeApplicationShutdown(): Promise<void> {
    if (this.live) await this.loseLeadership('shutdown', null);
    await this.settled();
    this.stopped = true;
    for (const waiter of this.waiters) waiter.reject(new Error(`election ${this.election} stopped`));
    this.waiters.clear();
    this.subject.complete();
  }

  private changeHolder(holder: string | null): void {
    if (holder === this.holder) return;
    this.holder = holder;
    this.emit({ type: 'leader-changed', holder, term: null, fencingToken: null });
  }

  private emit(event: EventBody): void {
    const base = {
      election: this.election,
      lease: this.leaseName,
      namespace: this.namespace,
      identity: this.identity,
      timestamp: new Date(),
    };
    this.subject.next({ ...base, ...event } as LeadershipEvent);
  }
}
