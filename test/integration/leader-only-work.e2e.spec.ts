import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Controller, Get, Injectable, UseGuards, type INestApplication } from '@nestjs/common';
import { Cron, CronExpression, ScheduleModule, SchedulerRegistry } from '@nestjs/schedule';
import { Test } from '@nestjs/testing';
import {
  LeaderElectionModule,
  LeaderElectionService,
  LeaderGuard,
  OnLeadershipAcquired,
  OnLeadershipLost,
  OnlyWhenLeader,
  type LeadershipEvent,
} from '../../lib/index.js';
import { kubeConfigFor, leasePath, rawRequest, uniqueLeaseName, waitFor } from '../support/cluster.js';

const timings = { leaseDuration: 2000, renewDeadline: 1000, retryPeriod: 250 };

interface Tick {
  app: string;
  at: number;
  token: string;
  aborted: boolean;
}
interface Mark {
  app: string;
  at: number;
  what: 'started' | 'stopped' | 'stop-done';
  holderDuringStop?: string;
}

/** The README's @nestjs/schedule recipe: the cron job is created stopped and runs only between acquired and lost. */
function scheduleRecipe(app: string, leaseName: string, ticks: Tick[], marks: Mark[]) {
  @Injectable()
  class ReportSchedule {
    constructor(
      private readonly registry: SchedulerRegistry,
      private readonly election: LeaderElectionService,
    ) {}

    @Cron(CronExpression.EVERY_SECOND, { name: 'report', disabled: true })
    @OnlyWhenLeader()
    report(): void {
      const term = this.election.admittedTerm()!;
      ticks.push({ app, at: performance.now(), token: String(term.fencingToken), aborted: term.signal.aborted });
    }

    @OnLeadershipAcquired()
    start(): void {
      this.registry.getCronJob('report').start();
      marks.push({ app, at: performance.now(), what: 'started' });
    }

    @OnLeadershipLost()
    async stop(): Promise<void> {
      marks.push({ app, at: performance.now(), what: 'stopped' });
      await this.registry.getCronJob('report').stop();
      // Async cleanup still runs while the Lease is held; the drain waits for it at shutdown.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const lease = (await rawRequest('GET', leasePath(leaseName))).json;
      marks.push({ app, at: performance.now(), what: 'stop-done', holderDuringStop: lease.spec?.holderIdentity });
    }
  }
  return ReportSchedule;
}

