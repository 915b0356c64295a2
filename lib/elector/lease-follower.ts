import { sleep, type TimerHandle } from './clock.js';
import type { WatchActivity } from './elector-diagnostics.js';
import type { ResolvedElectorOptions } from './elector-options.js';
import { isNewerResourceVersion } from './fencing-token.js';
import type { LeaseReadResult } from './lease-lock.js';
import { asLeaseLockError, LeaseTimeoutError } from './lease-lock.errors.js';

/** A watch that ends this soon with nothing delivered counts as a failure, as in client-go's reflector. */
const VERY_SHORT_WATCH_MS = 1_000;
/** Watches are reopened after 5 to 10 minutes, as client-go's reflector does, so a silently dead stream cannot last. */
const WATCH_LIFETIME_MS = 5 * 60_000;
/** Longest pause between attempts to open a watch that was forbidden. */
const MAX_FORBIDDEN_RETRY_MS = 5 * 60_000;

/** What the follower tells its elector. */
export interface FollowerHost {
  /** A watched change newer than anything the elector has seen (`null`: the Lease was deleted). */
  onChange(snapshot: LeaseReadResult | null): void;
  /** Changes now stream (`true`), or the elector must poll until they do again (`false`). */
  onModeChange(watching: boolean, reason?: string): void;
  /** The newest resourceVersion the elector has seen, so replays of older records are dropped. */
  knownVersion(): string | undefined;
}

/**
 * Follows the Lease with a watch so a candidate needs no polling: a release
 * is seen at once and a held claim is retried exactly when it expires. When
 * the watch fails it backs off and reports `onModeChange(false)`, and the
 * elector polls until the watch is back. It never writes, so it can never
 * block or race a release.
 */
export class LeaseFollower {
  private activity: WatchActivity;
  private streaming = false;
  private from: string | undefined;
  private current: AbortController | null = null;
  private reopenRequested = false;

  constructor(
    private readonly options: ResolvedElectorOptions,
    private readonly host: FollowerHost,
  ) {
    this.activity = { state: 'off', since: options.clock.now(), dueAt: null, lastEventAt: null, lastFailure: null };
  }

  /** Whether this elector follows by watch at all. */
  get enabled(): boolean {
    return this.options.watch && typeof this.options.lock.watch === 'function';
  }

  /** True while changes stream. */
  get watching(): boolean {
    return this.streaming;
  }

  get diagnostics(): WatchActivity {
    return { ...this.activity };
  }

  /** Follows until `stop` aborts. Never rejects. */
  async run(stop: AbortSignal): Promise<void> {
    if (!this.enabled) return;
    try {
      await this.loop(stop);
    } catch (error) {
      this.options.logger.warn(`lease watch stopped: ${(error as Error)?.message ?? String(error)}; polling instead`);
    } finally {
      this.setStreaming(false);
      this.setActivity('ended', null);
    }
  }

  /** A GET revealed a change the watch missed: reopen it from that version. */
  reopen(resourceVersion: string): void {
    if (!this.streaming) return;
    this.from = resourceVersion;
    this.reopenRequested = true;
    this.current?.abort();
  }

