import type { LeaseRecord, LeaseSnapshot, NormalizedLeaseSpec } from './lease-record.js';

/** What a lock returns on read: the snapshot plus any malformations found in the stored record. */
export interface LeaseReadResult extends LeaseSnapshot {
  /** Present when the stored spec had to be normalized. */
  normalized?: Pick<NormalizedLeaseSpec, 'problems' | 'durationUnusable'>;
}

/** Receives changes of the watched Lease. */
export interface LeaseWatchHandlers {
  /** The Lease was added or modified (`snapshot`), or deleted (`null`). */
  onChange(snapshot: LeaseReadResult | null): void;
  /** A bookmark: nothing changed up to `resourceVersion`. */
  onBookmark?(resourceVersion: string): void;
}

/** An established watch. */
export interface LeaseWatch {
  /**
   * Settles when the watch ends: resolves when the server closed it normally,
   * rejects with a `LeaseLockError` otherwise (status 410 when the
   * resourceVersion is too old and the caller should read afresh).
   */
  readonly done: Promise<void>;
}

/**
 * Storage of one election record with optimistic concurrency, as client-go's
 * `resourcelock.Interface`. Every method rejects with a `LeaseLockError`
 * subclass and honours `signal` by rejecting with `LeaseTimeoutError`.
 */
export interface LeaseLock {
  /** `namespace/name`, for logs and errors. */
  describe(): string;
  /** Lease name. */
  readonly name: string;
  /** Lease namespace. */
  readonly namespace: string;
  /** Reads the record; rejects with `LeaseNotFoundError` when there is none. */
  get(signal: AbortSignal): Promise<LeaseReadResult>;
  /** Creates the record; rejects with `LeaseConflictError` when it already exists. */
  create(record: LeaseRecord, signal: AbortSignal): Promise<LeaseSnapshot>;
  /** Replaces the record if it is still at `resourceVersion`; else rejects with `LeaseConflictError`. */
  update(record: LeaseRecord, resourceVersion: string, signal: AbortSignal): Promise<LeaseSnapshot>;
  /**
   * Optional: streams changes of the Lease from `resourceVersion` (or from
   * its current state when undefined). Resolves once the stream is open;
   * rejects with a `LeaseLockError` when it cannot be opened (for example
   * `forbidden` when the `watch` verb is not granted). Aborting `signal`
   * ends it.
   */
  watch?(handlers: LeaseWatchHandlers, resourceVersion: string | undefined, signal: AbortSignal): Promise<LeaseWatch>;
  /**
   * Optional: whether this backend's resourceVersions are comparable
   * (positive integers that rise with every write, across deletions), so
   * they can serve as fencing tokens. Absent means no.
   */
  resourceVersionsComparable?(signal: AbortSignal): Promise<boolean>;
  /**
   * Optional: records a leadership Event about the Lease, as client-go's
   * `RecordEvent` (`"<identity> became leader"`, `"<identity> stopped leading"`).
   * Best-effort: the elector logs a failure and carries on.
   */
  recordEvent?(identity: string, action: LeaseEventAction, signal: AbortSignal): Promise<void>;
}

/** The two leadership Events client-go records on its lock. */
export type LeaseEventAction = 'became leader' | 'stopped leading';
