/** Handle returned by {@link Clock.setTimeout}. */
export type TimerHandle = unknown;

/**
 * Time source for the elector. Expiry and deadlines are judged only by
 * {@link Clock.now}, which must be monotonic; wall time is written into the
 * Lease record and never compared with anything.
 */
export interface Clock {
  /** Monotonic milliseconds; only differences are meaningful. */
  now(): number;
  /** Wall-clock time, used only for the `acquireTime`/`renewTime` fields written to the Lease. */
  wallNow(): Date;
  /** Schedules `callback` after `delayMs` on this clock. */
  setTimeout(callback: () => void, delayMs: number): TimerHandle;
  /** Cancels a timer from {@link Clock.setTimeout}. */
  clearTimeout(handle: TimerHandle): void;
}

/** The process clock: `performance.now()` and real timers. A running elector keeps the process alive until stopped. */
export const systemClock: Clock = {
  now: () => performance.now(),
  wallNow: () => new Date(),
  // Node truncates fractional delays, which would fire up to 1 ms early: round up instead.
  setTimeout: (callback, delayMs) => setTimeout(callback, Math.max(0, Math.ceil(delayMs))),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** A signal that aborts after `delayMs` on `clock`; `clear()` cancels the timer once the work is over. */
export function timeoutSignal(clock: Clock, delayMs: number): { signal: AbortSignal; clear(): void } {
  const controller = new AbortController();
  const handle = clock.setTimeout(() => controller.abort(), delayMs);
  return { signal: controller.signal, clear: () => clock.clearTimeout(handle) };
}

/**
 * Resolves after `delayMs` on `clock`, or as soon as `signal` aborts.
 * Never rejects: callers re-check their own state after waking.
 */
export function sleep(clock: Clock, delayMs: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clock.clearTimeout(handle);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const handle = clock.setTimeout(done, delayMs);
    signal?.addEventListener('abort', done, { once: true });
  });
}
