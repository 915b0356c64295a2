import { Injectable, Logger } from '@nestjs/common';
import {
  OnLeaderChanged,
  OnLeadershipAcquired,
  OnLeadershipLost,
  type LeaderChangedEvent,
  type LeadershipAcquiredEvent,
  type LeadershipLostEvent,
} from 'nestjs-lease-election';
import { TelemetryService } from './telemetry.service.js';

/** Reacts to leadership changes: logs them and records them for the demo. */
@Injectable()
export class LeadershipListener {
  private readonly logger = new Logger(LeadershipListener.name);

  constructor(private readonly telemetry: TelemetryService) {}

  @OnLeadershipAcquired()
  acquired(event: LeadershipAcquiredEvent): void {
    this.logger.log(`now leading ${event.namespace}/${event.lease} with fencing token ${event.fencingToken}`);
    this.telemetry.record('term-start', event.identity, { token: event.fencingToken });
  }

  @OnLeadershipLost()
  lost(event: LeadershipLostEvent): void {
    this.logger.warn(`stopped leading (${event.reason}); holder now ${event.holder ?? 'none'}`);
    this.telemetry.record('term-end', event.identity, { token: event.fencingToken, reason: event.reason });
  }

  @OnLeaderChanged()
  changed(event: LeaderChangedEvent): void {
    this.telemetry.record('leader-changed', event.identity, { holder: event.holder });
  }
}
