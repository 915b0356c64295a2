import { NOT_LEADER } from '../leader-election.messages.js';

/**
 * Thrown (or rejected) by `@OnlyWhenLeader({ onFollower: 'throw' })` on a
 * follower, so a caller such as a queue worker never reads a skip as success.
 */
export class NotLeaderError extends Error {
  constructor(
    /** The election that this replica does not lead. */
    readonly election: string,
    /** Name of its Lease. */
    readonly lease: string,
    /** Namespace of its Lease. */
    readonly namespace: string,
    /** The leader as this replica sees it, or null when none is known. */
    readonly leader: string | null,
    /** This replica's identity. */
    readonly identity: string,
  ) {
    super(NOT_LEADER(election, `${namespace}/${lease}`, leader));
    this.name = 'NotLeaderError';
  }
}
