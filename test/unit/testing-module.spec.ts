import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Controller, Get, Injectable, ServiceUnavailableException, UseGuards } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  getLeaderElectionToken,
  InjectLeaderElection,
  LeaderElectionModule,
  LeaderElectionService,
  LeaderGuard,
  LeadershipEndedError,
  NotLeaderError,
  OnLeaderChanged,
  OnLeadershipAcquired,
  OnLeadershipLost,
  OnlyWhenLeader,
  type LeaderChangedEvent,
  type LeadershipAcquiredEvent,
  type LeadershipLostEvent,
  type LeadershipTerm,
} from '../../lib/index.js';
import { attachLeaderElection, LeaderElectionTestingModule, TestingLeaderElection } from '../../lib/testing/index.js';
import { NestApps } from '../support/nest-apps.js';

// The `nestjs-lease-election/testing` entry, used the way an app's own tests would.

@Injectable()
class ReportJob {
  readonly runs: { token: string; aborted: boolean }[] = [];
  readonly log: string[] = [];
  private running: LeadershipTerm | null = null;

  constructor(private readonly election: LeaderElectionService) {}

  @OnlyWhenLeader()
  report(): string {
    const term = this.election.admittedTerm()!;
    this.runs.push({ token: term.fencingToken, aborted: term.signal.aborted });
    return 'done';
  }

  @OnlyWhenLeader({ onFollower: 'throw' })
  async consume(): Promise<LeadershipTerm> {
    this.running = this.election.admittedTerm();
    return this.running!;
  }

  @OnLeadershipAcquired()
  async start(event: LeadershipAcquiredEvent): Promise<void> {
    await Promise.resolve();
    this.log.push(`acquired ${event.fencingToken} current=${this.election.admittedTerm()?.fencingToken}`);
  }

  @OnLeadershipLost()
  async stop(event: LeadershipLostEvent): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 5));
    this.log.push(`lost ${event.reason} ${event.fencingToken}`);
  }

  @OnLeaderChanged()
  changed(event: LeaderChangedEvent): void {
    this.log.push(`leader ${event.holder}`);
  }
}

@Controller('admin')
@UseGuards(LeaderGuard)
class AdminController {
  @Get()
  run(): string {
    return 'ok';
  }
}

