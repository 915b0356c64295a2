import { BullModule } from '@nestjs/bullmq';
import { Module } from '@nestjs/common';
import { Redis } from 'ioredis';
import { LeaderElectionModule } from 'nestjs-lease-election';
import { electionOptionsFromEnv } from '../../shared/src/election-options.js';
import { JobsConsumer } from './jobs.consumer.js';
import { LateResultOnWake } from './late-result-on-wake.js';
import { Reporter } from './reporter.js';
import { ResultStore } from './result-store.js';

const env = process.env;
const queue = env.QUEUE ?? 'jobs';

@Module({
  imports: [
    // BullMQ cannot require() ioredis from an ES module: hand it a client.
    BullModule.forRoot({
      connection: new Redis(env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: null }),
    }),
    BullModule.registerQueue({ name: queue }),
    LeaderElectionModule.forRoot(electionOptionsFromEnv('queue-worker')),
  ],
  providers: [Reporter, ResultStore, JobsConsumer, LateResultOnWake],
})
export class AppModule {}
