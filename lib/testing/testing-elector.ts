import {
  LeaderElector,
  LeadershipEndedError,
  MemoryLeaseLock,
  type ElectorState,
  type LeaderElectionListener,
  type LeadershipTerm,
  type StopOptions,
  type TermEndReason,
} from '../elector/internal.js';
import { EventDispatcher } from '../elector/event-dispatcher.js';

const silent = { log: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * The elector under a {@link TestingLeaderElection}: terms start and end when
 * a test says so, with the core's events, so the service on top maps them to
 * Nest events exactly as in production. It never sends a request.
 */
export class TestingElector extends LeaderElector {
  private current: { term: LeadershipTerm; controller: AbortController } | null = null;
  private holderSeen: string | null = null;
  private reportedHolder: string | null = null;
  private nextTestToken: bigint;
  private testTransitions = 0;
  private stoppedTest = false;
  private readonly testEvents = new EventDispatcher(silent);
  private readonly testWaiters = new Set<{ resolve(term: LeadershipTerm): void; reject(error: unknown): void }>();

  constructor(identity: string, leaseName: string, namespace: string, firstFencingToken: number) {
    super({ lock: new MemoryLeaseLock(leaseName, namespace), identity, logger: silent });
    this.nextTestToken = BigInt(firstFencingToken);
  }

  override get isLeader(): boolean {
    return this.current !== null;
  }

  override get term(): LeadershipTerm | null {
    return this.current?.term ?? null;
  }

  override get leader(): string | null {
    return this.holderSeen;
  }

  override get state(): ElectorState {
    return this.stoppedTest ? 'stopped' : this.current ? 'leader' : 'candidate';
  }

  override subscribe(listener: LeaderElectionListener): () => void {
    return this.testEvents.subscribe(listener);
  }

  /** Candidacy starts with the test; nothing to do. */
  override start(): void {}

  override waitForLeadership(signal?: AbortSignal): Promise<LeadershipTerm> {
    if (this.current) return Promise.resolve(this.current.term);
    if (this.stoppedTest)
      return Promise.reject(new Error(`testing election of ${this.options.lock.describe()} stopped`));
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.testWaiters.delete(waiter);
        reject(signal!.reason);
      };
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
      signal?.addEventListener('abort', onAbort, { once: true });
      this.testWaiters.add(waiter);
    });
  }

  /** Ends a term with `shutdown`, runs the drain, and rejects pending waits; idempotent. */
  override async stop(options: StopOptions = {}): Promise<void> {
    if (this.stoppedTest) return;
    this.endTestTerm('shutdown', null);
    await options.drain?.();
    this.stoppedTest = true;
    for (const waiter of this.testWaiters) waiter.reject(new Error(`testing election stopped`));
    this.testWaiters.clear();
    this.emitTest({ type: 'elector-stopped' });
    this.testEvents.clear();
  }

  /** Starts a term with a fencing token greater than every earlier one; returns the live term if leading. */
  startTestTerm(): LeadershipTerm {
    if (this.stoppedTest) throw new Error(`testing election of ${this.options.lock.describe()} stopped`);
    if (this.current) return this.current.term;
    const controller = new AbortController();
    const term: LeadershipTerm = {
      identity: this.identity,
      lease: this.options.lock.name,
      namespace: this.options.lock.namespace,
      fencingToken: String(this.nextTestToken++),
      fencingScheme: 'resource-version',
      leaseTransitions: this.testTransitions++,
      acquiredAt: new Date(),
      signal: controller.signal,
    };
    this.current = { term, controller };
    this.observeHolder(this.identity);
    this.emitTest({ type: 'started-leading', term });
    for (const waiter of this.testWaiters) waiter.resolve(term);
    this.testWaiters.clear();
    return term;
  }

  /** Ends the running term for `reason`, then observes `holder`; only observes it when not leading. */
  endTestTerm(reason: TermEndReason, holder: string | null): void {
    const live = this.current;
    if (live) {
      this.current = null;
      this.holderSeen = holder;
      live.controller.abort(new LeadershipEndedError(reason, this.options.lock.describe()));
      this.emitTest({ type: 'stopped-leading', term: live.term, reason });
    }
    this.observeHolder(holder);
  }

  private observeHolder(holder: string | null): void {
    const previous = this.reportedHolder;
    if (holder === previous) return;
    this.holderSeen = holder;
    this.reportedHolder = holder;
    this.emitTest({ type: 'new-leader', identity: holder, previous, isSelf: holder === this.identity });
  }

  private emitTest(event: Parameters<LeaderElectionListener>[0]): void {
    this.testEvents.emit(event);
  }
}