  private async loop(stop: AbortSignal): Promise<void> {
    const { lock, clock, requestTimeout, random } = this.options;
    let failures = 0;
    let forbidden = 0;
    while (!stop.aborted) {
      const controller = new AbortController();
      const abort = () => controller.abort();
      stop.addEventListener('abort', abort, { once: true });
      this.current = controller;
      this.reopenRequested = false;
      let delivered = 0;
      const openedAt = clock.now();
      this.setActivity('connecting', openedAt + requestTimeout);
      const timers: TimerHandle[] = [clock.setTimeout(abort, requestTimeout)];
      try {
        const watch = await lock.watch!(
          {
            onChange: (snapshot) => {
              delivered++;
              this.onWatched(snapshot);
            },
            onBookmark: (resourceVersion) => {
              delivered++;
              this.activity.lastEventAt = clock.now();
              if (resourceVersion) this.from = resourceVersion;
            },
          },
          this.from,
          controller.signal,
        );
        clock.clearTimeout(timers[0]);
        if (controller.signal.aborted && !stop.aborted && !this.reopenRequested) {
          throw new LeaseTimeoutError(`watch of lease ${lock.describe()}: not open within ${requestTimeout}ms`);
        }
        const lifetime = WATCH_LIFETIME_MS * (1 + random());
        this.setActivity('open', clock.now() + lifetime);
        timers.push(
          clock.setTimeout(() => {
            this.reopenRequested = true;
            controller.abort();
          }, lifetime),
        );
        this.setStreaming(true);
        await watch.done;
        if (stop.aborted || this.reopenRequested) continue;
        if (delivered === 0 && clock.now() - openedAt < VERY_SHORT_WATCH_MS) {
          throw new Error(`the server closed the watch of lease ${lock.describe()} at once`);
        }
        failures = 0;
        forbidden = 0;
        // The server ended it: nothing streams until the reconnect opens, so the elector polls meanwhile.
        this.setStreaming(false);
      } catch (error) {
        if (stop.aborted || this.reopenRequested) continue;
        const failure = asLeaseLockError(error);
        this.activity.lastFailure = failure.message;
        if (failure.status === 410) {
          this.from = undefined; // too old: start again from the current state
          this.setStreaming(false);
          continue;
        }
        let delay: number;
        if (failure.reason === 'forbidden' || failure.reason === 'unauthorized') {
          forbidden++;
          delay = this.forbiddenDelay(forbidden, failure.message);
        } else {
          failures++;
          this.setStreaming(false);
          this.options.logger.debug?.(
            `watch of ${lock.describe()} failed (${failure.message}); polling until it reconnects`,
          );
          const { retryPeriod, leaseDuration } = this.options;
          delay = Math.min(retryPeriod * 2 ** Math.min(failures - 1, 6), leaseDuration);
        }
        this.setActivity('retrying', clock.now() + delay);
        await sleep(clock, delay, stop);
      } finally {
        for (const timer of timers) clock.clearTimeout(timer);
        stop.removeEventListener('abort', abort);
        if (delivered > 0) failures = 0;
      }
    }
  }

  /**
   * Usually RBAC without "watch"; but a starting apiserver also answers 403
   * for a moment, so keep polling and try again now and then rather than
   * giving up for good.
   */
  private forbiddenDelay(forbidden: number, message: string): number {
    const { lock, retryPeriod, leaseDuration, logger } = this.options;
    if (forbidden === 1) {
      logger.warn(
        `cannot watch lease ${lock.describe()} (${message}); following it by polling every ` +
          `${retryPeriod}ms instead, as client-go does. Grant "watch" on the Lease to get instant hand-overs.`,
      );
      this.setStreaming(false, message);
    } else {
      this.setStreaming(false);
    }
    return Math.min(leaseDuration * 2 ** Math.min(forbidden - 1, 10), MAX_FORBIDDEN_RETRY_MS);
  }

  private onWatched(snapshot: LeaseReadResult | null): void {
    this.activity.lastEventAt = this.options.clock.now();
    if (snapshot) {
      // A replay or a stale event must not reset the expiry clock of a claim we already saw.
      if (!isNewerResourceVersion(snapshot.resourceVersion, this.host.knownVersion())) return;
      this.from = snapshot.resourceVersion || this.from;
    }
    this.host.onChange(snapshot);
  }

  private setStreaming(streaming: boolean, reason?: string): void {
    if (streaming === this.streaming && reason === undefined) return;
    this.streaming = streaming;
    this.host.onModeChange(streaming, reason);
  }

  private setActivity(state: WatchActivity['state'], dueAt: number | null): void {
    this.activity = { ...this.activity, state, since: this.options.clock.now(), dueAt };
  }
}