describe('leader-only work against a real kube-apiserver', () => {
  const apps: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close()));
  });

  it('@nestjs/schedule recipe: the CronJob runs only on the leader, stops on steal and shutdown, carries its term', async () => {
    const leaseName = uniqueLeaseName('cron-recipe');
    const ticks: Tick[] = [];
    const marks: Mark[] = [];
    const start = async (app: string, user: string) => {
      const Schedule = scheduleRecipe(app, leaseName, ticks, marks);
      const moduleRef = await Test.createTestingModule({
        imports: [
          ScheduleModule.forRoot(),
          LeaderElectionModule.forRoot({
            leaseName,
            identity: app,
            kubeConfig: kubeConfigFor(user),
            logLevel: 'warn',
            ...timings,
          }),
        ],
        providers: [Schedule],
      }).compile();
      await moduleRef.init();
      apps.push(moduleRef);
      return { moduleRef, service: moduleRef.get(LeaderElectionService), job: moduleRef.get(SchedulerRegistry) };
    };
    const a = await start('cron-a', 'candidate-0');
    const first = await a.service.waitForLeadership();
    const b = await start('cron-b', 'candidate-1');
    await waitFor(() => ticks.filter((tick) => tick.app === 'cron-a').length >= 2, 4000, 'the leader to tick');
    expect(a.job.getCronJob('report').isActive).toBe(true);
    expect(b.job.getCronJob('report').isActive).toBe(false);
    expect(ticks.every((tick) => tick.app === 'cron-a' && tick.token === String(first.fencingToken))).toBe(true);

    // Stolen: the stop side runs promptly and the job stops; nobody ticks until the thief's claim expires.
    const lease = (await rawRequest('GET', leasePath(leaseName))).json;
    const now = new Date().toISOString().replace('Z', '000Z');
    lease.spec = { ...lease.spec, holderIdentity: 'thief', renewTime: now, acquireTime: now };
    expect((await rawRequest('PUT', leasePath(leaseName), lease)).status).toBe(200);
    await waitFor(() => first.signal.aborted, timings.renewDeadline + 1000, 'the stolen term to end');
    const endedAt = performance.now();
    const stopped = await waitFor(
      () => marks.find((mark) => mark.app === 'cron-a' && mark.what === 'stopped'),
      100,
      'the stop handler',
    );
    expect(stopped.at - endedAt).toBeLessThan(100);
    await waitFor(() => !a.job.getCronJob('report').isActive, 500, 'the job to stop');

    // One of the two takes over after the thief's claim expires and starts its job.
    await waitFor(() => a.service.isLeader || b.service.isLeader, timings.leaseDuration + 4000, 'a new leader');
    const leader = a.service.isLeader ? a : b;
    const second = leader.service.term!;
    await waitFor(
      () => ticks.some((tick) => tick.token === String(second.fencingToken)),
      3000,
      'the new leader to tick',
    );

    // Shutdown of the leader: its async stop handler finishes while it still holds the Lease.
    const name = leader.service.identity;
    await leader.moduleRef.close();
    apps.splice(apps.indexOf(leader.moduleRef), 1);
    const done = marks.filter((mark) => mark.app === name && mark.what === 'stop-done').at(-1)!;
    expect(done.holderDuringStop).toBe(name);
    const released = (await rawRequest('GET', leasePath(leaseName))).json;
    expect(released.spec.holderIdentity).not.toBe(name);

    // Every tick ran inside a term of its app, between that app's start and stop, with a live signal.
    for (const tick of ticks) {
      expect(tick.aborted).toBe(false);
      const own = marks.filter((mark) => mark.app === tick.app && mark.at <= tick.at);
      expect(own.at(-1)?.what).toBe('started');
    }
  }, 30_000);

  it('LeaderGuard over HTTP: the follower answers 503 naming the leader; the leader answers 200', async () => {
    const leaseName = uniqueLeaseName('guard');
    const billingLease = uniqueLeaseName('guard-billing');
    @Controller()
    class WorkController {
      constructor(private readonly election: LeaderElectionService) {}

      @Get('work')
      @UseGuards(LeaderGuard)
      work() {
        return { by: this.election.identity };
      }

      @Get('billing')
      @UseGuards(LeaderGuard.for('billing'))
      billing() {
        return { by: this.election.identity };
      }
    }
    const start = async (identity: string, user: string): Promise<{ app: INestApplication; url: string }> => {
      const moduleRef = await Test.createTestingModule({
        imports: [
          LeaderElectionModule.forRoot({
            leaseName,
            identity,
            kubeConfig: kubeConfigFor(user),
            logLevel: 'warn',
            ...timings,
          }),
          LeaderElectionModule.forRoot({
            election: 'billing',
            leaseName: billingLease,
            identity,
            kubeConfig: kubeConfigFor(user),
            logLevel: 'warn',
            ...timings,
          }),
        ],
        controllers: [WorkController],
      }).compile();
      const app = moduleRef.createNestApplication({ logger: false });
      await app.listen(0, '127.0.0.1');
      apps.push(app);
      return { app, url: await app.getUrl() };
    };
    const leader = await start('http-a', 'candidate-2');
    await leader.app.get(LeaderElectionService).waitForLeadership();
    const follower = await start('http-b', 'candidate-3');
    await waitFor(() => follower.app.get(LeaderElectionService).leader === 'http-a', 3000, 'b to see a');

    const ok = await fetch(`${leader.url}/work`);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ by: 'http-a' });
    const refused = await fetch(`${follower.url}/work`);
    expect(refused.status).toBe(503);
    expect(await refused.json()).toMatchObject({
      statusCode: 503,
      election: 'default',
      leader: 'http-a',
      message: expect.stringContaining(`lease default/${leaseName}`),
    });
    const billing = await waitFor(
      async () => {
        const [x, y] = await Promise.all([fetch(`${leader.url}/billing`), fetch(`${follower.url}/billing`)]);
        return x.status + y.status === 200 + 503 ? [x, y] : null;
      },
      3000,
      'one billing leader',
    );
    const refusal = (await billing.find((response) => response.status === 503)!.json()) as { election: string };
    expect(refusal.election).toBe('billing');
  }, 20_000);

  it('a follower taking over after the leader shuts down receives the acquired event with the new term', async () => {
    const leaseName = uniqueLeaseName('handover-events');
    const events: LeadershipEvent[] = [];
    @Injectable()
    class Recorder {
      @OnLeadershipAcquired()
      acquired(event: LeadershipEvent) {
        events.push(event);
      }
    }
    const start = async (identity: string, user: string) => {
      const moduleRef = await Test.createTestingModule({
        imports: [
          LeaderElectionModule.forRoot({
            leaseName,
            identity,
            kubeConfig: kubeConfigFor(user),
            logLevel: 'warn',
            ...timings,
          }),
        ],
        providers: [Recorder, { provide: 'RecorderAlias', useExisting: Recorder }],
      }).compile();
      await moduleRef.init();
      apps.push(moduleRef);
      return moduleRef;
    };
    const a = await start('events-a', 'candidate-4');
    await a.get(LeaderElectionService).waitForLeadership();
    const b = await start('events-b', 'candidate-5');
    await a.close();
    apps.splice(apps.indexOf(a), 1);
    const term = await b.get(LeaderElectionService).waitForLeadership(AbortSignal.timeout(timings.leaseDuration));
    // The alias provider does not double the handler: one event per acquisition.
    expect(events.map((event) => event.identity)).toEqual(['events-a', 'events-b']);
    expect(events[1].term).toBe(term);
  }, 20_000);
});
