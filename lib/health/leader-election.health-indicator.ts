import { Injectable } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { DEFAULT_ELECTION, getLeaderElectionToken } from '../leader-election.constants.js';
import type { LeaderElectionService } from '../leader-election.service.js';
import { evaluateElectorHealth, type LeaderElectionHealthOptions } from './leader-election.health-rules.js';

/**
 * A @nestjs/terminus 12 health indicator for an election. Add it to the
 * providers of a module that imports `TerminusModule`, then:
 *
 * ```ts
 * this.health.check([() => this.leaderElection.isHealthy('leader-election')])
 * ```
 */
@Injectable()
export class LeaderElectionHealthIndicator {
  constructor(
    private readonly indicators: HealthIndicatorService,
    private readonly moduleRef: ModuleRef,
  ) {}

  /** `up` unless the election is wedged, dead, or stuck on forbidden errors; details always included. */
  isHealthy<const Key extends string>(
    key: Key,
    election: string = DEFAULT_ELECTION,
    options: LeaderElectionHealthOptions = {},
  ): HealthIndicatorResult<Key> {
    const indicator = this.indicators.check(key);
    const service = this.moduleRef.get<LeaderElectionService>(getLeaderElectionToken(election), { strict: false });
    const health = evaluateElectorHealth(service.elector, options);
    return health.healthy
      ? indicator.up({ ...health.details })
      : indicator.down({ reason: health.reason, ...health.details });
  }
}
