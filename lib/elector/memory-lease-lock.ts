import type { LeaseLock, LeaseReadResult, LeaseWatch, LeaseWatchHandlers } from './lease-lock.js';
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
  private readonly watchers = new Set<LeaseWatchHandlers>();

  /**
   * Creates an empty in-memory Lease named `namespace/name`. With
   * `{ watchable: true }` it also supports `watch`, delivering changes
   * synchronously after each write.
   */
  constructor(
    readonly name = 'memory-lease',
    readonly namespace = 'default',
    options: { watchable?: boolean } = {},
  ) {
    if (!options.watchable) this.watch = undefined;
  }

  /** Streams changes; present only when constructed with `{ watchable: true }`. */
  watch?: (
    handlers: LeaseWatchHandlers,
    resourceVersion: string | undefined,
    signal: AbortSignal,
  ) => Promise<LeaseWatch> = async (handlers, _resourceVersion, signal) => {
    this.checkSignal(signal, 'watch');
    this.watchers.add(handlers);
    const done = new Promise<void>((resolve) =>
      signal.addEventListener(
        'abort',
        () => {
          this.watchers.delete(handlers);
          resolve();
        },
        { once: true },
      ),
    );
    if (this.stored !== null) handlers.onChange(this.read());
    return { done };
  };

  /** Number of open watches (for tests). */
  get watcherCount(): number {
    return this.watchers.size;
  }

  describe(): string {
    return `${this.namespace}/${this.name} (in-memory)`;
  }

  /** Versions are one counter for the lock's whole life, as etcd's revision: they rise across deletions. */
  async resourceVersionsComparable(): Promise<boolean> {
    return true;
  }

  async get(signal: AbortSignal): Promise<LeaseReadResult> {
    this.checkSignal(signal, 'get');
    if (this.stored === null) throw new LeaseNotFoundError(`lease ${this.describe()} not found`, { status: 404 });
    return this.read();
  }

  private read(): LeaseReadResult {
    const stored = this.stored!;
    const normalized = normalizeLeaseSpec(stored.spec);
    return {
      record: normalized.record,
      resourceVersion: String(stored.resourceVersion),
      ...(normalized.problems.length > 0 ? { normalized } : {}),
    };
  }

  private notify(): void {
    for (const watcher of [...this.watchers]) watcher.onChange(this.stored === null ? null : this.read());
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
    this.notify();
  }

  /** Deletes the Lease, as `kubectl delete lease` would. */
  delete(): void {
    this.stored = null;
    this.notify();
  }

  /** The stored spec as last written, or null when there is no Lease. */
  peek(): unknown {
    return this.stored === null ? null : structuredClone(this.stored.spec);
  }

  private store(record: LeaseRecord): LeaseSnapshot {
    const copy = structuredClone(record);
    this.stored = { spec: copy, resourceVersion: this.nextVersion++ };
    const written = { record: structuredClone(copy), resourceVersion: String(this.stored.resourceVersion) };
    queueMicrotask(() => this.notify());
    return written;
  }

  private checkSignal(signal: AbortSignal, verb: string): void {
    if (signal.aborted) throw new LeaseTimeoutError(`${verb} of lease ${this.describe()} aborted`);
  }
}
