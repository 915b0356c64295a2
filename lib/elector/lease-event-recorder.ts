import { timeoutSignal, type Clock } from './clock.js';
import type { ElectorLogger } from './elector-options.js';
import type { LeaseEventAction, LeaseLock } from './lease-lock.js';
import { asLeaseLockError } from './lease-lock.errors.js';

/**
 * Records the lock's leadership Events for the elector without ever holding
 * it up: each write runs in the background with its own timeout, a failure is
 * logged once per kind (a missing `create events` grant would otherwise warn
 * on every term), and `flush` lets a stop wait a bounded time for the last
 * ones.
 */
export class LeaseEventRecorder {
  private readonly pending = new Set<Promise<void>>();
  private readonly reported = new Set<string>();

  constructor(
    private readonly lock: LeaseLock,
    private readonly identity: string,
    private readonly clock: Clock,
    private readonly timeout: number,
    private readonly logger: ElectorLogger,
  ) {}

  record(action: LeaseEventAction): void {
    if (!this.lock.recordEvent) return;
    const timeout = timeoutSignal(this.clock, this.timeout);
    const write = Promise.resolve()
      .then(() => this.lock.recordEvent!(this.identity, action, timeout.signal))
      .catch((error) => this.failed(action, error))
      .finally(() => {
        timeout.clear();
        this.pending.delete(write);
      });
    this.pending.add(write);
  }

  /** Waits for Event writes in flight, at most their own timeout. */
  async flush(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  private failed(action: LeaseEventAction, error: unknown): void {
    const failure = asLeaseLockError(error);
    if (this.reported.has(failure.reason)) return;
    this.reported.add(failure.reason);
    this.logger.warn(
      `could not record the Event "${this.identity} ${action}" for lease ${this.lock.describe()}: ` +
        `${failure.message}. Events are best-effort; the election is not affected (logged once per kind of error).`,
    );
  }
}