describe('nestjs-lease-election/testing', () => {
  const apps = new NestApps();
  afterEach(() => apps.closeAll());

  it('switches between follower and leader at runtime with the production events, terms and gate', async () => {
    const moduleRef = await apps.start(
      Test.createTestingModule({ imports: [LeaderElectionTestingModule.forRoot()], providers: [ReportJob] }),
    );
    const election = moduleRef.get(TestingLeaderElection);
    const job = moduleRef.get(ReportJob);
    expect(moduleRef.get(LeaderElectionService)).toBe(election);

    expect(election.isLeader).toBe(false);
    expect(job.report()).toBeUndefined();
    await expect(job.consume()).rejects.toBeInstanceOf(NotLeaderError);

    const first = await election.becomeLeader();
    expect(job.log).toEqual(['leader test-replica', `acquired ${first.fencingToken} current=${first.fencingToken}`]);
    expect(job.report()).toBe('done');
    await expect(job.consume()).resolves.toBe(first);
    expect(job.runs).toEqual([{ token: first.fencingToken, aborted: false }]);

    await election.loseLeadership('stolen', 'pod-b');
    expect(first.signal.aborted).toBe(true);
    expect(first.signal.reason).toBeInstanceOf(LeadershipEndedError);
    expect(job.log.slice(2)).toEqual([`lost stolen ${first.fencingToken}`, 'leader pod-b']);
    expect(election.leader).toBe('pod-b');
    expect(job.report()).toBeUndefined();

    const second = await election.becomeLeader();
    expect(BigInt(second.fencingToken)).toBeGreaterThan(BigInt(first.fencingToken));
    await apps.close(moduleRef);
    expect(second.signal.aborted).toBe(true);
    expect(job.log.slice(-2).sort()).toEqual(['leader null', `lost shutdown ${second.fencingToken}`]);
  });

  it('leads from bootstrap with leader: true; LeaderGuard and @InjectLeaderElection see it', async () => {
    const moduleRef = await apps.start(
      Test.createTestingModule({
        imports: [LeaderElectionTestingModule.forRoot({ leader: true, identity: 'pod-a' })],
        controllers: [AdminController],
        providers: [ReportJob],
      }),
    );
    const election = moduleRef.get(TestingLeaderElection);
    expect(election.isLeader).toBe(true);
    const guard = new LeaderGuard(moduleRef.get(getLeaderElectionToken()));
    expect(guard.canActivate()).toBe(true);
    await election.loseLeadership('renew-failed', 'pod-b');
    let answer: unknown;
    try {
      guard.canActivate();
    } catch (error) {
      answer = (error as ServiceUnavailableException).getResponse();
    }
    expect(answer).toMatchObject({ statusCode: 503, election: 'default', leader: 'pod-b' });
  });

  it('named elections are separate, reached by their token', async () => {
    @Injectable()
    class BillingJob {
      constructor(@InjectLeaderElection('billing') readonly billing: TestingLeaderElection) {}

      @OnlyWhenLeader('billing')
      charge(): string | null {
        return this.billing.admittedTerm()?.fencingToken ?? null;
      }
    }
    const moduleRef = await apps.start(
      Test.createTestingModule({
        imports: [
          LeaderElectionTestingModule.forRoot(),
          LeaderElectionTestingModule.forRoot({ election: 'billing', firstFencingToken: 500 }),
        ],
        providers: [BillingJob],
      }),
    );
    const billing = moduleRef.get<TestingLeaderElection>(getLeaderElectionToken('billing'));
    const job = moduleRef.get(BillingJob);
    expect(job.charge()).toBeUndefined();
    await billing.becomeLeader();
    expect(job.charge()).toBe('500');
    expect(moduleRef.get(TestingLeaderElection).isLeader).toBe(false);
  });

  it('overrideProvider(LeaderElectionService) reaches @OnlyWhenLeader, with a plain double or a TestingLeaderElection', async () => {
    const real = () =>
      Test.createTestingModule({
        imports: [LeaderElectionModule.forRoot({ leaseName: 'report', standalone: true, logLevel: 'silent' })],
        providers: [ReportJob],
      });
    const plain = {
      isLeader: false,
      leader: 'pod-z',
      identity: 'me',
      lease: 'report',
      namespace: 'default',
      term: null,
    };
    const withPlain = await apps.start(real().overrideProvider(LeaderElectionService).useValue(plain));
    const job = withPlain.get(ReportJob);
    expect(job.report()).toBeUndefined();
    await expect(job.consume()).rejects.toMatchObject({ name: 'NotLeaderError', leader: 'pod-z' });
    plain.isLeader = true;
    expect(() => job.report()).toThrow(); // runs the body: no term to read from a plain double
    expect(job.log).toEqual([]);

    const testing = new TestingLeaderElection({ identity: 'pod-t' });
    const withTesting = await apps.start(real().overrideProvider(LeaderElectionService).useValue(testing));
    const other = withTesting.get(ReportJob);
    const term = await testing.becomeLeader();
    expect(other.report()).toBe('done');
    expect(other.runs).toEqual([{ token: term.fencingToken, aborted: false }]);
    expect(other.log).toContain(`acquired ${term.fencingToken} current=${term.fencingToken}`);
  });

  it('a job built with new takes the double where the service is expected and gates on it, no cast, no wiring', async () => {
    const election = new TestingLeaderElection();
    const job = new ReportJob(election);
    expect(job.report()).toBeUndefined();
    await expect(job.consume()).rejects.toBeInstanceOf(NotLeaderError);
    const term = await election.becomeLeader();
    expect(job.report()).toBe('done');
    expect(job.runs).toEqual([{ token: term.fencingToken, aborted: false }]);
    await expect(job.consume()).resolves.toBe(term);
    await election.loseLeadership();
    expect(job.report()).toBeUndefined();
  });

  it('a job built with new and no service gets a clear error; attachLeaderElection() still wires one by hand', async () => {
    class Bare {
      @OnlyWhenLeader()
      report(): string {
        return 'done';
      }
    }
    const bare = new Bare();
    expect(() => bare.report()).toThrow(/no LeaderElectionService was injected/);
    const election = new TestingLeaderElection({ leader: true });
    attachLeaderElection(bare, election);
    await election.becomeLeader();
    expect(bare.report()).toBe('done');
  });

  it('waitForLeadership resolves on becomeLeader and rejects after shutdown', async () => {
    const moduleRef = await apps.start(Test.createTestingModule({ imports: [LeaderElectionTestingModule.forRoot()] }));
    const election = moduleRef.get(TestingLeaderElection);
    const waiting = election.waitForLeadership();
    const term = await election.becomeLeader();
    await expect(waiting).resolves.toBe(term);
    await apps.close(moduleRef);
    await expect(election.waitForLeadership()).rejects.toThrow(/stopped/);
  });
});
