import { Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { ScheduleModule } from '@nestjs/schedule';
import { TerminusModule } from '@nestjs/terminus';
import { PrometheusModule } from '@willsoto/nestjs-prometheus';
import { LeaderElectionModule } from 'nestjs-lease-election';
import { LeaderElectionHealthIndicator } from 'nestjs-lease-election/terminus';
import { HealthController } from './health.controller.js';
import { LeaderController } from './leader.controller.js';
import { LeadershipListener } from './leadership.listener.js';
import { NaiveJob } from './naive.job.js';
import { ReportJob } from './report.job.js';
import { spreadJob, spreadJobNames } from './spread.jobs.js';
import { TelemetryService } from './telemetry.service.js';

/** The election options both registrations share, from the environment. */
const electionOptions = (config: ConfigService) => ({
  namespace: config.get<string>('LEASE_NAMESPACE'),
  identity: config.get<string>('POD_NAME'),
  leaseDuration: Number(config.get('LEASE_DURATION_MS', 15_000)),
  renewDeadline: Number(config.get('RENEW_DEADLINE_MS', 10_000)),
  retryPeriod: Number(config.get('RETRY_PERIOD_MS', 2_000)),
  standalone: config.get('STANDALONE') === 'true',
  logLevel: config.get('LOG_LEVEL', 'log'),
});

const jobs = spreadJobNames();

@Module({
  imports: [
    ConfigModule.forRoot({ isGlobal: true }),
    ScheduleModule.forRoot(),
    PrometheusModule.register(),
    TerminusModule,
    LeaderElectionModule.forRootAsync({
      inject: [ConfigService],
      useFactory: (config: ConfigService) => ({
        ...electionOptions(config),
        leaseName: config.get<string>('LEASE_NAME', 'sample-leader'),
        // The leader's Pod carries this label while it leads; deploy/leader-service.yaml selects it.
        leaderPodLabel: config.get('LEADER_POD_LABEL') ? { key: config.get<string>('LEADER_POD_LABEL')! } : undefined,
      }),
    }),
    // Many leader-only jobs, spread evenly over the replicas: one election per job (Lease <LEASE_NAME>-jobs-<job>).
    ...(jobs.length > 0
      ? [
          LeaderElectionModule.forRootAsync({
            group: 'jobs',
            spread: jobs,
            inject: [ConfigService],
            useFactory: (config: ConfigService) => ({
              ...electionOptions(config),
              leaseName: `${config.get<string>('LEASE_NAME', 'sample-leader')}-jobs`,
            }),
          }),
        ]
      : []),
  ],
  controllers: [LeaderController, HealthController],
  providers: [
    ReportJob,
    LeadershipListener,
    TelemetryService,
    LeaderElectionHealthIndicator,
    // Only for the chaos harness: a job that ignores the signal, to measure the overlap it causes.
    ...(process.env.NAIVE_WORK_MS ? [NaiveJob] : []),
    ...jobs.map(spreadJob),
  ],
})
export class AppModule {}
