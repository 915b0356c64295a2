import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';
import { LeaderElectionHealthIndicator } from 'nestjs-lease-election/terminus';

/** `GET /health` for readiness and liveness probes. */
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
}
