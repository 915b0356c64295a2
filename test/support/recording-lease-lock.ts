import type { Clock, TimerHandle } from '../../lib/elector/clock.js';
import type { LeaseLock, LeaseReadResult } from '../../lib/elector/lease-lock.js';
import { LeaseTimeoutError } from '../../lib/elector/lease-lock.errors.js';
import type { LeaseRecord, LeaseSnapshot } from '../../lib/elector/lease-record.js';
import { MemoryLeaseLock } from '../../lib/elector/memory-lease-lock.js';

/** A lease API verb, as client-go's fake clientset records it. */
export type LeaseVerb = 'get' | 'create' | 'update';

/** One recorded call; `watch` is recorded when a watch is opened. */
export interface RecordedCall {
  verb: LeaseVerb | 'watch';
  /** Monotonic time (of the clock passed in, else 0) when the call was made. */
  startedAt: number;
  /** Monotonic time when the call settled; undefined while in flight. */
  endedAt?: number;
  /** The record sent (create/update). */
  record?: LeaseRecord;
  /** The resourceVersion sent (update). */
  resourceVersion?: string;
  outcome?: 'ok' | 'error';
  error?: unknown;
  /** What the call returned, when it succeeded. */
  result?: LeaseReadResult | LeaseSnapshot;
}

interface Failure {
  error: unknown;
  /** Remaining uses; Infinity for a persistent failure. */
  remaining: number;
  /** When true the call reaches the wrapped lock first and only its answer is lost. */
  afterApply: boolean;
}

/** Options of a failure injection. */
export interface FailureOptions {
  /** How many calls fail (default 1 for {@link RecordingLeaseLock.failNext}). */
  times?: number;
  /** Apply the call to the wrapped lock, then fail (a response lost after the write landed). */
  afterApply?: boolean;
}

/**
 * Wraps a {@link LeaseLock} (a fresh {@link MemoryLeaseLock} by default),
 * records every call, and lets tests inject failures and latency. Latency
 * runs on the given clock and honours the call's AbortSignal by rejecting
 * with {@link LeaseTimeoutError}, like a real lock.
 */
export class RecordingLeaseLock implements LeaseLock {
  /** Every call in order, with details. */
  readonly log: RecordedCall[] = [];
  /**
   * Present when the wrapped lock can watch (or `options.watch` stands in for
   * it); each watch opened is recorded. `watch: false` hides it, so the
   * elector polls.
   */
  readonly watch?: LeaseLock['watch'];
  private readonly failures: Record<LeaseVerb, Failure[]> = { get: [], create: [], update: [] };
  private readonly delays: Partial<Record<LeaseVerb, { ms: number; ignoreAbort: boolean }>> = {};

  constructor(
    readonly inner: LeaseLock = new MemoryLeaseLock('test-lease', 'default'),
    private readonly clock?: Clock,
    options: { watch?: LeaseLock['watch'] | false } = {},
  ) {
    const watch = options.watch === false ? undefined : (options.watch ?? inner.watch?.bind(inner));
    if (watch) {
      this.watch = (handlers, resourceVersion, signal) => {
        this.log.push({ verb: 'watch', startedAt: this.clock?.now() ?? 0 });
        return watch(handlers, resourceVersion, signal);
      };
    }
  }

  get name(): string {
    return this.inner.name;
  }

  /** Forwarded, not recorded: it reads the server's version, not the Lease. */
  resourceVersionsComparable(signal: AbortSignal): Promise<boolean> {
    return this.inner.resourceVersionsComparable?.(signal) ?? Promise.resolve(false);
  }

  get namespace(): string {
    return this.inner.namespace;
  }

  describe(): string {
    return this.inner.describe();
  }

  /** The verbs called so far, in order. */
  get calls(): RecordedCall['verb'][] {
    return this.log.map((call) => call.verb);
  }

  /** Returns the verbs called since the last reset and forgets them. */
  takeCalls(): RecordedCall['verb'][] {
    const verbs = this.calls;
    this.log.length = 0;
    return verbs;
  }

  /** Forgets the recorded calls. */
  resetCalls(): void {
    this.log.length = 0;
  }

  /** Calls currently in flight. */
  inFlight(): RecordedCall[] {
    return this.log.filter((call) => call.outcome === undefined);
  }

