import { Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import type { GroupElectionState, LeaderElectionGroup, LeadershipTerm } from './elector/internal.js';
import { ledShards, runOnLedShards } from './led-shards.js';
import { NO_GROUP_ELECTION } from './leader-election.messages.js';
import type { LeaderElectionService } from './leader-election.service.js';

/**
 * A spreading registration (`spread` in `forRoot()`): many elections whose
 * leadership is shared evenly by the live replicas. Started on bootstrap; on
 * shutdown it withdraws this replica, drains each election's leader-only
 * work and releases its Leases, so the others take over at once. Inject it
 * as `LeaderElectionGroupService` (default registration) or with
 * `@InjectLeaderElectionGroup(name)`.
 */
@Injectable()
export class LeaderElectionGroupService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  /** Created by `LeaderElectionModule`; not meant to be constructed by hand. */
  constructor(
    /** Name of this spreading registration (`forRoot({ group })`; `default` unless named). */
    readonly group: string,
    /** The framework-free group underneath, for advanced use. */
    readonly leaderElectionGroup: LeaderElectionGroup,
    /** The service of each election, by name. */
    readonly services: ReadonlyMap<string, LeaderElectionService>,
    /** Shard index of each election with `spread: { shards }`; empty otherwise. */
    private readonly shardOf: ReadonlyMap<string, number> = new Map(),
  ) {}

  /** The election names of this group. */
  get elections(): string[] {
    return [...this.services.keys()];
  }

  /** This replica's identity. */
  get identity(): string {
    return this.leaderElectionGroup.identity;
  }

  /** The elections this replica leads now. */
  get leading(): string[] {
    return this.leaderElectionGroup.leading;
  }

  /** The live replicas this one knows of, itself included. */
  get members(): string[] {
    return this.leaderElectionGroup.members;
  }

  /** Each election: the replica preferred for it, the holder seen, and whether it is this one. */
  get assignments(): GroupElectionState[] {
    return this.leaderElectionGroup.assignments;
  }

  /** The service of one election of the group; throws naming the known ones otherwise. */
  service(election: string): LeaderElectionService {
    const service = this.services.get(election);
    if (!service) {
      throw new Error(NO_GROUP_ELECTION(`LeaderElectionGroupService ${this.group}`, election, this.elections));
    }
    return service;
  }

  /** With `spread: { shards }`: the shard indexes this replica leads now, ascending. */
  get shards(): number[] {
    return ledShards(this.leading, this.shardOf);
  }

  /**
   * With `spread: { shards }`: runs `work` once for each shard this replica
   * leads, in parallel, each inside its own term (so `admittedTerm()` of the
   * shard's service, its `signal` and fencing token, apply) and tracked by
   * that shard's shutdown and handover drain. Resolves with the results of
   * the shards it ran.
   */
  async forEachLedShard<T>(work: (shard: number, term: LeadershipTerm) => Promise<T> | T): Promise<T[]> {
    return runOnLedShards(this.leading, this.shardOf, (election) => this.service(election), work);
  }

  /** Announces this replica and starts every election (after a short settle, so peers see each other). */
  async onApplicationBootstrap(): Promise<void> {
    await this.leaderElectionGroup.start();
  }

  /** Withdraws, drains each led election's work, releases its Lease, then ends the event streams. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.leaderElectionGroup.stop({ drain: (election) => this.service(election).drainLeaderWork() });
    for (const service of this.services.values()) service.close();
  }
}
