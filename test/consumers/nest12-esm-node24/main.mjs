// A Nest 12 ESM application as a user writes it, in plain JavaScript: each
// decorator is applied with Reflect.decorate, as tsc's emit does for
//   @Injectable() class ReportJob { @Interval(100) @OnlyWhenLeader() report() {} }
// This one also uses the optional peers: metrics in prom-client's registry and
// the @nestjs/terminus health indicator from `nestjs-lease-election/terminus`.
// It elects on the Lease $LEASE_NAME (kubeconfig from $KUBECONFIG), waits until
// the leader-only job has run, prints {"event":"leading",...}, waits for a line
// on stdin, closes the app (which releases the Lease) and ends on its own.
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Interval, ScheduleModule } from '@nestjs/schedule';
import { TerminusModule } from '@nestjs/terminus';
import { LeaderElectionModule, LeaderElectionService, OnlyWhenLeader } from 'nestjs-lease-election';
import { KubernetesLeaseLock } from 'nestjs-lease-election/elector';
import { LeaderElectionHealthIndicator } from 'nestjs-lease-election/terminus';
import manifest from 'nestjs-lease-election/package.json' with { type: 'json' };
import { register } from 'prom-client';

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
        TerminusModule,
        LeaderElectionModule.forRoot({ leaseName: process.env.LEASE_NAME }),
      ],
      providers: [ReportJob, LeaderElectionHealthIndicator],
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

const health = app.get(LeaderElectionHealthIndicator).isHealthy('leader-election');
if (health['leader-election'].status !== 'up') throw new Error(`health: ${JSON.stringify(health)}`);
const isLeaderMetric = await register.getSingleMetric('leader_election_is_leader')?.get();
const mine = isLeaderMetric?.values.find((sample) => sample.labels.lease === election.lease);
if (mine?.value !== 1) throw new Error(`leader_election_is_leader: ${JSON.stringify(isLeaderMetric)}`);

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