  /** The next `times` (default 1) calls of `verb` reject with `error`. */
  failNext(verb: LeaseVerb, error: unknown, options: FailureOptions = {}): this {
    this.failures[verb].push({ error, remaining: options.times ?? 1, afterApply: options.afterApply ?? false });
    return this;
  }

  /** Every call of `verb` (or of every verb) rejects with `error` until {@link clearFailures}. */
  failAlways(verb: LeaseVerb | '*', error: unknown, options: Omit<FailureOptions, 'times'> = {}): this {
    for (const v of verb === '*' ? (['get', 'create', 'update'] as const) : [verb]) {
      this.failures[v].push({ error, remaining: Number.POSITIVE_INFINITY, afterApply: options.afterApply ?? false });
    }
    return this;
  }

  /** Removes all injected failures. */
  clearFailures(): this {
    for (const verb of ['get', 'create', 'update'] as const) this.failures[verb] = [];
    return this;
  }

  /**
   * Makes calls of `verb` (or of every verb) take `ms` on the clock before
   * they reach the wrapped lock; `Infinity` hangs until aborted; 0 removes it.
   * With `ignoreAbort`, the call even ignores its AbortSignal (a broken client).
   */
  delay(verb: LeaseVerb | '*', ms: number, options: { ignoreAbort?: boolean } = {}): this {
    if (!this.clock && ms > 0) throw new Error('RecordingLeaseLock.delay needs a clock');
    for (const v of verb === '*' ? (['get', 'create', 'update'] as const) : [verb]) {
      if (ms > 0) this.delays[v] = { ms, ignoreAbort: options.ignoreAbort ?? false };
      else delete this.delays[v];
    }
    return this;
  }

  get(signal: AbortSignal): Promise<LeaseReadResult> {
    return this.call('get', {}, signal, () => this.inner.get(signal));
  }

  create(record: LeaseRecord, signal: AbortSignal): Promise<LeaseSnapshot> {
    return this.call('create', { record: structuredClone(record) }, signal, () => this.inner.create(record, signal));
  }

  update(record: LeaseRecord, resourceVersion: string, signal: AbortSignal): Promise<LeaseSnapshot> {
    return this.call('update', { record: structuredClone(record), resourceVersion }, signal, () =>
      this.inner.update(record, resourceVersion, signal),
    );
  }

  private async call<T extends LeaseReadResult | LeaseSnapshot>(
    verb: LeaseVerb,
    details: Pick<RecordedCall, 'record' | 'resourceVersion'>,
    signal: AbortSignal,
    invoke: () => Promise<T>,
  ): Promise<T> {
    const entry: RecordedCall = { verb, startedAt: this.clock?.now() ?? 0, ...details };
    this.log.push(entry);
    const failure = this.takeFailure(verb);
    try {
      const delay = this.delays[verb];
      if (delay !== undefined) await this.wait(delay.ms, delay.ignoreAbort ? undefined : signal, verb);
      if (failure && !failure.afterApply) throw failure.error;
      const result = await invoke();
      if (failure) throw failure.error;
      entry.outcome = 'ok';
      entry.result = structuredClone(result);
      return result;
    } catch (error) {
      entry.outcome = 'error';
      entry.error = error;
      throw error;
    } finally {
      entry.endedAt = this.clock?.now() ?? 0;
    }
  }

  private takeFailure(verb: LeaseVerb): Failure | undefined {
    const queue = this.failures[verb];
    const failure = queue[0];
    if (!failure) return undefined;
    failure.remaining--;
    if (failure.remaining <= 0) queue.shift();
    return failure;
  }

  private wait(ms: number, signal: AbortSignal | undefined, verb: LeaseVerb): Promise<void> {
    const clock = this.clock!;
    return new Promise((resolve, reject) => {
      const aborted = () => reject(new LeaseTimeoutError(`${verb} of lease ${this.describe()} aborted`));
      if (signal?.aborted) return aborted();
      let handle: TimerHandle | undefined;
      const onAbort = () => {
        if (handle !== undefined) clock.clearTimeout(handle);
        aborted();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      if (Number.isFinite(ms)) {
        handle = clock.setTimeout(() => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        }, ms);
      }
    });
  }
}
