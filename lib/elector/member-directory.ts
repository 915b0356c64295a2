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
  /**
   * Whether the replica's electors run, so an election handed to it is taken
   * at once. Undefined when the directory cannot say: the member then counts
   * as ready once it has been live for the group's `memberSettle`.
   */
  ready?: boolean;
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
 * How a directory follows the records, for health checks. Times are
 * monotonic ms on the directory's clock; `now` is when the snapshot was
 * taken, so a reader needs no clock of its own.
 */
export interface MemberViewDiagnostics {
  now: number;
  /**
   * `listing` or `connecting` (opening the watch) under a deadline, `watching`
   * (changes stream), `retrying` (after a failure, until `owedBy`), or `idle`
   * and `stopped` outside `follow`.
   */
  state: 'idle' | 'listing' | 'connecting' | 'watching' | 'retrying' | 'stopped';
  /** True while changes stream, after a list was delivered. */
  following: boolean;
  /** The last list, record, deletion or bookmark received, or null. */
  lastDeliveryAt: number | null;
  /**
   * When the directory owes its next step: the deadline of the call in
   * flight, the end of the retry pause, or when the watch is reopened. Past
   * it, the directory is wedged. Null when nothing is owed.
   */
  owedBy: number | null;
  /** The last failure, or null. */
  lastError: { reason: LeaseLockError['reason']; message: string; at: number } | null;
  /** Failures in a row, which set the backoff. */
  failures: number;
}

/**
 * Where the replicas of a spreading group announce themselves: one small
 * record per replica, renewed well within its duration, so every replica
 * knows who is live. Every method rejects with a `LeaseLockError`.
 */
export interface MemberDirectory {
  /** Where the records live, for logs. */
  describe(): string;
  /** Creates or renews this replica's record; `ready` once its electors run (default true). */
  announce(identity: string, durationMs: number, signal: AbortSignal, ready?: boolean): Promise<void>;
  /** Deletes this replica's record, so the others stop counting it at once. */
  withdraw(identity: string, signal: AbortSignal): Promise<void>;
  /**
   * Lists the records, calls `onRecord` for each, and keeps following
   * changes until `signal` aborts, retrying by itself after failures.
   * Resolves once the list has been delivered; rejects when the first list
   * fails (still retrying) or `signal` aborts before it answers. Nothing is
   * sent once `signal` has aborted.
   */
  follow(handlers: MemberDirectoryHandlers, signal: AbortSignal): Promise<void>;
  /** Deletes a record left behind by a replica that died, if it is still at `record.version`. */
  evict(record: MemberRecord, signal: AbortSignal): Promise<void>;
  /**
   * How following goes, for health checks. Optional: a directory that
   * cannot fall behind (the in-memory one delivers synchronously) has none.
   */
  readonly diagnostics?: MemberViewDiagnostics;
}
