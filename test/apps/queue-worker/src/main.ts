// A Nest service that consumes a BullMQ queue on the leader only, with the
// README's recipe (test/integration/bullmq-recipe.e2e.spec.ts). Env: KUBECONFIG,
// LEASE_NAME, IDENTITY, REDIS_URL, QUEUE, JOB_MS, timings in ms.
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module.js';

const app = await NestFactory.createApplicationContext(AppModule, { logger: ['warn', 'error'] });
// SIGTERM → the term ends, the worker pauses, the Lease is released, then the worker closes.
app.enableShutdownHooks();
