import type { LeadershipTerm, TermEndReason } from './leadership-term.js';
import type { LeaseLockError } from './lease-lock.errors.js';

/** Which part of the elector made a failed call. */
export type ElectorOperation = 'acquire' | 'renew' | 'release';

/** This candidate became leader; fires once per term. */
export interface StartedLeadingEvent {
  type: 'started-leading';
  term: LeadershipTerm;
}

/** A term that started has ended; fires exactly once per started term. */
export interface StoppedLeadingEvent {
  type: 'stopped-leading';
  term: LeadershipTerm;
  reason: TermEndReason;
}

/** The observed holder changed (de-duplicated); `identity` is null when the Lease became unheld. */
export interface NewLeaderEvent {
  type: 'new-leader';
  identity: string | null;
  previous: string | null;
  /** True when the new holder is this candidate. */
  isSelf: boolean;
}

/** A leader renewal succeeded; `slowPath` is true when it needed a GET (client-go's slowpath metric). */
export interface RenewedEvent {
  type: 'renewed';
  durationMs: number;
  slowPath: boolean;
}

/** An API call failed. Conflicts are normal under contention. */
export interface ElectorErrorEvent {
  type: 'error';
  operation: ElectorOperation;
  error: LeaseLockError;
}

/**
 * How this candidate follows the Lease: `watch` (changes pushed, no polling)
 * or `poll` (client-go's cadence). `reason` is set when watching is impossible.
 */
export interface FollowerModeEvent {
  type: 'follower-mode';
  mode: 'watch' | 'poll';
  reason?: string;
}

/** The elector finished {@link LeaderElector.stop}. */
export interface ElectorStoppedEvent {
  type: 'elector-stopped';
}

/** Everything a {@link LeaderElector} reports to its listeners. */
export type LeaderElectionEvent =
  | StartedLeadingEvent
  | StoppedLeadingEvent
  | NewLeaderEvent
  | RenewedEvent
  | ElectorErrorEvent
  | FollowerModeEvent
  | ElectorStoppedEvent;

/**
 * Receives {@link LeaderElectionEvent}s synchronously, one at a time and in
 * order. A thrown error or a rejected promise is logged and ignored.
 */
export type LeaderElectionListener = (event: LeaderElectionEvent) => unknown;
