import { Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { OnLeadershipAcquired, type LeadershipEvent } from 'nestjs-lease-election';
import { FencedStore } from './fenced-store.js';
import { Reporter } from './reporter.js';

/**
 * Makes the stale write of a frozen leader deterministic: on SIGCONT it sends a
 * write with the token of its latest term at once, without asking the elector,
 * like a write that had passed its leadership check just before the freeze.
 * Only the store's fence can stop it.
 */
@Injectable()
export class StaleWriteOnWake implements OnApplicationBootstrap, OnApplicationShutdown {
  private token: string | null = null;
  private wakes = 0;
  private readonly onWake = () => void this.writeStale();

  constructor(
    private readonly store: FencedStore,
    private readonly reporter: Reporter,
  ) {}

  @OnLeadershipAcquired()
  acquired(event: LeadershipEvent): void {
    this.token = event.fencingToken;
  }

  onApplicationBootstrap(): void {
    process.on('SIGCONT', this.onWake);
  }

  onApplicationShutdown(): void {
    process.off('SIGCONT', this.onWake);
  }

  private async writeStale(): Promise<void> {
    const token = this.token;
    if (token === null) return;
    const writer = `${this.reporter.identity}#stale-${++this.wakes}`;
    this.reporter.emit({ event: 'stale-write-issued', token, writer });
    try {
      const applied = await this.store.write(token, writer);
      this.reporter.emit({ event: 'stale-write', token, writer, applied });
    } catch (error) {
      this.reporter.emit({ event: 'write-error', token, writer, message: (error as Error).message });
    }
  }
}
