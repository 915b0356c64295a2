import { Injectable, Logger } from '@nestjs/common';
import { Cron, Interval } from '@nestjs/schedule';
import { LeaderElectionService, OnlyWhenLeader } from 'nestjs-lease-election';
import { workStep } from './leader-work-step.js';
import { TelemetryService } from './telemetry.service.js';

/** Leader-only jobs: a cron report and a frequent reconcile loop. */
@Injectable()
export class ReportJob {
  private readonly logger = new Logger(ReportJob.name);
  /** How many times this replica ran each job (shown by GET /leader). */
  readonly runs = { report: 0, reconcile: 0 };

  constructor(
    private readonly election: LeaderElectionService,
    private readonly telemetry: TelemetryService,
  ) {}

  /** Every 10 seconds, on the leader only. */
  @Cron(process.env.REPORT_CRON ?? '*/10 * * * * *')
  @OnlyWhenLeader()
  async report(): Promise<void> {
    this.runs.report++;
    const term = this.election.admittedTerm();
    this.logger.log(`report #${this.runs.report} (fencing token ${term?.fencingToken})`);
  }

  /** A short reconcile step; it stops early when the term ends. */
  @OnlyWhenLeader()
  @Interval(Number(process.env.RECONCILE_INTERVAL_MS ?? 1000))
  async reconcile(): Promise<void> {
    // The term that admitted this call: `election.term` could already be a later one, or null.
    const term = this.election.admittedTerm();
    if (!term) return;
    this.runs.reconcile++;
    this.telemetry.record('work-begin', this.election.identity, { token: term.fencingToken });
    await workStep(Number(process.env.RECONCILE_WORK_MS ?? 200), term.signal);
    this.telemetry.record('work-end', this.election.identity, {
      token: term.fencingToken,
      aborted: term.signal.aborted,
    });
  }
}
