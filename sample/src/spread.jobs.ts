import { Injectable, Logger, type Type } from '@nestjs/common';
import { Interval } from '@nestjs/schedule';
import {
  InjectLeaderElection,
  LeaderElectionService,
  OnLeadershipAcquired,
  OnLeadershipLost,
  OnlyWhenLeader,
  type LeadershipAcquiredEvent,
  type LeadershipLostEvent,
} from 'nestjs-lease-election';
import { workStep } from './leader-work-step.js';
import { TelemetryService } from './telemetry.service.js';

/** The leader-only jobs this service spreads over its replicas (`SPREAD_JOBS` = how many of them, default 6). */
export const SPREAD_JOB_NAMES = ['billing', 'invoices', 'reports', 'cleanup', 'sync', 'digest'];

export function spreadJobNames(): string[] {
  const count = Number(process.env.SPREAD_JOBS ?? SPREAD_JOB_NAMES.length);
  return SPREAD_JOB_NAMES.slice(0, Number.isInteger(count) ? Math.max(0, count) : SPREAD_JOB_NAMES.length);
}

/**
 * A leader-only job of the spreading group: it runs on whichever replica
 * leads its election, and each replica leads an even share of the jobs.
 * Written once and stamped per job, as a service with many jobs would write
 * each by hand: `@OnlyWhenLeader('billing')` on the job's method.
 */
export function spreadJob(election: string): Type<unknown> {
  @Injectable()
  class SpreadJob {
    readonly logger = new Logger(`Job:${election}`);
    runs = 0;

    constructor(
      @InjectLeaderElection(election) readonly service: LeaderElectionService,
      readonly telemetry: TelemetryService,
    ) {}

    /** One unit of work, stopped early when the term ends (a handover, or a lost Lease). */
    @Interval(`${election}-job`, Number(process.env.SPREAD_INTERVAL_MS ?? 1000))
    @OnlyWhenLeader(election)
    async run(): Promise<void> {
      const term = this.service.admittedTerm();
      if (!term) return;
      this.runs++;
      this.telemetry.record('job-work-begin', this.service.identity, { election, token: term.fencingToken });
      await workStep(Number(process.env.RECONCILE_WORK_MS ?? 200), term.signal);
      this.telemetry.record('job-work-end', this.service.identity, {
        election,
        token: term.fencingToken,
        aborted: term.signal.aborted,
      });
    }

    @OnLeadershipAcquired(election)
    acquired(event: LeadershipAcquiredEvent): void {
      this.logger.log(`now running ${election} (fencing token ${event.fencingToken})`);
      this.telemetry.record('job-term-start', event.identity, { election, token: event.fencingToken });
    }

    @OnLeadershipLost(election)
    lost(event: LeadershipLostEvent): void {
      this.logger.log(`stopped running ${election} (${event.reason})`);
      this.telemetry.record('job-term-end', event.identity, {
        election,
        token: event.fencingToken,
        reason: event.reason,
      });
    }
  }
  Object.defineProperty(SpreadJob, 'name', { value: `SpreadJob_${election}` });
  return SpreadJob;
}
