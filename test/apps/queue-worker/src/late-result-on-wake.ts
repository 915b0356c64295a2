import { Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { JobsConsumer } from './jobs.consumer.js';
import { Reporter } from './reporter.js';
import { ResultStore } from './result-store.js';

/**
 * Makes a frozen leader's late result deterministic: on SIGCONT it stores the
 * result of every job it admitted and has not stored yet, with the token that
 * job was admitted under and without asking the elector, like a job that
 * finished its work just before the freeze (on waking, the elector may end the
 * term and abort the job before this handler runs). Only the store's fence can stop it.
 */
@Injectable()
export class LateResultOnWake implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly onWake = () => void this.writeLateResults();

  constructor(
    private readonly consumer: JobsConsumer,
    private readonly store: ResultStore,
    private readonly reporter: Reporter,
  ) {}

  onApplicationBootstrap(): void {
    process.on('SIGCONT', this.onWake);
  }

  onApplicationShutdown(): void {
    process.off('SIGCONT', this.onWake);
  }

  private async writeLateResults(): Promise<void> {
    for (const [jobId, { token }] of this.consumer.unsaved) {
      this.reporter.emit({ event: 'late-result-issued', jobId, token });
      const applied = await this.store.save(jobId, token, `${this.reporter.identity}@${token} (late)`);
      this.reporter.emit({ event: 'late-result', jobId, token, applied });
    }
  }
}
