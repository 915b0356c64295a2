import type { FencingScheme } from './fencing-token.js';

/** Why a term of leadership ended. */
export type TermEndReason =
  /** Another candidate now holds the Lease (it took over, or somebody overwrote the record). */
  | 'stolen'
  /** Renewals were attempted but none succeeded within renewDeadline (API errors, partition, slow API server). */
  | 'renew-failed'
  /** renewDeadline passed before a renewal was even attempted: the event loop or process was stalled. */
  | 'expired'
  /** {@link LeaderElector.stop} was called. */
  | 'shutdown'
  /** Coordinated Leader Election named a better holder (`preferredHolder`): the Lease was handed over. */
  | 'preempted'
  /** A spreading group prefers another live replica for this Lease: the work drained, then the Lease was released. */
  | 'handed-over';

/** Every {@link TermEndReason}, for metric help texts, docs and tests. */
export const TERM_END_REASONS = [
  'stolen',
  'renew-failed',
  'expired',
  'shutdown',
  'preempted',
  'handed-over',
] as const satisfies readonly TermEndReason[];

// Fails to compile when a reason is added to the type but not to the list.
const listsEveryReason: Exclude<TermEndReason, (typeof TERM_END_REASONS)[number]> extends never ? true : never = true;
void listsEveryReason;

/**
 * One uninterrupted period of leadership. `signal` aborts the moment the term
 * ends, for any reason; leader-only work should pass it on and stop.
 */
export interface LeadershipTerm {
  /** Our identity, as written to `holderIdentity`. */
  readonly identity: string;
  /** Lease name. */
  readonly lease: string;
  /** Lease namespace. */
  readonly namespace: string;
  /**
   * A decimal string, strictly greater than the token of any earlier term on
   * this Lease, so a store that keeps the highest token it has seen can reject
   * writes from a deposed leader. Compare tokens with `compareFencingTokens`
   * (or as SQL `numeric`), never as JS numbers: they can exceed 2^53.
   * With the `resource-version` scheme the order holds across holders,
   * client-go candidates, Lease deletions and restarts; see {@link FencingScheme}.
   */
  readonly fencingToken: string;
  /** Where {@link fencingToken} came from. */
  readonly fencingScheme: FencingScheme;
  /** The Lease's `leaseTransitions` written when this term began. */
  readonly leaseTransitions: number;
  /** Wall time at which the term began (also written as `acquireTime`). */
  readonly acquiredAt: Date;
  /**
   * Aborts when the term ends; its reason is a {@link LeadershipEndedError}.
   * Reading this property re-checks the renew deadline, so after a stalled
   * event loop a fresh `term.signal.aborted` is true before any timer has run.
   * Read it through the term before side effects rather than keeping the
   * signal across awaits.
   */
  readonly signal: AbortSignal;
}

/** The abort reason of a term's signal. */
export class LeadershipEndedError extends Error {
  /** Why the term ended. */
  readonly reason: TermEndReason;

  constructor(reason: TermEndReason, lease: string) {
    super(`leadership of lease ${lease} ended: ${reason}`);
    this.name = 'LeadershipEndedError';
    this.reason = reason;
  }
}
