// A Nest service whose leader-only work writes to PostgreSQL with fenced
// statements (test/integration/fenced-writes.e2e.spec.ts). Env: KUBECONFIG,
// LEASE_NAME, IDENTITY, DATABASE_URL, RESOURCE, timings in ms.
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module.js';

const app = await NestFactory.createApplicationContext(AppModule, { logger: ['warn', 'error'] });
// SIGTERM → the term ends, running writes drain, the Lease is released.
app.enableShutdownHooks();
