import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Injectable } from '@nestjs/common';
import { Interval, ScheduleModule } from '@nestjs/schedule';
import { KubeConfig } from '@kubernetes/client-node';
import { Test, type TestingModule } from '@nestjs/testing';
import { compareFencingTokens } from '../../lib/elector/internal.js';
import {
  InjectLeaderElection,
  LeaderElectionModule,
  LeaderElectionService,
  OnLeaderChanged,
  OnLeadershipAcquired,
  OnLeadershipLost,
  OnlyWhenLeader,
  type LeadershipEvent,
} from '../../lib/index.js';
import { leaderWorkOf } from '../../lib/leader-work.js';
import { kubeConfigFor, leasePath, rawRequest, uniqueLeaseName, waitFor } from '../support/cluster.js';

const timings = { leaseDuration: 2000, renewDeadline: 1000, retryPeriod: 250 };

/** A job log shared by every app in the test, so overlaps between replicas are visible. */
interface Execution {
  app: string;
  start: number;
  end: number;
}

function replica(app: string, leaseName: string, log: Execution[], jobMs = 0) {
  @Injectable()
  class Jobs {
    events: LeadershipEvent[] = [];

    @OnlyWhenLeader()
    @Interval(40)
    async tick(): Promise<void> {
      const start = performance.now();
      if (jobMs > 0) await new Promise((resolve) => setTimeout(resolve, jobMs));
      log.push({ app, start, end: performance.now() });
    }

    @OnLeadershipAcquired()
    acquired(event: LeadershipEvent): void {
      this.events.push(event);
    }

    @OnLeadershipLost()
    lost(event: LeadershipEvent): void {
      this.events.push(event);
    }

    @OnLeaderChanged()
    changed(event: LeadershipEvent): void {
      this.events.push(event);
    }
  }
  return { Jobs, app, leaseName };
}

async function start(app: string, leaseName: string, log: Execution[], user: string, jobMs = 0) {
  const { Jobs } = replica(app, leaseName, log, jobMs);
  const moduleRef = await Test.createTestingModule({
    imports: [
      ScheduleModule.forRoot(),
      LeaderElectionModule.forRoot({
        leaseName,
        identity: app,
        kubeConfig: kubeConfigFor(user),
        namespace: 'default',
        logLevel: 'warn',
        ...timings,
      }),
    ],
    providers: [Jobs],
  }).compile();
  await moduleRef.init();
  return { moduleRef, service: moduleRef.get(LeaderElectionService), jobs: moduleRef.get(Jobs) };
}

function overlaps(log: Execution[]): number {
  let count = 0;
  for (let i = 0; i < log.length; i++) {
    for (let j = i + 1; j < log.length; j++) {
      if (log[i].app !== log[j].app && log[i].start < log[j].end && log[j].start < log[i].end) count++;
    }
  }
  return count;
}

