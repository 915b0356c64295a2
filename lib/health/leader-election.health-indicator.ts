import { Injectable } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import type { LeaderElector } from '../elector/index.js';
import type { LeaderElectionGroupService } from '../leader-election-group.service.js';
import { DEFAULT_ELECTION, getLeaderElectionGroupToken, getLeaderElectionToken } from '../leader-election.constants.js';
import type { LeaderElectionService } from '../leader-election.service.js';
import { evaluateGroupHealth } from './leader-election-group.health-rules.js';
import {
  evaluateElectorHealth,
  evaluateElectorLiveness,
  evaluateElectorReadiness,
  type LeaderElectionHealth,
  type LeaderElectionHealthOptions,
} from './leader-election.health-rules.js';

type Rule = (elector: LeaderElector, options: LeaderElectionHealthOptions) => LeaderElectionHealth;

/**
 * @nestjs/terminus 12 health indicators for an election. Add it to the
 * providers of a module that imports `TerminusModule`, then wire
 * `isAlive` to the liveness probe and `isReady` to the readiness probe:
 *
 * ```ts
 * @Get('live') live() { return this.health.check([() => this.election.isAlive('leader-election')]); }
 * @Get('ready') ready() { return this.health.check([() => this.election.isReady('leader-election')]); }
 * ```
 *
 * `election` names a single election, or a spreading registration (`spread`):
 * then one verdict covers all of its elections, down as soon as one is, or
 * when the group's member view is wedged; the view's state is in the
 * details (`memberView`).
 */
@Injectable()
export class LeaderElectionHealthIndicator {
  constructor(
    private readonly indicators: HealthIndicatorService,
    private readonly moduleRef: ModuleRef,
  ) {}

  /** Liveness: `down` only when the election (or a group's member view) is wedged or its loop died, which a restart fixes. */
  isAlive<const Key extends string>(
    key: Key,
    election: string = DEFAULT_ELECTION,
    options: LeaderElectionHealthOptions = {},
  ): HealthIndicatorResult<Key> {
    return this.report(key, this.evaluate(election, evaluateElectorLiveness, options));
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
    return this.report(key, this.evaluate(election, evaluateElectorReadiness, options));
  }

  /** Liveness and readiness in one check, for a single `/health` endpoint. */
  isHealthy<const Key extends string>(
    key: Key,
    election: string = DEFAULT_ELECTION,
    options: LeaderElectionHealthOptions = {},
  ): HealthIndicatorResult<Key> {
    return this.report(key, this.evaluate(election, evaluateElectorHealth, options));
  }

  private evaluate(
    election: string,
    rule: Rule,
    options: LeaderElectionHealthOptions,
  ): Pick<LeaderElectionHealth, 'healthy' | 'reason'> & { details: object } {
    const single = this.find<LeaderElectionService>(getLeaderElectionToken(election));
    if (single) return rule(single.elector, options);
    const group = this.find<LeaderElectionGroupService>(getLeaderElectionGroupToken(election));
    if (group) return evaluateGroupHealth(group.group, rule, options);
    throw new Error(
      `LeaderElectionHealthIndicator: no election or spreading registration named ${JSON.stringify(election)}. ` +
        'Pass the `name` given to LeaderElectionModule.forRoot() (omit it for the default one), or a name listed ' +
        'in its `spread`.',
    );
  }

  private find<T>(token: string | symbol): T | null {
    try {
      return this.moduleRef.get<T>(token, { strict: false });
    } catch {
      return null;
    }
  }

  private report<const Key extends string>(
    key: Key,
    health: Pick<LeaderElectionHealth, 'healthy' | 'reason'> & { details: object },
  ): HealthIndicatorResult<Key> {
    const indicator = this.indicators.check(key);
    return health.healthy
      ? indicator.up({ ...health.details })
      : indicator.down({ reason: health.reason, ...health.details });
  }
}
