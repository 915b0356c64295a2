/** Why a Lease API call failed, as a bounded label set (used for logs and the `reason` metric label). */
export type LeaseErrorReason =
  'not_found' | 'conflict' | 'unauthorized' | 'forbidden' | 'invalid' | 'timeout' | 'unavailable' | 'other';

/** Base class of every failure a {@link LeaseLock} reports. */
export class LeaseLockError extends Error {
  /** Bounded classification of the failure. */
  readonly reason: LeaseErrorReason;
  /** HTTP status when the API server answered, else undefined. */
  readonly status?: number;

  constructor(reason: LeaseErrorReason, message: string, options?: { status?: number; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.reason = reason;
    this.status = options?.status;
  }
}

/** The Lease (or its namespace) does not exist. */
export class LeaseNotFoundError extends LeaseLockError {
  constructor(message: string, options?: { status?: number; cause?: unknown }) {
    super('not_found', message, options);
  }
}

/** Optimistic-concurrency conflict (409): somebody else wrote first. Normal during contention. */
export class LeaseConflictError extends LeaseLockError {
  constructor(message: string, options?: { status?: number; cause?: unknown }) {
    super('conflict', message, options);
  }
}

/**
 * The API server did not accept the credentials (401): an expired or revoked
 * token, or a kubeconfig user it does not know. Not an RBAC problem.
 */
export class LeaseUnauthorizedError extends LeaseLockError {
  constructor(message: string, options?: { status?: number; cause?: unknown }) {
    super('unauthorized', message, options);
  }
}

/** RBAC denied the call (403). The message names verb, resource, namespace and user. */
export class LeaseForbiddenError extends LeaseLockError {
  constructor(message: string, options?: { status?: number; cause?: unknown }) {
    super('forbidden', message, options);
  }
}

/** The API server rejected the object (400/422), for example a malformed time field. */
export class LeaseInvalidError extends LeaseLockError {
  constructor(message: string, options?: { status?: number; cause?: unknown }) {
    super('invalid', message, options);
  }
}

/** The call did not finish within its deadline, or was aborted. */
export class LeaseTimeoutError extends LeaseLockError {
  constructor(message: string, options?: { status?: number; cause?: unknown }) {
    super('timeout', message, options);
  }
}

/** The API server could not be reached or answered 5xx/429. */
export class LeaseUnavailableError extends LeaseLockError {
  constructor(message: string, options?: { status?: number; cause?: unknown }) {
    super('unavailable', message, options);
  }
}

/** The message of a 401: what failed, and what to check (it is never a missing grant). */
export function unauthorized(what: string, user: string, status: number, detail: string): string {
  return (
    `unauthorized: ${what} was refused because the API server did not accept the credentials of "${user}" ` +
    `(HTTP ${status}: ${detail}). Check that the service account token is mounted and not expired, or that the ` +
    'kubeconfig names a user the cluster knows; this is authentication, not RBAC.'
  );
}

/** Wraps anything thrown by a lock implementation into a {@link LeaseLockError}. */
export function asLeaseLockError(error: unknown): LeaseLockError {
  if (error instanceof LeaseLockError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new LeaseLockError('other', message, { cause: error });
}
