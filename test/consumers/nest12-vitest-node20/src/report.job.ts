import { Injectable } from '@nestjs/common';
import {
  LeaderElectionService,
  OnLeadershipAcquired,
  OnLeadershipLost,
  OnlyWhenLeader,
  type LeadershipAcquiredEvent,
  type LeadershipLostEvent,
} from 'nestjs-lease-election';

export interface ReportRun {
  fencingToken: string;
  signal: AbortSignal;
}

/** A job only the leader runs: it stamps its writes with the term's fencing token and stops on its signal. */
@Injectable()
export class ReportJob {
  readonly runs: ReportRun[] = [];
  readonly transitions: string[] = [];

  constructor(private readonly election: LeaderElectionService) {}

  @OnlyWhenLeader()
  report(): ReportRun | undefined {
    const term = this.election.admittedTerm();
    if (!term) throw new Error('@OnlyWhenLeader ran the job without a term');
    const run = { fencingToken: term.fencingToken, signal: term.signal };
    this.runs.push(run);
    return run;
  }

  @OnLeadershipAcquired()
  onAcquired(event: LeadershipAcquiredEvent): void {
    this.transitions.push(`acquired ${event.fencingToken}`);
  }

  @OnLeadershipLost()
  onLost(event: LeadershipLostEvent): void {
    this.transitions.push(`lost ${event.reason} ${event.fencingToken}`);
  }
}
