/** One state of the stored Lease; `spec` null means deleted. */
export interface StoredVersion {
  spec: unknown;
  version: number;
}

const HISTORY = 64;

/**
 * The server's Lease with etcd's resourceVersion semantics: one revision
 * counter for every write (deletes included), so versions keep rising across
 * delete and re-create, and a bounded history for watches that resume from an
 * older version (older than the history answers 410 Gone).
 */
export class LeaseStore {
  private revision: number;
  private current: StoredVersion | null = null;
  private readonly history: StoredVersion[] = [];
  private readonly subscribers = new Set<(change: StoredVersion) => void>();

  constructor(firstRevision: number) {
    this.revision = Math.max(1, Math.floor(firstRevision));
  }

  read(): StoredVersion | null {
    return this.current === null ? null : { spec: structuredClone(this.current.spec), version: this.current.version };
  }

  /** CREATE; null on conflict (it exists). */
  create(spec: unknown): StoredVersion | null {
    if (this.current !== null) return null;
    return this.write(spec);
  }

  /** UPDATE at `resourceVersion`; `'not-found'` or `'conflict'` otherwise. */
  update(spec: unknown, resourceVersion: string): StoredVersion | 'not-found' | 'conflict' {
    if (this.current === null) return 'not-found';
    if (String(this.current.version) !== resourceVersion) return 'conflict';
    return this.write(spec);
  }

  /** An outside writer (kubectl edit, another tool): no concurrency check. */
  overwrite(spec: unknown): StoredVersion {
    return this.write(spec);
  }

  delete(): void {
    if (this.current === null) return;
    this.current = null;
    this.record({ spec: null, version: ++this.revision });
  }

  /** Changes after `resourceVersion`, or `'gone'` when the history no longer reaches back that far. */
  since(resourceVersion: string): StoredVersion[] | 'gone' {
    const from = Number(resourceVersion);
    if (!Number.isInteger(from) || from <= 0) return 'gone';
    const oldest = this.history[0]?.version ?? this.revision + 1;
    if (from < oldest - 1 && this.history.length >= HISTORY) return 'gone';
    return this.history.filter((entry) => entry.version > from).map((entry) => ({ ...entry }));
  }

  /** Some earlier version than the current one, for stale deliveries; null if none. */
  older(pick: number): StoredVersion | null {
    const candidates = this.history.slice(-6, -1);
    if (candidates.length === 0) return null;
    return { ...candidates[Math.floor(pick * candidates.length)] };
  }

  subscribe(subscriber: (change: StoredVersion) => void): () => void {
    this.subscribers.add(subscriber);
    return () => this.subscribers.delete(subscriber);
  }

  private write(spec: unknown): StoredVersion {
    this.current = { spec: structuredClone(spec), version: ++this.revision };
    this.record(this.current);
    return { spec: structuredClone(spec), version: this.current.version };
  }

  private record(entry: StoredVersion): void {
    this.history.push(entry);
    if (this.history.length > HISTORY) this.history.shift();
    for (const subscriber of [...this.subscribers]) subscriber(entry);
  }
}
