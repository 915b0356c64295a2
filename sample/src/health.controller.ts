import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService, type HealthIndicatorFunction } from '@nestjs/terminus';
import { LeaderElectionHealthIndicator } from 'nestjs-lease-election/terminus';
import { spreadJobNames } from './spread.jobs.js';

type Check = 'isAlive' | 'isReady' | 'isHealthy';

/**
 * Probes. `/health/live` belongs on the livenessProbe: it is down only when
 * an election is wedged, which a restart fixes. `/health/ready` belongs on
 * the readinessProbe: it is also down when an election cannot work (RBAC,
 * missing namespace). `/health` reports both, for people and dashboards.
 * Each covers the default election and, when the sample runs spread jobs,
 * the `jobs` group as one more indicator.
 */
@Controller('health')
export class HealthController {
  private readonly spreading = spreadJobNames().length > 0;

  constructor(
    private readonly health: HealthCheckService,
    private readonly leaderElection: LeaderElectionHealthIndicator,
  ) {}

  @Get()
  @HealthCheck()
  check() {
    return this.health.check(this.indicators('isHealthy'));
  }

  @Get('live')
  @HealthCheck()
  live() {
    return this.health.check(this.indicators('isAlive'));
  }

  @Get('ready')
  @HealthCheck()
  ready() {
    return this.health.check(this.indicators('isReady'));
  }

  private indicators(check: Check): HealthIndicatorFunction[] {
    const indicators: HealthIndicatorFunction[] = [() => this.leaderElection[check]('leader-election')];
    if (this.spreading) indicators.push(() => this.leaderElection[check]('spread-jobs', { group: 'jobs' }));
    return indicators;
  }
}
