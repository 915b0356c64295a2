import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Injectable, type ModuleMetadata } from '@nestjs/common';
import {
  InjectLeaderElection,
  InjectLeaderElectionGroup,
  LeaderElectionGroupService,
  LeaderElectionModule,
  LeaderElectionService,
  OnLeadershipAcquired,
  OnlyWhenLeader,
  type LeadershipEvent,
} from '../../lib/index.js';
import { MemoryLeaseLock } from '../../lib/elector/internal.js';
import { NestApps } from '../support/nest-apps.js';

const FAST = { leaseDuration: 2000, renewDeadline: 1000, retryPeriod: 250 };
const standalone = { leaseName: 'jobs', standalone: true, logLevel: 'silent' as const, ...FAST };

@Injectable()
class Jobs {
  acquired: LeadershipEvent[] = [];

  constructor(@InjectLeaderElection('billing') readonly billing: LeaderElectionService) {}

  @OnlyWhenLeader('billing')
  async bill(): Promise<string | null> {
    return this.billing.admittedTerm()?.fencingToken ?? null;
  }

  @OnlyWhenLeader({ election: 'reports', onFollower: 'throw' })
  report(): string {
    return 'reported';
  }

  @OnLeadershipAcquired('reports')
  onReports(event: LeadershipEvent): void {
    this.acquired.push(event);
  }
}

const apps = new NestApps();
const start = (imports: ModuleMetadata['imports'], providers: ModuleMetadata['providers'] = [Jobs]) =>
  apps.start({ imports, providers });

async function until(check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

afterEach(() => apps.closeAll());

describe('LeaderElectionModule.forRoot({ spread })', () => {
  it('registers one election per name, each on its own Lease, gated by @OnlyWhenLeader(name)', async () => {
    const moduleRef = await start([LeaderElectionModule.forRoot({ ...standalone, spread: ['billing', 'reports'] })]);
    const group = moduleRef.get(LeaderElectionGroupService);
    const jobs = moduleRef.get(Jobs);
    expect(group.elections).toEqual(['billing', 'reports']);
    expect(group.service('billing').lease).toBe('jobs-billing');
    await until(() => group.leading.length === 2);
    expect(await jobs.bill()).toBe(group.service('billing').term!.fencingToken);
    expect(jobs.report()).toBe('reported');
    await until(() => jobs.acquired.length === 1);
    expect(jobs.acquired[0]).toMatchObject({ type: 'acquired', election: 'reports', lease: 'jobs-reports' });
    expect(group.assignments.map(({ election, isLeader }) => [election, isLeader])).toEqual([
      ['billing', true],
      ['reports', true],
    ]);
    expect(() => group.service('nope')).toThrow(/no election "nope"; its elections are "billing", "reports"/);
  });

  it("shards: hands each led shard index to the work, inside that shard's term", async () => {
    @Injectable()
    class Partitions {
      constructor(@InjectLeaderElectionGroup('partitions') readonly group: LeaderElectionGroupService) {}
    }
    const moduleRef = await start(
      [LeaderElectionModule.forRoot({ ...standalone, group: 'partitions', spread: { shards: 4 } })],
      [Partitions],
    );
    const { group } = moduleRef.get(Partitions);
    expect(group.elections).toEqual(['partitions-0', 'partitions-1', 'partitions-2', 'partitions-3']);
    await until(() => group.shards.length === 4);
    const seen = await group.forEachLedShard(async (shard, term) => {
      const service = group.service(`partitions-${shard}`);
      expect(service.admittedTerm()).toBe(term);
      return `${shard}:${term.lease}`;
    });
    expect(seen).toEqual(['0:jobs-partitions-0', '1:jobs-partitions-1', '2:jobs-partitions-2', '3:jobs-partitions-3']);
  });

  it('releases every Lease and withdraws on shutdown', async () => {
    const moduleRef = await start([LeaderElectionModule.forRoot({ ...standalone, spread: ['billing', 'reports'] })]);
    const group = moduleRef.get(LeaderElectionGroupService);
    await until(() => group.leading.length === 2);
    const services = [...group.services.values()];
    await apps.close(moduleRef);
    expect(services.map((service) => service.elector.state)).toEqual(['stopped', 'stopped']);
    expect(group.leading).toEqual([]);
  });

  it('rejects a bad spread and options that need one Lease, naming them', async () => {
    expect(() => LeaderElectionModule.forRoot({ ...standalone, spread: [] })).toThrow(
      /`spread` must be a non-empty list/,
    );
    expect(() => LeaderElectionModule.forRoot({ ...standalone, spread: ['a', 'a'] })).toThrow(
      /distinct election names/,
    );
    expect(() => LeaderElectionModule.forRoot({ ...standalone, spread: { shards: 0 } })).toThrow(/\{ shards: n \}/);
    const { standalone: _, ...withoutStandalone } = standalone;
    await expect(
      start([
        LeaderElectionModule.forRoot({
          ...withoutStandalone,
          lock: new MemoryLeaseLock('jobs'),
          spread: ['billing', 'reports'],
        }),
      ]),
    ).rejects.toThrow(/`lock`: cannot be combined with `spread`/);
    await expect(
      start([LeaderElectionModule.forRoot({ ...standalone, spread: ['billing', 'Reports!'] })]),
    ).rejects.toThrow(/spread \(election "Reports!"\)/);
  });

  it('names the spread elections when a decorator names another', async () => {
    @Injectable()
    class Typo {
      @OnlyWhenLeader('biling')
      run(): void {}
    }
    await expect(
      start([LeaderElectionModule.forRoot({ ...standalone, spread: ['billing', 'reports'] })], [Typo]),
    ).rejects.toThrow(/registered: "billing", "reports"/);
  });
});
