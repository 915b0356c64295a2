import { Controller, Get } from '@nestjs/common';
import { LeaderElectionService } from 'nestjs-lease-election';
import { ReportJob } from './report.job.js';

/** `GET /leader`: what this replica knows about the election. */
@Controller('leader')
export class LeaderController {
  constructor(
    private readonly election: LeaderElectionService,
    private readonly jobs: ReportJob,
  ) {}

  @Get()
  status() {
    const term = this.election.term;
    return {
      identity: this.election.identity,
      leader: this.election.leader,
      isLeader: this.election.isLeader,
      term: term && { fencingToken: term.fencingToken, acquiredAt: term.acquiredAt.toISOString() },
      runs: this.jobs.runs,
    };
  }
}
