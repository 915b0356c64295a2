import type { LeadershipTerm } from '../elector/index.js';

/** Why this replica stopped leading. */
export type LeadershipLossReason =
  /** Another replica now holds the Lease (it expired on their side, or somebody overwrote it). */
  | 'stolen'
  /** Renewals kept failing (API errors, partition, RBAC) until renewDeadline. */
  | 'renew-failed'
  /** renewDeadline passed without a renewal being attempted in time: the event loop or process was stalled. */
  | 'expired'
  /** The application is shutting down; the Lease is released after in-flight work drains. */
  | 'shutdown';

/** Which leadership event happened. */
export type LeadershipEventType = 'acquired' | 'lost' | 'leader-changed';

/** Payload of leadership events, as delivered to handlers and `LeaderElectionService.events$`. */
export interface LeadershipEvent {
  type: LeadershipEventType;
  /** Registration name (`default` unless several elections are registered). */
  election: string;
  lease: string;
  namespace: string;
  /** This replica's identity. */
  identity: string;
  /** The holder after the event: ourselves on `acquired`, the new holder (or null if none) otherwise. */
  holder: string | null;
  /** The term that began or ended; null for `leader-changed`. */
  term: LeadershipTerm | null;
  /** The term's fencing token, or null. */
  fencingToken: string | null;
  /** Set on `lost`. */
  reason?: LeadershipLossReason;
  /** When the elector reported the event. */
  timestamp: Date;
}
