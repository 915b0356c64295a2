import { Injectable } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import type { LeaderElector } from '../elector/internal.js';
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

/** Options of the indicator's checks: which election, terminus style, plus the rules' options. */
export interface LeaderElectionHealthCheckOptions extends LeaderElectionHealthOptions {
  /** One election: a registration's, or one of a spreading group's. Default: the unnamed registration. */
  election?: string;
  /** A spreading registration as a whole: down as soon as one of its elections is. */
  group?: string;
}

/**
 * @nestjs/terminus 12 health indicators for an election. Add it to the
 * providers of a module that imports `TerminusModule`, then wire
 * `isAlive` to the liveness probe and `isReady` to the readiness probe:
 *
 * ```ts
 * @Get('live') live() { return this.health.check([() => this.election.isAlive('leader-election')]); }
 * @Get('ready') ready() { return this.health.check([() => this.election.isReady('billing', { election: 'billing' })]); }
 * ```
 *
 * Options name the election (`{ election }`), or a spreading registration
 * (`{ group }`): then one verdict covers all of its elections, down as soon
 * as one is, or when the group's member view is wedged; the view's state is
 * in the details (`memberView`). Without either, the unnamed registration.
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
    options: LeaderElectionHealthCheckOptions = {},
  ): HealthIndicatorResult<Key> {
    return this.report(key, this.evaluate(options, evaluateElectorLiveness));
  }

  /**
   * Readiness: also `down` after leaseDuration of errors that will not heal
   * (rejected credentials, forbidden, missing namespace, invalid), and
   * optionally when unreachable or when not the leader (`requireLeadership`).
   */
  isReady<const Key extends string>(
    key: Key,
    options: LeaderElectionHealthCheckOptions = {},
  ): HealthIndicatorResult<Key> {
    return this.report(key, this.evaluate(options, evaluateElectorReadiness));
  }

  /** Liveness and readiness in one check, for a single `/health` endpoint. */
  isHealthy<const Key extends string>(
    key: Key,
    options: LeaderElectionHealthCheckOptions = {},
  ): HealthIndicatorResult<Key> {
    return this.report(key, this.evaluate(options, evaluateElectorHealth));
  }

  private evaluate(
    options: LeaderElectionHealthCheckOptions,
    rule: Rule,
  ): Pick<LeaderElectionHealth, 'healthy' | 'reason'> & { details: object } {
    const { election, group, ...ruleOptions } = options ?? {};
    if (election !== undefined && group !== undefined) {
      throw new Error(
        'LeaderElectionHealthIndicator: pass `election` (one election) or `group` (a spreading registration), not both.',
      );
    }
    if (group === undefined) {
      const single = this.find<LeaderElectionService>(getLeaderElectionToken(election ?? DEFAULT_ELECTION));
      if (single) return rule(single.elector, ruleOptions);
    }
    if (election === undefined) {
      const found = this.find<LeaderElectionGroupService>(getLeaderElectionGroupToken(group ?? DEFAULT_ELECTION));
      if (found) return evaluateGroupHealth(found.leaderElectionGroup, rule, ruleOptions);
    }
    const what =
      group !== undefined
        ? `spreading registration (group) ${JSON.stringify(group)}`
        : `election ${JSON.stringify(election ?? DEFAULT_ELECTION)}`;
    throw new Error(
      `LeaderElectionHealthIndicator: no ${what} is registered. Pass { election } with the name given to ` +
        'LeaderElectionModule.forRoot() or a name listed in its `spread`, or { group } with the name of a spreading ' +
        'registration; omit both for the unnamed registration.',
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
