import { LeaseTimeoutError } from './lease-lock.errors.js';
import type { MemberDirectory, MemberDirectoryHandlers, MemberRecord } from './member-directory.js';

/**
 * An in-process member directory: share one between the groups of one
 * process (tests, or several apps in one process) to spread elections among
 * them without a cluster. Changes are delivered synchronously, so its view
 * cannot fall behind and it reports no `diagnostics`.
 */
export class MemoryMemberDirectory implements MemberDirectory {
  private readonly records = new Map<string, MemberRecord>();
  private readonly followers = new Set<MemberDirectoryHandlers>();
  private version = 0;

  describe(): string {
    return `${this.name} (in-memory)`;
  }

  /** Identities with a record, live or not (for tests). */
  get identities(): string[] {
    return [...this.records.keys()];
  }

  /** `wallNow`: the wall clock written as each record's renewal time (tests pass a fake one). */
  constructor(
    readonly name = 'memory-members',
    private readonly wallNow: () => Date = () => new Date(),
  ) {}

  async announce(identity: string, durationMs: number, signal: AbortSignal, ready = true): Promise<void> {
    check(signal, 'announce');
    const record = { identity, durationMs, version: String(++this.version), renewedAt: this.wallNow(), ready };
    this.records.set(identity, record);
    for (const follower of this.followers) follower.onRecord(record);
  }

  async withdraw(identity: string, signal: AbortSignal): Promise<void> {
    check(signal, 'withdraw');
    if (!this.records.delete(identity)) return;
    for (const follower of this.followers) follower.onGone(identity);
  }

  async follow(handlers: MemberDirectoryHandlers, signal: AbortSignal): Promise<void> {
    check(signal, 'follow');
    this.followers.add(handlers);
    signal.addEventListener('abort', () => this.followers.delete(handlers), { once: true });
    for (const record of this.records.values()) handlers.onRecord(record);
  }

  async evict(record: MemberRecord, signal: AbortSignal): Promise<void> {
    check(signal, 'evict');
    if (this.records.get(record.identity)?.version === record.version) await this.withdraw(record.identity, signal);
  }
}

function check(signal: AbortSignal, operation: string): void {
  if (signal.aborted) throw new LeaseTimeoutError(`${operation} member: aborted before starting`);
}
