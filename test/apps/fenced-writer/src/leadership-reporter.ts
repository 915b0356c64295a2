import { Injectable } from '@nestjs/common';
import { OnLeaderChanged, OnLeadershipAcquired, OnLeadershipLost, type LeadershipEvent } from 'nestjs-lease-election';
import { Reporter } from './reporter.js';

/** Reports terms with their fencing token, the old counter and the scheme in use. */
@Injectable()
export class LeadershipReporter {
  constructor(private readonly reporter: Reporter) {}

  @OnLeadershipAcquired()
  acquired(event: LeadershipEvent): void {
    const term = event.term!;
    this.reporter.emit({
      event: 'term-start',
      token: term.fencingToken,
      leaseTransitions: term.leaseTransitions,
      scheme: term.fencingScheme,
    });
  }

  @OnLeadershipLost()
  lost(event: LeadershipEvent): void {
    this.reporter.emit({ event: 'term-end', token: event.fencingToken, reason: event.reason });
  }

  @OnLeaderChanged()
  changed(event: LeadershipEvent): void {
    this.reporter.emit({ event: 'leader-changed', holder: event.holder });
  }
}
