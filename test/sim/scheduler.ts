import type { Clock, TimerHandle } from '../../lib/elector/clock.js';

/** Who an event belongs to: a node (its timers and the answers it receives) or the world (`null`). */
export type Owner = number | null;

/** A scheduled callback in global virtual time. */
export interface SimEvent {
  at: number;
  /** Tie-breaker: the originally planned time, so events deferred by a stall keep their order. */
  order: number;
  seq: number;
  owner: Owner;
  label: string;
  run: () => void;
  cancelled: boolean;
}

function before(a: SimEvent, b: SimEvent): boolean {
  if (a.at !== b.at) return a.at < b.at;
  if (a.order !== b.order) return a.order < b.order;
  return a.seq < b.seq;
}

/** Hook called before virtual time moves on, so checks see every event of an instant as done. */
export type AdvanceHook = (from: number, to: number) => void;

/**
 * One discrete-event loop for the whole simulated world. After each event it
 * yields one macrotask turn, so every promise continuation the event caused
 * runs before the next event: a blocked Node loop is modelled by deferring a
 * node's events (a stall), a crash by dropping them.
 */
export class Scheduler {
  now = 0;
  steps = 0;
  private readonly heap: SimEvent[] = [];
  private seq = 0;
  private readonly stalledUntil = new Map<number, number>();
  private readonly dead = new Set<number>();
  private readonly advanceHooks: AdvanceHook[] = [];
  /** Receives exceptions thrown by event callbacks. */
  uncaught: (error: unknown, event: SimEvent) => void = (error) => {
    throw error;
  };

  schedule(at: number, owner: Owner, label: string, run: () => void): SimEvent {
    const time = Math.max(at, this.now);
    const event: SimEvent = { at: time, order: time, seq: this.seq++, owner, label, run, cancelled: false };
    if (owner !== null && this.dead.has(owner)) event.cancelled = true;
    else this.push(event);
    return event;
  }

  after(delay: number, owner: Owner, label: string, run: () => void): SimEvent {
    return this.schedule(this.now + delay, owner, label, run);
  }

  onAdvance(hook: AdvanceHook): void {
    this.advanceHooks.push(hook);
  }

  /** The node runs nothing until `until`: its due timers and answers queue up, as in a blocked event loop. */
  stall(node: number, until: number): void {
    this.stalledUntil.set(node, Math.max(until, this.stalledUntil.get(node) ?? 0));
  }

  /** When the node's current stall ends (or now when it is not stalled). */
  resumesAt(node: number): number {
    return Math.max(this.now, this.stalledUntil.get(node) ?? 0);
  }

  isStalled(node: number, at = this.now): boolean {
    return (this.stalledUntil.get(node) ?? 0) > at;
  }

  /** The node's process is gone: none of its events will run again. */
  kill(node: number): void {
    this.dead.add(node);
  }

  isDead(node: number): boolean {
    return this.dead.has(node);
  }

  get idle(): boolean {
    return this.heap.length === 0;
  }

  /** Runs the next event (if any is due by `limit`) and lets its promise chains settle. False when none is. */
  async step(limit: number): Promise<boolean> {
    for (;;) {
      const next = this.heap[0];
      if (next === undefined || next.at > limit) return false;
      this.pop();
      if (next.cancelled || (next.owner !== null && this.dead.has(next.owner))) continue;
      if (next.owner !== null && this.isStalled(next.owner, next.at)) {
        next.at = this.stalledUntil.get(next.owner)!;
        this.push(next);
        continue;
      }
      if (next.at > this.now) {
        for (const hook of this.advanceHooks) hook(this.now, next.at);
        this.now = next.at;
      }
      this.steps++;
      try {
        next.run();
      } catch (error) {
        // In Node an exception thrown from a timer or socket callback kills the process.
        this.uncaught(error, next);
      }
      await new Promise<void>((resolve) => setImmediate(resolve));
      return true;
    }
  }

  /** Moves time to `to` when no event is due before it (checks still see the advance). */
  advanceTo(to: number): void {
    if (to <= this.now) return;
    for (const hook of this.advanceHooks) hook(this.now, to);
    this.now = to;
  }

  private push(event: SimEvent): void {
    const heap = this.heap;
    heap.push(event);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i], heap[parent])) break;
      [heap[i], heap[parent]] = [heap[parent], heap[i]];
      i = parent;
    }
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < heap.length && before(heap[left], heap[smallest])) smallest = left;
      if (right < heap.length && before(heap[right], heap[smallest])) smallest = right;
      if (smallest === i) return;
      [heap[i], heap[smallest]] = [heap[smallest], heap[i]];
      i = smallest;
    }
  }
}

/**
 * A node's {@link Clock}: local monotonic time runs at `rate` against the
 * global virtual time, from a fractional origin, and timers fire as Node's
 * do: the delay is truncated to whole ms (at least 1) and counted from the
 * ms-truncated loop time, so a timer can fire up to ~1 ms before the
 * fractional deadline it was armed for.
 */
export class SimClock implements Clock {
  private readonly timers = new Set<SimEvent>();

  constructor(
    private readonly scheduler: Scheduler,
    readonly node: number,
    readonly rate: number,
    private readonly offset: number,
    /** Wall time at global time 0 for this node, including its wall-clock error. */
    private readonly wallOriginMs: number,
  ) {}

  now(): number {
    return this.offset + this.rate * this.scheduler.now;
  }

  wallNow(): Date {
    return new Date(this.wallOriginMs + this.rate * this.scheduler.now);
  }

  /** Global virtual time at which this clock reads `local`. */
  globalAt(local: number): number {
    let at = (local - this.offset) / this.rate;
    while (this.offset + this.rate * at < local) at += 1e-6;
    return at;
  }

  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    const delay = delayMs >= 1 && Number.isFinite(delayMs) ? Math.trunc(delayMs) : 1;
    const event = this.scheduler.schedule(this.globalAt(Math.floor(this.now()) + delay), this.node, 'timer', () => {
      this.timers.delete(event);
      callback();
    });
    if (!event.cancelled) this.timers.add(event);
    return event;
  }

  clearTimeout(handle: TimerHandle): void {
    const event = handle as SimEvent | null | undefined;
    if (!event || !this.timers.has(event)) return;
    event.cancelled = true;
    this.timers.delete(event);
  }

  /** Timers armed and neither fired nor cleared. */
  get pending(): number {
    return this.timers.size;
  }

  /** A crash: the timers die with the process. */
  killAll(): void {
    for (const event of this.timers) event.cancelled = true;
    this.timers.clear();
  }
}
