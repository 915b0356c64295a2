import { Module } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { LeaderElectionModule } from 'nestjs-lease-election';
import { electionOptionsFromEnv } from '../../shared/src/election-options.js';
import { FencedStore } from './fenced-store.js';
import { LeadershipReporter } from './leadership-reporter.js';
import { Reporter } from './reporter.js';
import { StaleWriteOnWake } from './stale-write-on-wake.js';
import { WriterJob } from './writer.job.js';

@Module({
  imports: [ScheduleModule.forRoot(), LeaderElectionModule.forRoot(electionOptionsFromEnv('fenced-writer'))],
  providers: [Reporter, FencedStore, WriterJob, LeadershipReporter, StaleWriteOnWake],
})
export class AppModule {}
