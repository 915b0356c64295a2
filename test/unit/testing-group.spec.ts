import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Injectable } from '@nestjs/common';
import {
  getLeaderElectionGroupToken,
  getLeaderElectionToken,
  InjectLeaderElection,
  InjectLeaderElectionGroup,
  LeaderElectionGroupService,
  LeaderElectionModule,
  LeaderElectionService,
  NotLeaderError,
  OnLeadershipAcquired,
  OnLeadershipLost,
  OnlyWhenLeader,
  type LeadershipAcquiredEvent,
  type LeadershipLostEvent,
} from '../../lib/index.js';
import {
  LeaderElectionTestingModule,
  TestingLeaderElection,
  TestingLeaderElectionGroup,
} from '../../lib/testing/index.js';
import { NestApps } from '../support/nest-apps.js';

// A spreading group of an app's own, tested with `nestjs-lease-election/testing` as a user would.

@Injectable()
class Jobs {
  readonly events: string[] = [];

  constructor(@InjectLeaderElection('billing') private readonly billing: LeaderElectionService) {}

  @OnlyWhenLeader('billing')
  bill(): string {
    return `billed under ${this.billing.admittedTerm()!.fencingToken}`;
  }

  @OnlyWhenLeader({ election: 'reports', onFollower: 'throw' })
  report(): string {
    return 'reported';
  }

  @OnLeadershipAcquired('reports')
  startReports(event: LeadershipAcquiredEvent): void {
    this.events.push(`acquired ${event.election} ${event.lease}`);
  }

  @OnLeadershipLost('reports')
  stopReports(event: LeadershipLostEvent): void {
    this.events.push(`lost ${event.election} ${event.reason}`);
  }
}

/** Drains the partitions this replica leads, as the README's `Partitions`. */
@Injectable()
class Partitions {
  gate: Promise<void> = Promise.resolve();

  constructor(@InjectLeaderElectionGroup('partitions') readonly group: LeaderElectionGroupService) {}

  consume(): Promise<{ shard: number; token: string; inTerm: boolean }[]> {
    return this.group.forEachLedShard(async (shard, term) => {
      await this.gate;
      const inTerm = this.group.service(`partitions-${shard}`).admittedTerm() === term;
      return { shard, token: term.fencingToken, inTerm };
    });
  }
}