describe('LeaderElectionModule against a real kube-apiserver', () => {
  const open: TestingModule[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((moduleRef) => moduleRef.close()));
  });

  it('two apps on one Lease: only the leader runs the @Interval job; stolen → stops with reason, re-acquired → resumes', async () => {
    const leaseName = uniqueLeaseName('nest-two');
    const log: Execution[] = [];
    const a = await start('app-a', leaseName, log, 'candidate-0');
    open.push(a.moduleRef);
    await a.service.waitForLeadership();
    const b = await start('app-b', leaseName, log, 'candidate-1');
    open.push(b.moduleRef);
    await waitFor(() => log.filter((entry) => entry.app === 'app-a').length >= 10, 5000, 'the leader to run jobs');
    expect(log.every((entry) => entry.app === 'app-a')).toBe(true);
    expect(b.service.leader).toBe('app-a');
    expect(a.jobs.events.find((event) => event.type === 'acquired')).toMatchObject({
      election: 'default',
      lease: leaseName,
      namespace: 'default',
      identity: 'app-a',
      holder: 'app-a',
      fencingToken: expect.stringMatching(/^[1-9][0-9]*$/),
      term: expect.objectContaining({ leaseTransitions: 0, fencingScheme: 'resource-version' }),
    });
    expect(b.jobs.events.find((event) => event.type === 'leader-changed')).toMatchObject({ holder: 'app-a' });

    // Steal the Lease for a thief that never renews.
    const lease = (await rawRequest('GET', leasePath(leaseName))).json;
    const now = new Date().toISOString().replace('Z', '000Z');
    lease.spec = { ...lease.spec, holderIdentity: 'thief', renewTime: now, acquireTime: now, leaseTransitions: 5 };
    expect((await rawRequest('PUT', leasePath(leaseName), lease)).status).toBe(200);
    const lost = await waitFor(
      () => a.jobs.events.find((event) => event.type === 'lost'),
      timings.renewDeadline + 500,
      'loss',
    );
    const firstToken = a.jobs.events.find((event) => event.type === 'acquired')!.fencingToken!;
    expect(lost).toMatchObject({ reason: 'stolen', holder: 'thief', identity: 'app-a', fencingToken: firstToken });
    const lostAt = performance.now();
    expect(a.service.isLeader).toBe(false);

    // The thief's claim expires after its duration; one of the apps takes over and the job resumes.
    const resumed = await waitFor(
      () => log.find((entry) => entry.start > lostAt + 100),
      timings.leaseDuration + 3000,
      'the job to resume',
    );
    const leader = [a, b].find((app) => app.service.isLeader)!;
    expect(resumed.app).toBe(leader.service.identity);
    expect(leader.service.term!.leaseTransitions).toBe(6);
    const acquiredAgain = leader.jobs.events.filter((event) => event.type === 'acquired').at(-1)!;
    expect(acquiredAgain.fencingToken).toBe(leader.service.term!.fencingToken);
    // The thief's write came in between, so the new token is above both the first term's and the thief's.
    expect(compareFencingTokens(acquiredAgain.fencingToken!, firstToken)).toBeGreaterThan(0);
    // Nothing ran between the loss and the thief's expiry.
    const gap = log.filter((entry) => entry.start > lostAt && entry.start < lostAt + timings.leaseDuration - 600);
    expect(gap).toEqual([]);
    expect(overlaps(log)).toBe(0);
  }, 20_000);

  it('shutdown drains an in-flight job before releasing; the other app takes over well under leaseDuration', async () => {
    const leaseName = uniqueLeaseName('nest-drain');
    const log: Execution[] = [];
    const a = await start('drain-a', leaseName, log, 'candidate-2', 300);
    open.push(a.moduleRef);
    await a.service.waitForLeadership();
    const b = await start('drain-b', leaseName, log, 'candidate-3', 300);
    open.push(b.moduleRef);
    await waitFor(() => leaderWorkOf(a.service)!.size > 0, 3000, 'a job in flight');
    const closing = performance.now();
    await a.moduleRef.close();
    open.splice(open.indexOf(a.moduleRef), 1);
    const closed = performance.now();
    const lastJobOfA = log.filter((entry) => entry.app === 'drain-a').at(-1)!;
    // The in-flight job finished before close() returned (and so before the release).
    expect(lastJobOfA.end).toBeLessThanOrEqual(closed);
    expect(lastJobOfA.end).toBeGreaterThan(closing);
    const acquired = await waitFor(
      () => b.jobs.events.find((event) => event.type === 'acquired'),
      timings.leaseDuration,
      'b to take over',
    );
    const handoverMs = performance.now() - closed;
    expect(handoverMs).toBeLessThan(timings.leaseDuration / 2);
    expect(acquired.term?.leaseTransitions).toBe(1);
    expect(a.jobs.events.find((event) => event.type === 'lost')).toMatchObject({ reason: 'shutdown' });
    await waitFor(() => log.some((entry) => entry.app === 'drain-b'), 3000, 'b to run the job');
    expect(overlaps(log)).toBe(0);
  }, 20_000);

  it('two named elections in one app can be led by different replicas', async () => {
    const billing = uniqueLeaseName('billing');
    const reports = uniqueLeaseName('reports');
    @Injectable()
    class Work {
      runs: string[] = [];
      constructor(
        @InjectLeaderElection('billing') readonly billing: LeaderElectionService,
        @InjectLeaderElection('reports') readonly reports: LeaderElectionService,
      ) {}

      @OnlyWhenLeader('billing')
      bill(): string {
        return 'billed';
      }

      @OnlyWhenLeader('reports')
      report(): string {
        return 'reported';
      }
    }
    const app = async (identity: string, user: string) => {
      const moduleRef = await Test.createTestingModule({
        imports: [
          LeaderElectionModule.forRoot({
            election: 'billing',
            leaseName: billing,
            identity,
            kubeConfig: kubeConfigFor(user),
            logLevel: 'warn',
            ...timings,
          }),
          LeaderElectionModule.forRoot({
            election: 'reports',
            leaseName: reports,
            identity,
            kubeConfig: kubeConfigFor(user),
            logLevel: 'warn',
            ...timings,
          }),
        ],
        providers: [Work],
      }).compile();
      open.push(moduleRef);
      return moduleRef;
    };
    // Replica 2 is recorded as the recent holder of "reports", so replica 1 cannot take it at first.
    const now = new Date().toISOString().replace('Z', '000Z');
    const seeded = await rawRequest('POST', '/apis/coordination.k8s.io/v1/namespaces/default/leases', {
      metadata: { name: reports },
      spec: {
        holderIdentity: 'replica-2',
        leaseDurationSeconds: 30,
        renewTime: now,
        acquireTime: now,
        leaseTransitions: 0,
      },
    });
    expect(seeded.status).toBe(201);
    const one = await app('replica-1', 'candidate-4');
    await one.init();
    const workOne = one.get(Work);
    await workOne.billing.waitForLeadership();
    const two = await app('replica-2', 'candidate-5');
    await two.init();
    const workTwo = two.get(Work);
    await workTwo.reports.waitForLeadership();

    expect(workOne.billing.isLeader).toBe(true);
    expect(workOne.reports.isLeader).toBe(false);
    expect(workTwo.billing.isLeader).toBe(false);
    expect(workTwo.reports.isLeader).toBe(true);
    expect(workOne.bill()).toBe('billed');
    expect(workOne.report()).toBeUndefined();
    expect(workTwo.bill()).toBeUndefined();
    expect(workTwo.report()).toBe('reported');
  }, 20_000);

  it("out of a Pod, the Lease goes to the kubeconfig context's namespace when no option names one", async () => {
    const namespace = uniqueLeaseName('ctx-ns');
    const created = await rawRequest('POST', '/api/v1/namespaces', { metadata: { name: namespace } });
    expect(created.status).toBe(201);
    const admin = kubeConfigFor('admin');
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions({
      clusters: admin.clusters,
      users: admin.users,
      contexts: admin.contexts.map((context) => ({ ...context, namespace })),
      currentContext: admin.currentContext,
    });
    const leaseName = uniqueLeaseName('ctx-lease');
    const previous = process.env.POD_NAMESPACE;
    delete process.env.POD_NAMESPACE;
    try {
      const moduleRef = await Test.createTestingModule({
        imports: [LeaderElectionModule.forRoot({ leaseName, kubeConfig, logLevel: 'silent', ...timings })],
      }).compile();
      await moduleRef.init();
      await moduleRef.get(LeaderElectionService).waitForLeadership();
      expect((await rawRequest('GET', leasePath(leaseName, namespace))).status).toBe(200);
      await moduleRef.close();
    } finally {
      if (previous !== undefined) process.env.POD_NAMESPACE = previous;
      await rawRequest('DELETE', `/api/v1/namespaces/${namespace}`);
    }
  });
});
