// A Nest 12 ESM application as a user writes it, in plain JavaScript: each
// decorator is applied with Reflect.decorate, as tsc's emit does for
//   @Injectable() class ReportJob { @Interval(100) @OnlyWhenLeader() report() {} }
// It elects on the Lease $LEASE_NAME (kubeconfig from $KUBECONFIG), waits until
// the leader-only job has run, prints {"event":"leading",...}, waits for a line
// on stdin, closes the app (which releases the Lease) and ends on its own.
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Interval, ScheduleModule } from '@nestjs/schedule';
import { LeaderElectionModule, LeaderElectionService, OnlyWhenLeader } from 'nestjs-lease-election';
import { KubernetesLeaseLock } from 'nestjs-lease-election/elector';
import manifest from 'nestjs-lease-election/package.json' with { type: 'json' };

class ReportJob {
  constructor(election) {
    this.election = election;
    this.runs = 0;
    this.ranWhileFollower = 0;
  }

  report() {
    this.runs++;
    if (!this.election.isLeader) this.ranWhileFollower++;
  }
}
Object.defineProperty(
  ReportJob.prototype,
  'report',
  Reflect.decorate(
    [Interval(100), OnlyWhenLeader()],
    ReportJob.prototype,
    'report',
    Object.getOwnPropertyDescriptor(ReportJob.prototype, 'report'),
  ),
);
Reflect.decorate([Injectable(), Reflect.metadata('design:paramtypes', [LeaderElectionService])], ReportJob);

class AppModule {}
Reflect.decorate(
  [
    Module({
      imports: [
        ScheduleModule.forRoot(),
        LeaderElectionModule.forRoot({ leaseName: process.env.LEASE_NAME, metrics: false }),
      ],
      providers: [ReportJob],
    }),
  ],
  AppModule,
);

const app = await NestFactory.createApplicationContext(AppModule, { logger: ['error', 'warn', 'log'] });
const job = app.get(ReportJob);
const election = app.get(LeaderElectionService);
if (!(election.elector.options.lock instanceof KubernetesLeaseLock)) {
  throw new Error('the elector does not use the KubernetesLeaseLock of nestjs-lease-election/elector');
}
while (job.runs < 3) await new Promise((resolve) => setTimeout(resolve, 50));
console.log(
  JSON.stringify({
    event: 'leading',
    identity: election.identity,
    runs: job.runs,
    ranWhileFollower: job.ranWhileFollower,
    library: manifest.version,
  }),
);
process.stdin.once('data', async () => {
  process.stdin.destroy();
  await app.close();
  console.log(JSON.stringify({ event: 'closed', isLeader: election.isLeader }));
});
