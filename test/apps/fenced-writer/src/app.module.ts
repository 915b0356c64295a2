import { Module } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { LeaderElectionModule } from 'nestjs-lease-election';
import { FencedStore } from './fenced-store.js';
import { LeadershipReporter } from './leadership-reporter.js';
import { Reporter } from './reporter.js';
import { StaleWriteOnWake } from './stale-write-on-wake.js';
import { WriterJob } from './writer.job.js';

const env = process.env;

@Module({
  imports: [
    ScheduleModule.forRoot(),
    LeaderElectionModule.forRoot({
      leaseName: env.LEASE_NAME ?? 'fenced-writer',
      namespace: env.LEASE_NAMESPACE ?? 'default',
      identity: env.IDENTITY,
      leaseDuration: Number(env.LEASE_DURATION ?? 2000),
      renewDeadline: Number(env.RENEW_DEADLINE ?? 1000),
      retryPeriod: Number(env.RETRY_PERIOD ?? 250),
      logLevel: 'warn',
      metrics: false,
    }),
  ],
  providers: [Reporter, FencedStore, WriterJob, LeadershipReporter, StaleWriteOnWake],
})
export class AppModule {}
