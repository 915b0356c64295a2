import type { ElectorLogger } from './elector-options.js';
import type { LeaderElectionEvent, LeaderElectionListener } from './leader-election.events.js';

/**
 * Delivers events to listeners one event at a time, in emission order. An
 * event emitted by a listener (or by anything it triggers, such as ending a
 * term) waits until every listener has seen the current one, so every
 * listener sees `started-leading` before that term's `stopped-leading`.
 * A listener that throws or rejects is logged; the others still run.
 */
export class EventDispatcher {
  private readonly listeners = new Set<LeaderElectionListener>();
  private readonly queue: LeaderElectionEvent[] = [];
  private dispatching = false;

  constructor(private readonly logger: ElectorLogger) {}

  subscribe(listener: LeaderElectionListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Number of registered listeners. */
  get size(): number {
    return this.listeners.size;
  }

  /** Removes every listener; events emitted later reach nobody. */
  clear(): void {
    this.listeners.clear();
  }

  emit(event: LeaderElectionEvent): void {
    this.queue.push(event);
    if (this.dispatching) return;
    this.dispatching = true;
    try {
      for (let next = this.queue.shift(); next; next = this.queue.shift()) {
        for (const listener of [...this.listeners]) {
          if (this.listeners.has(listener)) this.deliver(listener, next);
        }
      }
    } finally {
      this.dispatching = false;
    }
  }

  private deliver(listener: LeaderElectionListener, event: LeaderElectionEvent): void {
    const report = (error: unknown) =>
      this.logger.error(`a ${event.type} listener failed: ${(error as Error)?.stack ?? String(error)}`);
    try {
      const result: unknown = listener(event);
      if (result && typeof (result as PromiseLike<unknown>).then === 'function') {
        (result as PromiseLike<unknown>).then(undefined, report);
      }
    } catch (error) {
      report(error);
    }
  }
}
