import type { Clock, TimerHandle } from '../../lib/elector/clock.js';

interface FakeTimer {
  readonly id: number;
  readonly at: number;
  readonly callback: () => void;
}

/** Options of {@link FakeClock}. */
export interface FakeClockOptions {
  /** Initial monotonic reading in ms. Default 0. */
  start?: number;
  /** Wall time corresponding to the initial monotonic reading. Default 2025-01-01T00:00:00Z. */
  wallStart?: Date;
  /** How many macrotask turns {@link FakeClock.flush} waits. Default 5. */
  flushTurns?: number;
}

/** Opaque handle returned by {@link FakeClock.setTimeout}. */
export interface FakeTimerHandle {
  readonly fakeTimerId: number;
}

/**
 * A deterministic {@link Clock} for tests. Time moves only when a test calls
 * {@link advance} (which runs due timers in time order, letting promise
 * chains settle between them) or {@link jump} (which moves time without
 * running anything, like a blocked event loop).
 */
export class FakeClock implements Clock {
  private current: number;
  private readonly wallStartMs: number;
  private wallOffsetMs = 0;
  private readonly timers = new Map<number, FakeTimer>();
  private nextId = 1;
  private readonly flushTurns: number;

  constructor(options: FakeClockOptions = {}) {
    this.current = options.start ?? 0;
    this.wallStartMs = (options.wallStart ?? new Date('2025-01-01T00:00:00.000Z')).getTime() - this.current;
    this.flushTurns = options.flushTurns ?? 5;
  }

  now(): number {
    return this.current;
  }

  wallNow(): Date {
    return new Date(this.wallStartMs + this.current + this.wallOffsetMs);
  }

  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    const id = this.nextId++;
    const delay = Number.isNaN(delayMs) ? 0 : Math.max(0, delayMs);
    this.timers.set(id, { id, at: this.current + delay, callback });
    const handle: FakeTimerHandle = { fakeTimerId: id };
    return handle;
  }

  clearTimeout(handle: TimerHandle): void {
    const id = (handle as FakeTimerHandle | null | undefined)?.fakeTimerId;
    if (id !== undefined) this.timers.delete(id);
  }

  /** Number of timers that have not fired or been cleared. */
  pendingTimers(): number {
    return this.timers.size;
  }

  /** Monotonic time of the earliest pending timer, or null. */
  nextTimerAt(): number | null {
    let earliest: number | null = null;
    for (const timer of this.timers.values()) {
      if (Number.isFinite(timer.at) && (earliest === null || timer.at < earliest)) earliest = timer.at;
    }
    return earliest;
  }

  /** Lets pending promise callbacks run: waits several macrotask turns. */
  async flush(): Promise<void> {
    for (let i = 0; i < this.flushTurns; i++) {
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due on the way,
   * in time order (ties in scheduling order), with pending promises flushed
   * before the first and after every timer. Timers scheduled by callbacks
   * fire too if they fall due within the window. Overdue timers (after a
   * {@link jump}) fire at the current time.
   */
  async advance(ms: number): Promise<void> {
    if (!(ms >= 0)) throw new RangeError(`FakeClock.advance: ms must be >= 0, got ${ms}`);
    const target = this.current + ms;
    await this.flush();
    for (;;) {
      const next = this.earliestDue(target);
      if (!next) break;
      this.timers.delete(next.id);
      this.current = Math.max(this.current, next.at);
      next.callback();
      await this.flush();
    }
    this.current = Math.max(this.current, target);
    await this.flush();
  }

  /** Advances to the absolute monotonic time `at` (no-op if already past it, except for flushing). */
  async advanceTo(at: number): Promise<void> {
    await this.advance(Math.max(0, at - this.current));
  }

  /**
   * Advances in steps of `stepMs` until `predicate()` holds, checking before
   * the first step. Returns the elapsed time; throws after `maxMs`.
   */
  async advanceUntil(predicate: () => boolean, maxMs: number, stepMs = 1): Promise<number> {
    const started = this.current;
    await this.flush();
    while (!predicate()) {
      if (this.current - started >= maxMs) {
        throw new Error(`FakeClock.advanceUntil: condition not met within ${maxMs}ms`);
      }
      await this.advance(stepMs);
    }
    return this.current - started;
  }

  /**
   * Moves time forward by `ms` WITHOUT running timers or flushing, as if the
   * event loop had been blocked. Overdue timers fire on the next {@link advance}.
   */
  jump(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`FakeClock.jump: ms must be >= 0, got ${ms}`);
    this.current += ms;
  }

  /** Skews wall time (only) by `ms`; the monotonic clock is unaffected. */
  skewWall(ms: number): void {
    this.wallOffsetMs += ms;
  }

  private earliestDue(limit: number): FakeTimer | null {
    let best: FakeTimer | null = null;
    for (const timer of this.timers.values()) {
      if (timer.at > limit) continue;
      if (best === null || timer.at < best.at || (timer.at === best.at && timer.id < best.id)) best = timer;
    }
    return best;
  }
}
