import type { LeaseRecord, LeaseSnapshot, NormalizedLeaseSpec } from './lease-record.js';

/** What a lock returns on read: the snapshot plus any malformations found in the stored record. */
export interface LeaseReadResult extends LeaseSnapshot {
  /** Present when the stored spec had to be normalized. */
  normalized?: Pick<NormalizedLeaseSpec, 'problems' | 'durationUnusable'>;
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
}
