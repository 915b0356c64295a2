import { Controller, Get, Optional } from '@nestjs/common';
import { InjectLeaderElectionGroup, LeaderElectionGroupService, LeaderElectionService } from 'nestjs-lease-election';
import { ReportJob } from './report.job.js';

/** `GET /leader`: what this replica knows about the election. */
@Controller('leader')
export class LeaderController {
  constructor(
    private readonly election: LeaderElectionService,
    private readonly jobs: ReportJob,
    @Optional() @InjectLeaderElectionGroup('jobs') private readonly group?: LeaderElectionGroupService,
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
      // The spread jobs this replica runs now, and the replicas sharing them.
      spread: this.group && {
        leading: this.group.leading,
        members: this.group.members,
        preferred: Object.fromEntries(this.group.assignments.map(({ election, preferred }) => [election, preferred])),
      },
    };
  }
}
