import type { LeadershipTerm, TermEndReason } from '../elector/internal.js';

interface LeadershipEventBase {
  /** The election (`default` unless named). */
  election: string;
  /** Name of its Lease. */
  lease: string;
  /** Namespace of its Lease. */
  namespace: string;
  /** This replica's identity. */
  identity: string;
  /** When the elector reported the event. */
  timestamp: Date;
}

/** This replica became leader: `term` is the new term. */
export interface LeadershipAcquiredEvent extends LeadershipEventBase {
  type: 'acquired';
  /** Ourselves. */
  holder: string;
  term: LeadershipTerm;
  /** `term.fencingToken`. */
  fencingToken: string;
}

/** This replica stopped leading: `term` is the term that ended, `reason` says why. */
export interface LeadershipLostEvent extends LeadershipEventBase {
  type: 'lost';
  /** The holder as this replica sees it now, or null if none is known. */
  holder: string | null;
  term: LeadershipTerm;
  /** `term.fencingToken`. */
  fencingToken: string;
  /**
   * Why this replica stopped leading (the core's `TermEndReason`):
   * - `stolen`: another replica now holds the Lease.
   * - `renew-failed`: renewals kept failing (API errors, partition, RBAC) until renewDeadline.
   * - `expired`: renewDeadline passed without a renewal attempted in time (a stalled event loop or process).
   * - `shutdown`: the application is shutting down; the Lease is released after in-flight work drains.
   * - `preempted`: Coordinated Leader Election prefers another candidate; the Lease is released after the work
   *   drains, or left to lapse if the drain outlasts the renew deadline.
   * - `handed-over`: a spreading group prefers another live replica for this election; the Lease is released to it
   *   after the work drains.
   */
  reason: TermEndReason;
}

/** The observed holder of the Lease changed (any replica, including this one). */
export interface LeaderChangedEvent extends LeadershipEventBase {
  type: 'leader-changed';
  /** The new holder, or null when the Lease was released or deleted. */
  holder: string | null;
  term: null;
  fencingToken: null;
}

/** Leadership events, as delivered to handlers and `LeaderElectionService.events$`; narrow on `type`. */
export type LeadershipEvent = LeadershipAcquiredEvent | LeadershipLostEvent | LeaderChangedEvent;

/** Which leadership event happened. */
export type LeadershipEventType = LeadershipEvent['type'];
