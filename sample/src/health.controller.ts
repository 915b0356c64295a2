import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';
import { LeaderElectionHealthIndicator } from 'nestjs-lease-election/terminus';

/**
 * Probes. `/health/live` belongs on the livenessProbe: it is down only when
 * the election is wedged, which a restart fixes. `/health/ready` belongs on
 * the readinessProbe: it is also down when the election cannot work (RBAC,
 * missing namespace). `/health` reports both, for people and dashboards.
 */
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly leaderElection: LeaderElectionHealthIndicator,
  ) {}

  @Get()
  @HealthCheck()
  check() {
    return this.health.check([() => this.leaderElection.isHealthy('leader-election')]);
  }

  @Get('live')
  @HealthCheck()
  live() {
    return this.health.check([() => this.leaderElection.isAlive('leader-election')]);
  }

  @Get('ready')
  @HealthCheck()
  ready() {
    return this.health.check([() => this.leaderElection.isReady('leader-election')]);
  }
}
