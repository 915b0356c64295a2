import { createRequire } from 'node:module';
import { Test, TestingModule } from '@nestjs/testing';
import { LeaderElectionService, LeadershipEndedError } from 'nestjs-lease-election';
import { LeaderElectionTestingModule, TestingLeaderElection } from 'nestjs-lease-election/testing';
import { AppModule } from './app.module.js';
import { ReportJob } from './report.job.js';

describe('ReportJob with nestjs-lease-election/testing', () => {
  let moduleRef: TestingModule | undefined;

  afterEach(async () => {
    await moduleRef?.close();
    moduleRef = undefined;
  });

  it('is skipped as a follower, runs as the leader with the term, and its signal aborts when leadership is lost', async () => {
    moduleRef = await Test.createTestingModule({
      imports: [LeaderElectionTestingModule.forRoot()],
      providers: [ReportJob],
    }).compile();
    await moduleRef.init();
    const election = moduleRef.get(TestingLeaderElection);
    const job = moduleRef.get(ReportJob);
    expect(moduleRef.get(LeaderElectionService)).toBe(election);
    // Injected by type: the transform emitted the constructor's decorator metadata.
    expect(Reflect.getMetadata('design:paramtypes', ReportJob)).toEqual([LeaderElectionService]);

    expect(job.report()).toBeUndefined();
    expect(job.runs).toEqual([]);

    const term = await election.becomeLeader();
    expect(job.transitions).toEqual([`acquired ${term.fencingToken}`]);
    const run = job.report();
    expect(run).toEqual({ fencingToken: term.fencingToken, signal: term.signal });
    expect(run?.signal.aborted).toBe(false);

    await election.loseLeadership('stolen', 'pod-b');
    expect(run?.signal.aborted).toBe(true);
    expect(run?.signal.reason).toBeInstanceOf(LeadershipEndedError);
    expect(job.transitions).toEqual([`acquired ${term.fencingToken}`, `lost stolen ${term.fencingToken}`]);
    expect(election.leader).toBe('pod-b');
    expect(job.report()).toBeUndefined();

    const next = await election.becomeLeader();
    expect(BigInt(next.fencingToken)).toBeGreaterThan(BigInt(term.fencingToken));
    expect(job.report()?.fencingToken).toBe(next.fencingToken);
  });

  it('leads from bootstrap with leader: true', async () => {
    moduleRef = await Test.createTestingModule({
      imports: [LeaderElectionTestingModule.forRoot({ leader: true, firstFencingToken: 42 })],
      providers: [ReportJob],
    }).compile();
    await moduleRef.init();
    expect(moduleRef.get(ReportJob).report()?.fencingToken).toBe('42');
  });

  it('overrideProvider(LeaderElectionService) on the app module reaches @OnlyWhenLeader', async () => {
    const election = new TestingLeaderElection({ identity: 'pod-a' });
    moduleRef = await Test.createTestingModule({ imports: [AppModule] })
      .overrideProvider(LeaderElectionService)
      .useValue(election)
      .compile();
    await moduleRef.init();
    const job = moduleRef.get(ReportJob);
    expect(job.report()).toBeUndefined();
    const term = await election.becomeLeader();
    expect(job.report()?.fencingToken).toBe(term.fencingToken);
    expect(job.transitions).toEqual([`acquired ${term.fencingToken}`]);
  });

  it('a job built with new takes the double as its LeaderElectionService and gates on it', async () => {
    const election = new TestingLeaderElection();
    const job = new ReportJob(election);
    expect(job.report()).toBeUndefined();
    const term = await election.becomeLeader();
    expect(job.report()?.fencingToken).toBe(term.fencingToken);
  });

  it('runs without @kubernetes/client-node installed', () => {
    const require = createRequire(import.meta.url);
    expect(() => require.resolve('@kubernetes/client-node')).toThrow(/Cannot find module/);
  });
});
