import type { LeaseLock, LeaseReadResult } from './lease-lock.js';
import { LeaseConflictError, LeaseNotFoundError, LeaseTimeoutError } from './lease-lock.errors.js';
import { normalizeLeaseSpec, type LeaseRecord, type LeaseSnapshot } from './lease-record.js';

/**
 * An in-process Lease with real resourceVersion semantics. Share one instance
 * between candidates to elect among them in one process; used by unit tests
 * and by the standalone mode.
 */
export class MemoryLeaseLock implements LeaseLock {
  private stored: { spec: unknown; resourceVersion: number } | null = null;
  private nextVersion = 1;

  /** Creates an empty in-memory Lease named `namespace/name`. */
  constructor(
    readonly name = 'memory-lease',
    readonly namespace = 'default',
  ) {}

  describe(): string {
    return `${this.namespace}/${this.name} (in-memory)`;
  }

  async get(signal: AbortSignal): Promise<LeaseReadResult> {
    this.checkSignal(signal, 'get');
    if (this.stored === null) throw new LeaseNotFoundError(`lease ${this.describe()} not found`, { status: 404 });
    const normalized = normalizeLeaseSpec(this.stored.spec);
    return {
      record: normalized.record,
      resourceVersion: String(this.stored.resourceVersion),
      ...(normalized.problems.length > 0 ? { normalized } : {}),
    };
  }

  async create(record: LeaseRecord, signal: AbortSignal): Promise<LeaseSnapshot> {
    this.checkSignal(signal, 'create');
    if (this.stored !== null) throw new LeaseConflictError(`lease ${this.describe()} already exists`, { status: 409 });
    return this.store(record);
  }

  async update(record: LeaseRecord, resourceVersion: string, signal: AbortSignal): Promise<LeaseSnapshot> {
    this.checkSignal(signal, 'update');
    if (this.stored === null) throw new LeaseNotFoundError(`lease ${this.describe()} not found`, { status: 404 });
    if (String(this.stored.resourceVersion) !== resourceVersion) {
      throw new LeaseConflictError(
        `lease ${this.describe()} was modified (have resourceVersion ${resourceVersion}, current ${this.stored.resourceVersion})`,
        { status: 409 },
      );
    }
    return this.store(record);
  }

  /** Writes any spec, well-formed or not, bypassing concurrency checks (an "outside writer"). */
  overwrite(spec: unknown): void {
    this.stored = { spec: structuredClone(spec), resourceVersion: this.nextVersion++ };
  }

  /** Deletes the Lease, as `kubectl delete lease` would. */
  delete(): void {
    this.stored = null;
  }

  /** The stored spec as last written, or null when there is no Lease. */
  peek(): unknown {
    return this.stored === null ? null : structuredClone(this.stored.spec);
  }

  private store(record: LeaseRecord): LeaseSnapshot {
    const copy = structuredClone(record);
    this.stored = { spec: copy, resourceVersion: this.nextVersion++ };
    return { record: structuredClone(copy), resourceVersion: String(this.stored.resourceVersion) };
  }

  private checkSignal(signal: AbortSignal, verb: string): void {
    if (signal.aborted) throw new LeaseTimeoutError(`${verb} of lease ${this.describe()} aborted`);
  }
}
