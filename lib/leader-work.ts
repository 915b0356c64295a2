import { AsyncLocalStorage } from 'node:async_hooks';
import type { LeadershipTerm } from './elector/index.js';
import { NotLeaderError } from './errors/not-leader.error.js';
import type { FollowerCallBehaviour } from './interfaces/only-when-leader-options.interface.js';

/** What leader-only work needs to know about its election. */
export interface LeadershipSource {
  readonly election: string;
  /** `namespace/name` of the Lease. */
  readonly lease: string;
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
 * carries that term across awaits (`currentTerm()`), and tracks running calls
 * and async leadership handlers for the shutdown drain. One instance per
 * service, so neither another election nor another app in the process can see
 * (or overwrite) its terms.
 */
export class LeaderWork {
  private readonly admitted = new AsyncLocalStorage<LeadershipTerm>();
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(
    private readonly source: LeadershipSource,
    private readonly debug: (message: string) => void,
  ) {}

  /** The term that admitted the running call; null outside one. */
  currentTerm(): LeadershipTerm | null {
    return this.admitted.getStore() ?? null;
  }

  /**
   * Runs `body` inside the current term and tracks it, or on a follower
   * returns undefined (a resolved promise when `async`) or throws a
   * `NotLeaderError` (rejects) with `onFollower: 'throw'`.
   */
  run<T>(
    body: () => T,
    async: boolean,
    label: string,
    onFollower: FollowerCallBehaviour,
  ): T | undefined | Promise<undefined> {
    const term = this.source.term;
    if (!term) {
      if (onFollower === 'skip') this.debug(`${label} skipped: not the leader of ${this.source.lease}`);
      return followerCall(this.source, async, onFollower);
    }
    const result = this.admitted.run(term, body);
    if (isThenable(result)) this.track(result);
    return result;
  }

  /** Runs `body` with `term` as the current term (work started by an acquire handler). */
  runInTerm<T>(term: LeadershipTerm, body: () => T): T {
    return this.admitted.run(term, body);
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
    const error = new NotLeaderError(source.election, source.lease, source.leader, source.identity);
    if (async) return Promise.reject(error);
    throw error;
  }
  return async ? Promise.resolve(undefined) : undefined;
}

export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return !!value && typeof (value as { then?: unknown }).then === 'function';
}
