import { OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { Logger } from '@nestjs/common';
import type { Job } from 'bullmq';
import {
  LeaderElectionService,
  OnLeaderChanged,
  OnLeadershipAcquired,
  OnLeadershipLost,
  OnlyWhenLeader,
  type LeaderChangedEvent,
  type LeadershipAcquiredEvent,
  type LeadershipLostEvent,
} from 'nestjs-lease-election';
import { setTimeout as sleep } from 'node:timers/promises';
import { Reporter } from './reporter.js';
import { ResultStore } from './result-store.js';

const env = process.env;

/**
 * The README's BullMQ recipe: the worker is created stopped, runs while this
 * replica leads, and is paused (waiting for its active jobs) when the term
 * ends. Jobs stop on the term's signal and store results with its token.
 */
@Processor(env.QUEUE ?? 'jobs', {
  autorun: false,
  concurrency: 2,
  // A SIGKILLed leader's job is retried once its lock expires (stalled-job check).
  lockDuration: Number(env.LOCK_DURATION ?? 2000),
  stalledInterval: Number(env.STALLED_INTERVAL ?? 1000),
  maxStalledCount: 10,
})
export class JobsConsumer extends WorkerHost {
  private readonly logger = new Logger(JobsConsumer.name);
  /** Jobs admitted but with no result stored yet (aborted ones too), for LateResultOnWake. */
  readonly unsaved = new Map<string, { job: Job; token: string }>();

  constructor(
    private readonly election: LeaderElectionService,
    private readonly store: ResultStore,
    private readonly reporter: Reporter,
  ) {
    super();
  }

  @OnLeadershipAcquired()
  start(event: LeadershipAcquiredEvent): void {
    this.reporter.emit({ event: 'term-start', token: event.fencingToken });
    if (this.worker.isPaused()) void this.worker.resume();
    // run() settles only when the worker stops: start it, never await it here.
    else if (!this.worker.isRunning()) this.worker.run().catch((error) => this.logger.error(error));
    this.reporter.emit({ event: 'worker-running' });
  }

  @OnLeadershipLost()
  async stop(event: LeadershipLostEvent): Promise<void> {
    this.reporter.emit({ event: 'term-end', token: event.fencingToken, reason: event.reason });
    await this.worker.pause(); // waits for active jobs, which stop on the term's signal
    this.reporter.emit({ event: 'worker-paused' });
  }

  @OnLeaderChanged()
  observed(event: LeaderChangedEvent): void {
    this.reporter.emit({ event: 'leader-changed', holder: event.holder });
  }

  @OnlyWhenLeader({ onFollower: 'throw' }) // a job that slips through fails and is retried, never "completed"
  async process(job: Job<{ sequence: number }>): Promise<string> {
    const term = this.election.admittedTerm()!;
    const token = term.fencingToken;
    this.reporter.emit({ event: 'job-start', jobId: job.id!, token, attempt: job.attemptsStarted });
    this.unsaved.set(job.id!, { job, token });
    try {
      await sleep(Number(env.JOB_MS ?? 200), undefined, { signal: term.signal });
    } catch (error) {
      this.reporter.emit({ event: 'job-aborted', jobId: job.id!, token });
      throw error; // failed with attempts left: BullMQ retries it, on whichever replica leads then
    }
    const result = `${this.reporter.identity}@${token}`;
    const applied = await this.store.save(job.id!, token, result);
    this.unsaved.delete(job.id!);
    this.reporter.emit({ event: 'job-end', jobId: job.id!, token, applied });
    if (!applied) throw new Error(`result of job ${job.id} rejected: fencing token ${token} is stale`);
    return result;
  }

  @OnWorkerEvent('active')
  active(job: Job): void {
    this.reporter.emit({ event: 'job-active', jobId: job.id! });
  }

  @OnWorkerEvent('completed')
  completed(job: Job): void {
    this.reporter.emit({ event: 'job-completed', jobId: job.id! });
  }

  @OnWorkerEvent('failed')
  failed(job: Job | undefined, error: Error): void {
    this.reporter.emit({ event: 'job-failed', jobId: job?.id ?? '?', message: error.message });
  }
}