describe('LeaderElectionTestingModule.forRoot({ spread })', () => {
  const apps = new NestApps();
  afterEach(() => apps.closeAll());

  it('gates each @OnlyWhenLeader(election) on its own election and fires its events, driven by lead() / lose()', async () => {
    const moduleRef = await apps.start({
      imports: [LeaderElectionTestingModule.forRoot({ spread: ['billing', 'reports'] })],
      providers: [Jobs],
    });
    const group = moduleRef.get(TestingLeaderElectionGroup);
    const jobs = moduleRef.get(Jobs);
    expect(group.elections).toEqual(['billing', 'reports']);
    expect(group.leading).toEqual([]);
    expect(jobs.bill()).toBeUndefined();
    expect(() => jobs.report()).toThrow(NotLeaderError);

    const [billingTerm] = await group.lead('billing');
    expect(group.leading).toEqual(['billing']);
    expect(jobs.bill()).toBe(`billed under ${billingTerm.fencingToken}`);
    expect(() => jobs.report()).toThrow(NotLeaderError);
    expect(jobs.events).toEqual([]);

    await group.lead('reports');
    expect(jobs.report()).toBe('reported');
    expect(jobs.events).toEqual(['acquired reports test-lease-reports']);

    await group.lose('reports');
    expect(group.leading).toEqual(['billing']);
    expect(() => jobs.report()).toThrow(NotLeaderError);
    expect(jobs.bill()).toBe(`billed under ${billingTerm.fencingToken}`);
    expect(jobs.events.at(-1)).toBe('lost reports stolen');

    await group.lead('reports');
    await apps.close(moduleRef);
    expect(jobs.events.at(-1)).toBe('lost reports shutdown');
    expect(billingTerm.signal.aborted).toBe(true);
  });

  it('stands in under the tokens of the real module: the group class and token, and one token per election', async () => {
    const spread = ['billing', 'reports'];
    const testing = LeaderElectionTestingModule.forRoot({ spread });
    const real = LeaderElectionModule.forRoot({ leaseName: 'jobs', standalone: true, spread });
    const serviceTokens = real.exports!.filter((token) => !String(token).startsWith('PROM_METRIC_'));
    expect(serviceTokens.length).toBe(4);
    expect(testing.exports).toEqual(expect.arrayContaining(serviceTokens));

    const moduleRef = await apps.start({ imports: [testing], providers: [Jobs] });
    const group = moduleRef.get(TestingLeaderElectionGroup);
    expect(moduleRef.get(LeaderElectionGroupService)).toBe(group);
    expect(moduleRef.get(getLeaderElectionGroupToken())).toBe(group);
    const billing = moduleRef.get<TestingLeaderElection>(getLeaderElectionToken('billing'));
    expect(billing).toBeInstanceOf(TestingLeaderElection);
    expect(group.service('billing')).toBe(billing);
  });

  it('shards: leads the `leading` shards from bootstrap and hands each led shard its index and term', async () => {
    const moduleRef = await apps.start({
      imports: [
        LeaderElectionTestingModule.forRoot({
          group: 'partitions',
          spread: { shards: 4 },
          leading: ['partitions-3', 'partitions-1'],
          firstFencingToken: 10,
        }),
      ],
      providers: [Partitions],
    });
    const { group } = moduleRef.get(Partitions);
    const testing = moduleRef.get<TestingLeaderElectionGroup>(getLeaderElectionGroupToken('partitions'));
    expect(group).toBe(testing);
    // A named registration is reached by its token only, as with the real module.
    expect(() => moduleRef.get(LeaderElectionGroupService)).toThrow();
    expect(group.elections).toEqual(['partitions-0', 'partitions-1', 'partitions-2', 'partitions-3']);
    expect(group.shards).toEqual([1, 3]);
    expect(await moduleRef.get(Partitions).consume()).toEqual([
      { shard: 1, token: '10', inTerm: true },
      { shard: 3, token: '10', inTerm: true },
    ]);

    await testing.lose('partitions-1');
    expect(group.shards).toEqual([3]);
    expect((await moduleRef.get(Partitions).consume()).map(({ shard }) => shard)).toEqual([3]);
  });

  it("forEachLedShard: the shard's work runs inside its term, which losing the shard aborts and then waits for", async () => {
    const moduleRef = await apps.start({
      imports: [LeaderElectionTestingModule.forRoot({ group: 'partitions', spread: { shards: 2 } })],
      providers: [Partitions],
    });
    const partitions = moduleRef.get(Partitions);
    const group = moduleRef.get<TestingLeaderElectionGroup>(getLeaderElectionGroupToken('partitions'));
    expect(await partitions.consume()).toEqual([]);
    const [term] = await group.lead('partitions-0');

    let release!: () => void;
    partitions.gate = new Promise((resolve) => (release = resolve));
    const consuming = partitions.consume();
    let lost = false;
    const losing = group.lose('partitions-0').then(() => (lost = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(term.signal.aborted).toBe(true);
    expect(lost).toBe(false);
    release();
    await losing;
    expect(await consuming).toEqual([{ shard: 0, token: term.fencingToken, inTerm: true }]);
  });

  it('members and assignments: the replica holding an election is the one preferred for it', async () => {
    const moduleRef = await apps.start({
      imports: [LeaderElectionTestingModule.forRoot({ spread: ['billing', 'reports'], identity: 'pod-a' })],
    });
    const group = moduleRef.get(TestingLeaderElectionGroup);
    expect(group.identity).toBe('pod-a');
    expect(group.members).toEqual(['pod-a']);
    group.members = ['pod-a', 'pod-b'];
    expect(group.members).toEqual(['pod-a', 'pod-b']);

    await group.lead('billing');
    await group.service('reports').observeLeader('pod-b');
    expect(group.assignments).toEqual([
      { election: 'billing', preferred: 'pod-a', leader: 'pod-a', isLeader: true },
      { election: 'reports', preferred: 'pod-b', leader: 'pod-b', isLeader: false },
    ]);
  });

  it('rejects bad input naming the field, with the messages of the real module', async () => {
    const forRoot = (options: object) => () =>
      LeaderElectionTestingModule.forRoot(options as Parameters<typeof LeaderElectionTestingModule.forRoot>[0]);
    expect(forRoot({ spread: [] })).toThrow(/`spread` must be a non-empty list/);
    expect(forRoot({ spread: ['billing', 'billing'] })).toThrow(/distinct election names/);
    expect(forRoot({ spread: { shards: 0 } })).toThrow(/\{ shards: n \} with a whole n/);
    expect(forRoot({ spread: { shards: 1.5 } })).toThrow(/\{ shards: n \} with a whole n/);
    expect(forRoot({ spread: ['billing'], leading: ['biling'] })).toThrow(
      /option `leading`: TestingLeaderElectionGroup default: no election "biling"; its elections are "billing"\./,
    );
    expect(forRoot({ spread: ['billing'], leader: true })).toThrow(/option `leader`: cannot be combined with `spread`/);
    expect(forRoot({ spread: ['billing'], group: '' })).toThrow(/`group` must be a non-empty string/);

    const group = new TestingLeaderElectionGroup({ spread: ['billing', 'reports'] });
    await expect(group.lead('billing', 'reprots')).rejects.toThrow(
      /no election "reprots"; its elections are "billing", "reports"/,
    );
    expect(group.leading).toEqual([]); // a typo changes nothing
    await expect(group.lead()).rejects.toThrow(/lead\(\) needs election names, for example lead\("billing"\)/);
    expect(() => group.service('nope')).toThrow(/no election "nope"/);
  });

  it("a decorator naming no election of the group fails the bootstrap, listing the group's elections", async () => {
    @Injectable()
    class Typo {
      @OnlyWhenLeader('biling')
      run(): void {}
    }
    await expect(
      apps.start({
        imports: [LeaderElectionTestingModule.forRoot({ spread: ['billing', 'reports'] })],
        providers: [Typo],
      }),
    ).rejects.toThrow(/registered: "billing", "reports"/);
  });
});
