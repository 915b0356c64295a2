import { Injectable } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { DEFAULT_ELECTION, getLeaderElectionToken } from '../leader-election.constants.js';
import type { LeaderElectionService } from '../leader-election.service.js';
import {
  evaluateElectorHealth,
  evaluateElectorLiveness,
  evaluateElectorReadiness,
  type LeaderElectionHealth,
  type LeaderElectionHealthOptions,
} from './leader-election.health-rules.js';

/**
 * @nestjs/terminus 12 health indicators for an election. Add it to the
 * providers of a module that imports `TerminusModule`, then wire
 * `isAlive` to the liveness probe and `isReady` to the readiness probe:
 *
 * ```ts
 * @Get('live') live() { return this.health.check([() => this.election.isAlive('leader-election')]); }
 * @Get('ready') ready() { return this.health.check([() => this.election.isReady('leader-election')]); }
 * ```
 */
@Injectable()
export class LeaderElectionHealthIndicator {
  constructor(
    private readonly indicators: HealthIndicatorService,
    private readonly moduleRef: ModuleRef,
  ) {}

  /** Liveness: `down` only when the election is wedged or its loop died, which a restart fixes. */
  isAlive<const Key extends string>(
    key: Key,
    election: string = DEFAULT_ELECTION,
    options: LeaderElectionHealthOptions = {},
  ): HealthIndicatorResult<Key> {
    return this.report(key, evaluateElectorLiveness(this.elector(election), options));
  }

  /**
   * Readiness: also `down` after leaseDuration of errors that will not heal
   * (forbidden, missing namespace, invalid), and optionally when unreachable
   * or when not the leader (`requireLeadership`).
   */
  isReady<const Key extends string>(
    key: Key,
    election: string = DEFAULT_ELECTION,
    options: LeaderElectionHealthOptions = {},
  ): HealthIndicatorResult<Key> {
    return this.report(key, evaluateElectorReadiness(this.elector(election), options));
  }

  /** Liveness and readiness in one check, for a single `/health` endpoint. */
  isHealthy<const Key extends string>(
    key: Key,
    election: string = DEFAULT_ELECTION,
    options: LeaderElectionHealthOptions = {},
  ): HealthIndicatorResult<Key> {
    return this.report(key, evaluateElectorHealth(this.elector(election), options));
  }

  private elector(election: string) {
    return this.moduleRef.get<LeaderElectionService>(getLeaderElectionToken(election), { strict: false }).elector;
  }

  private report<const Key extends string>(key: Key, health: LeaderElectionHealth): HealthIndicatorResult<Key> {
    const indicator = this.indicators.check(key);
    return health.healthy
      ? indicator.up({ ...health.details })
      : indicator.down({ reason: health.reason, ...health.details });
  }
}
