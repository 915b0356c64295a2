import { Injectable } from '@nestjs/common';
import {
  OnLeaderChanged,
  OnLeadershipAcquired,
  OnLeadershipLost,
  type LeaderChangedEvent,
  type LeadershipAcquiredEvent,
  type LeadershipLostEvent,
} from 'nestjs-lease-election';
import { Reporter } from './reporter.js';

/** Reports terms with their fencing token, the old counter and the scheme in use. */
@Injectable()
export class LeadershipReporter {
  constructor(private readonly reporter: Reporter) {}

  @OnLeadershipAcquired()
  acquired({ term }: LeadershipAcquiredEvent): void {
    this.reporter.emit({
      event: 'term-start',
      token: term.fencingToken,
      leaseTransitions: term.leaseTransitions,
      scheme: term.fencingScheme,
    });
  }

  @OnLeadershipLost()
  lost(event: LeadershipLostEvent): void {
    this.reporter.emit({ event: 'term-end', token: event.fencingToken, reason: event.reason });
  }

  @OnLeaderChanged()
  changed(event: LeaderChangedEvent): void {
    this.reporter.emit({ event: 'leader-changed', holder: event.holder });
  }
}
