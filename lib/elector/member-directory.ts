import type { LeaseLockError } from './lease-lock.errors.js';

/** One replica's presence record, as last seen. */
export interface MemberRecord {
  /** The replica's identity (its electors' holder identity). */
  identity: string;
  /** How long the record stays valid after it was last seen to change. */
  durationMs: number;
  /** Changes with every renewal; a conditional delete names it. */
  version: string;
  /**
   * Wall time of the last renewal as written by the member, if known. Only
   * used for a record seen for the first time: one renewed longer than its
   * duration ago is left over by a replica that died, not a live member.
   */
  renewedAt?: Date;
}

/** Receives the members' records. */
export interface MemberDirectoryHandlers {
  /** A record appeared or was renewed. */
  onRecord(record: MemberRecord): void;
  /** A record was deleted (its replica left). */
  onGone(identity: string): void;
  /** Following failed; the directory retries by itself. Until `onRecord` is called again the view may be stale. */
  onError(error: LeaseLockError): void;
}

/**
 * Where the replicas of a spreading group announce themselves: one small
 * record per replica, renewed well within its duration, so every replica
 * knows who is live. Every method rejects with a `LeaseLockError`.
 */
export interface MemberDirectory {
  /** Where the records live, for logs. */
  describe(): string;
  /** Creates or renews this replica's record. */
  announce(identity: string, durationMs: number, signal: AbortSignal): Promise<void>;
  /** Deletes this replica's record, so the others stop counting it at once. */
  withdraw(identity: string, signal: AbortSignal): Promise<void>;
  /**
   * Lists the records, calls `onRecord` for each, and keeps following
   * changes until `signal` aborts. Resolves once the list has been delivered.
   */
  follow(handlers: MemberDirectoryHandlers, signal: AbortSignal): Promise<void>;
  /** Deletes a record left behind by a replica that died, if it is still at `record.version`. */
  evict(record: MemberRecord, signal: AbortSignal): Promise<void>;
}
