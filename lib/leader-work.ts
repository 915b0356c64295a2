import { AsyncLocalStorage } from 'node:async_hooks';
import type { LeadershipTerm } from './elector/internal.js';
import { NotLeaderError } from './errors/not-leader.error.js';
import type { FollowerCallBehaviour } from './interfaces/only-when-leader-options.interface.js';

/** What leader-only work needs to know about its election. */
export interface LeadershipSource {
  readonly election: string;
  /** Name of the Lease. */
  readonly lease: string;
  /** Namespace of the Lease. */
  readonly namespace: string;
  readonly identity: string;
  readonly leader: string | null;
  /** The current term; reading it must re-check the renew deadline. */
  readonly term: LeadershipTerm | null;
}

/** Where a service (real or testing) keeps its {@link LeaderWork}; not part of the public API. */
export const LEADER_WORK = Symbol.for('nestjs-lease-election:leader-work');

/** Something that carries a {@link LeaderWork} under {@link LEADER_WORK}. */
export interface HasLeaderWork {
  readonly [LEADER_WORK]: LeaderWork;
}

/** The {@link LeaderWork} of `service`, if it has one (a user's plain test double does not). */
export function leaderWorkOf(service: unknown): LeaderWork | undefined {
  return (service as Partial<HasLeaderWork> | null | undefined)?.[LEADER_WORK];
}

/**
 * The leader-only work of one election: admits calls under the current term,
 * carries that term across awaits (`admittedTerm()`), and tracks running calls
 * and async leadership handlers for the shutdown drain. One instance per
 * service, so neither another election nor another app in the process can see
 * (or overwrite) its terms.
 */
export class LeaderWork {
  private readonly admitted = new AsyncLocalStorage<Admission>();
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(
    private readonly source: LeadershipSource,
    private readonly debug: (message: string) => void,
  ) {}

  /** The term that admitted the running call; null outside one. */
  admittedTerm(): LeadershipTerm | null {
    return this.admitted.getStore()?.term ?? null;
  }

  /**
   * Runs `body` under a term and tracks it, or on a follower returns
   * undefined (a resolved promise when `async`) or throws a `NotLeaderError`
   * (rejects) with `onFollower: 'throw'`.
   *
   * A call nested in a call this gate admitted keeps the outer call's term:
   * once that term is over it is refused like a follower's, even if this
   * replica leads again, so stale work never gets a newer term's signal or
   * fencing token. Outside an admitted call (including work an acquire
   * handler started) the live term admits it.
   */
  run<T>(
    body: () => T,
    async: boolean,
    label: string,
    onFollower: FollowerCallBehaviour,
  ): T | undefined | Promise<undefined> {
    const outer = this.admitted.getStore();
    const term = outer?.gated ? outer.term : this.source.term;
    if (!term || (outer?.gated && !isLive(term, this.source))) {
      if (onFollower === 'skip') {
        const why = term ? 'the term that admitted the calling work is over' : 'not the leader';
        this.debug(`${label} skipped: ${why} of ${this.source.namespace}/${this.source.lease}`);
      }
      return followerCall(this.source, async, onFollower);
    }
    const result = this.admitted.run({ term, gated: true }, body);
    if (isThenable(result)) this.track(result);
    return result;
  }

  /**
   * The imperative gate: runs `work` with the term that admits it, exactly as
   * `@OnlyWhenLeader` runs an async method (nested calls keep its term,
   * tracked by the drain). Resolves `undefined` on a follower, or rejects
   * with a `NotLeaderError` with `onFollower: 'throw'`.
   */
  runIfLeader<T>(
    work: (term: LeadershipTerm) => T | PromiseLike<T>,
    onFollower: FollowerCallBehaviour = 'skip',
    label = 'runIfLeader',
  ): Promise<T | undefined> {
    if (onFollower !== 'skip' && onFollower !== 'throw') {
      return Promise.reject(
        new TypeError(`runIfLeader(): onFollower must be 'skip' or 'throw', got ${JSON.stringify(onFollower)}.`),
      );
    }
    const run = this.run(async () => work(this.admittedTerm()!), true, label, onFollower);
    return run as Promise<T | undefined>;
  }

  /**
   * Runs `body` with `term` as its current term, not as an admitted call:
   * work an acquire handler starts may outlive the term (a queue worker's
   * loop), so gated calls inside it are admitted by the live term.
   */
  runInTerm<T>(term: LeadershipTerm, body: () => T): T {
    return this.admitted.run({ term, gated: false }, body);
  }

  /** Makes the shutdown drain wait for `work`. */
  track(work: PromiseLike<unknown>): void {
    const settled = Promise.resolve(work).then(
      () => undefined,
      () => undefined,
    );
    this.inFlight.add(settled);
    void settled.finally(() => this.inFlight.delete(settled));
  }

  /** Number of running calls and async handlers. */
  get size(): number {
    return this.inFlight.size;
  }

  /** Waits for running work, including work that joins while waiting, for at most `timeout` ms; true if all settled. */
  async drain(timeout: number): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeout)));
    let outcome: 'drained' | 'timeout' = 'drained';
    // Loop: a queued handler (a loss handler waiting for its acquire handler) joins the set while we wait.
    while (this.inFlight.size > 0 && outcome === 'drained') {
      outcome = await Promise.race([Promise.all([...this.inFlight]).then(() => 'drained' as const), timedOut]);
    }
    clearTimeout(timer);
    return outcome === 'drained';
  }
}

/** The term a running call carries; `gated` when a gate admitted the call, so nested gated calls keep its term. */
interface Admission {
  term: LeadershipTerm;
  gated: boolean;
}

/** The term is still the source's live one; reading `signal` re-checks its renew deadline. */
function isLive(term: LeadershipTerm, source: LeadershipSource): boolean {
  return !term.signal.aborted && source.term === term;
}

/**
 * What a leader-only call does on a follower: returns undefined (a resolved
 * promise when `async`), or with `onFollower: 'throw'` throws a
 * `NotLeaderError` (rejects).
 */
export function followerCall(
  source: Omit<LeadershipSource, 'term'>,
  async: boolean,
  onFollower: FollowerCallBehaviour,
): undefined | Promise<undefined> {
  if (onFollower === 'throw') {
    const error = new NotLeaderError(source.election, source.lease, source.namespace, source.leader, source.identity);
    if (async) return Promise.reject(error);
    throw error;
  }
  return async ? Promise.resolve(undefined) : undefined;
}

export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return !!value && typeof (value as { then?: unknown }).then === 'function';
}
