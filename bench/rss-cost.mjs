// Resident memory of a minimal Nest application context, with or without
// LeaderElectionModule (standalone, leading). Prints one JSON line.
// Usage: node --expose-gc bench/rss-cost.mjs with|without [distDir]
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';

const withLibrary = process.argv[2] === 'with';
const dist = process.argv[3] ?? new URL('../dist/', import.meta.url).pathname;
const imports = [];
let library;
if (withLibrary) {
  library = await import(`${dist}/esm/index.js`);
  imports.push(
    library.LeaderElectionModule.forRoot({ leaseName: 'rss', standalone: true, logLevel: 'silent', metrics: false }),
  );
}
class AppModule {}
Module({ imports })(AppModule);
const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
if (withLibrary) await app.get(library.LeaderElectionService).waitForLeadership();
await new Promise((resolve) => setTimeout(resolve, 300));
globalThis.gc?.();
await new Promise((resolve) => setTimeout(resolve, 100));
const { rss, heapUsed } = process.memoryUsage();
await app.close();
console.log(JSON.stringify({ withLibrary, rssBytes: rss, heapUsedBytes: heapUsed }));
