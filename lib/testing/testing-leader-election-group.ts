import type { OnApplicationBootstrap } from '@nestjs/common';
import type { GroupElectionState, LeadershipTerm } from '../elector/internal.js';
import { groupLeaseName, shardIndexes, spreadElections } from '../election-group.factory.js';
import type { LeaderElectionModuleExtras } from '../interfaces/leader-election-module-options.interface.js';
import { ledShards, runOnLedShards } from '../led-shards.js';
import { DEFAULT_ELECTION } from '../leader-election.constants.js';
import type { LeaderElectionGroupService } from '../leader-election-group.service.js';
import { INVALID_ELECTION_NAME, NO_GROUP_ELECTION, NOT_WITH_SPREAD } from '../leader-election.messages.js';
import { fail } from '../leader-election-options.validator.js';
import { TestingLeaderElection, type TestingLeaderElectionOptions } from './testing-leader-election.js';

/** Options of {@link TestingLeaderElectionGroup} and `LeaderElectionTestingModule.forRoot({ spread })`. */
export interface TestingLeaderElectionGroupOptions extends Omit<TestingLeaderElectionOptions, 'leader' | 'election'> {
  /** Name of the spreading registration, as `LeaderElectionModule.forRoot({ group, spread })`. Default `default`. */
  group?: string;
  /** Not with `spread`: name the registration with `group`. */
  election?: never;
  /** The elections, as `LeaderElectionModule.forRoot({ spread })`: names, or `{ shards: n }`. */
  spread: NonNullable<LeaderElectionModuleExtras['spread']>;
  /** Elections to lead from bootstrap on. Default none: a follower of each until `lead()`. */
  leading?: readonly string[];
  /** The live replicas `members` reports. Default `[identity]`. */
  members?: readonly string[];
  /** Not with `spread`: name the elections to lead from bootstrap in `leading`. */
  leader?: never;
}

/** What the double shares with the real group service: all but the core group, the real services and the Nest hooks. */
type GroupServiceShape = Omit<
  LeaderElectionGroupService,
  'leaderElectionGroup' | 'services' | 'service' | 'onApplicationBootstrap' | 'beforeApplicationShutdown'
>;

/**
 * A spreading group you drive from a test: one {@link TestingLeaderElection}
 * per election, led or lost at will with `lead()` / `lose()`. It stands in
 * for `LeaderElectionGroupService` under the same tokens, and its elections
 * under theirs, so `@OnlyWhenLeader(election)`, the leadership decorators
 * and `forEachLedShard()` behave as in production, without Kubernetes.
 */
export class TestingLeaderElectionGroup implements GroupServiceShape, OnApplicationBootstrap {
  /** Name of the spreading registration (`default` unless named). */
  readonly group: string;
  /** This replica's identity. */
  readonly identity: string;
  /** The election of each name; each ends its own term on app shutdown. */
  readonly services: ReadonlyMap<string, TestingLeaderElection>;

  private readonly shardOf: ReadonlyMap<string, number>;
  private readonly leadOnBootstrap: readonly string[];
  private liveMembers: string[];

  constructor(options: TestingLeaderElectionGroupOptions) {
    this.group = options.group ?? DEFAULT_ELECTION;
    if (typeof this.group !== 'string' || this.group.trim() === '') {
      throw new Error(INVALID_ELECTION_NAME(this.group, 'group'));
    }
    if (options.leader !== undefined) {
      fail('leader', NOT_WITH_SPREAD('leader', 'name the elections to lead from bootstrap in `leading`.'));
    }
    const elections = spreadElections(this.group, options.spread);
    this.identity = options.identity ?? 'test-replica';
    const leaseName = options.leaseName ?? 'test-lease';
    this.services = new Map(
      elections.map((election) => [
        election,
        new TestingLeaderElection({
          election,
          identity: this.identity,
          leaseName: groupLeaseName(leaseName, election),
          namespace: options.namespace,
          firstFencingToken: options.firstFencingToken,
        }),
      ]),
    );
    this.shardOf = shardIndexes(options.spread, elections);
    this.leadOnBootstrap = [...(options.leading ?? [])];
    for (const election of this.leadOnBootstrap) {
      if (!this.services.has(election)) fail('leading', NO_GROUP_ELECTION(this.label, election, elections));
    }
    this.liveMembers = [...(options.members ?? [this.identity])];
  }

  /** The election names of this group. */
  get elections(): string[] {
    return [...this.services.keys()];
  }

  /** The elections this replica leads now. */
  get leading(): string[] {
    return this.elections.filter((election) => this.service(election).isLeader);
  }

  /** The live replicas; set it to show others. */
  get members(): string[] {
    return [...this.liveMembers];
  }

  set members(members: readonly string[]) {
    this.liveMembers = [...members];
  }

  /** Each election with the replica that holds it as the preferred one (a settled spread) and its holder. */
  get assignments(): GroupElectionState[] {
    return this.elections.map((election) => {
      const { isLeader, leader } = this.service(election);
      return { election, preferred: isLeader ? this.identity : leader, leader, isLeader };
    });
  }

  /** With `spread: { shards }`: the shard indexes this replica leads now, ascending. */
  get shards(): number[] {
    return ledShards(this.leading, this.shardOf);
  }

  /** As `LeaderElectionGroupService.forEachLedShard()`: `work` per led shard, inside its term, tracked by its drain. */
  forEachLedShard<T>(work: (shard: number, term: LeadershipTerm) => Promise<T> | T): Promise<T[]> {
    return runOnLedShards(this.leading, this.shardOf, (election) => this.service(election), work);
  }

  /** The election of one name; throws naming the known ones otherwise. */
  service(election: string): TestingLeaderElection {
    const service = this.services.get(election);
    if (!service) throw new Error(NO_GROUP_ELECTION(this.label, election, this.elections));
    return service;
  }

  /**
   * Leads the named elections (`lead(...group.elections)` for all), as each
   * election's `becomeLeader()`. Resolves with their terms once their acquire
   * handlers have settled.
   */
  async lead(...elections: string[]): Promise<LeadershipTerm[]> {
    const services = this.pick('lead', elections);
    return Promise.all(services.map((service) => service.becomeLeader()));
  }

  /**
   * Loses the named elections to another replica, as each election's
   * `loseLeadership()`. For another reason or holder, call
   * `service(election).loseLeadership(reason, holder)`.
   */
  async lose(...elections: string[]): Promise<void> {
    const services = this.pick('lose', elections);
    await Promise.all(services.map((service) => service.loseLeadership()));
  }

  /** Leads the `leading` elections. */
  async onApplicationBootstrap(): Promise<void> {
    if (this.leadOnBootstrap.length > 0) await this.lead(...this.leadOnBootstrap);
  }

  /** Every name is checked before any election changes, so a typo changes nothing. */
  private pick(method: 'lead' | 'lose', elections: readonly string[]): TestingLeaderElection[] {
    // No names is more likely an empty list by mistake than a wish to switch every election.
    if (elections.length === 0) {
      const one = JSON.stringify(this.elections[0]);
      throw new Error(
        `${this.label}: ${method}() needs election names, for example ${method}(${one}) or ${method}(...group.elections).`,
      );
    }
    return elections.map((election) => this.service(election));
  }

  private get label(): string {
    return `TestingLeaderElectionGroup ${this.group}`;
  }
}
