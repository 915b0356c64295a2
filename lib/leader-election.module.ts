import { Module, type DynamicModule } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import type {
  LeaderElectionModuleExtras,
  LeaderElectionModuleOptions,
} from './interfaces/leader-election-module-options.interface.js';
import { DEFAULT_ELECTION } from './leader-election.constants.js';
import {
  ConfigurableLeaderElectionModule,
  LEADER_ELECTION_ASYNC_OPTIONS_TYPE,
  LEADER_ELECTION_OPTIONS_TYPE,
} from './leader-election.module-definition.js';
import { INVALID_ELECTION_NAME } from './leader-election.messages.js';
import {
  createLeaderElectionGroupProviders,
  createLeaderElectionProviders,
  LeaderPodLabelKeysModule,
} from './leader-election.providers.js';

/**
 * Leader election among the replicas of a service over a Kubernetes Lease.
 *
 * Register once with `forRoot()` / `forRootAsync()` (global by default), or
 * several times with distinct `name`s for independent elections, or with
 * `spread` for many elections shared evenly by the replicas. Call
 * `app.enableShutdownHooks()` so SIGTERM releases the Lease.
 */
@Module({})
export class LeaderElectionModule extends ConfigurableLeaderElectionModule {
  /** Registers an election with static options. */
  static override forRoot(options: typeof LEADER_ELECTION_OPTIONS_TYPE): DynamicModule {
    return LeaderElectionModule.withElection(super.forRoot(options), options.name, options.spread, options);
  }

  /** Registers an election whose options come from a factory, class or existing provider. */
  static override forRootAsync(options: typeof LEADER_ELECTION_ASYNC_OPTIONS_TYPE): DynamicModule {
    return LeaderElectionModule.withElection(super.forRootAsync(options), options.name, options.spread);
  }

  private static withElection(
    definition: DynamicModule,
    election: string = DEFAULT_ELECTION,
    spread: LeaderElectionModuleExtras['spread'],
    staticOptions?: LeaderElectionModuleOptions,
  ): DynamicModule {
    if (typeof election !== 'string' || election.trim() === '') throw new Error(INVALID_ELECTION_NAME(election));
    const { providers, exports } =
      spread === undefined
        ? createLeaderElectionProviders(election, staticOptions)
        : createLeaderElectionGroupProviders(election, spread, staticOptions);
    return {
      ...definition,
      imports: [...(definition.imports ?? []), DiscoveryModule, LeaderPodLabelKeysModule],
      providers: [...(definition.providers ?? []), ...providers],
      exports: [...(definition.exports ?? []), ...exports],
    };
  }
}
