import { Module, type DynamicModule, type Provider } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import type {
  LeaderElectionModuleExtras,
  LeaderElectionModuleOptions,
} from './interfaces/leader-election-module-options.interface.js';
import {
  LeaderElectionDefaultsModule,
  type LeaderElectionDefaults,
  type LeaderElectionDefaultsAsyncOptions,
} from './leader-election-defaults.module.js';
import { DEFAULT_ELECTION, LEADER_ELECTION_DEFAULTS, OWN_ELECTION_OPTIONS } from './leader-election.constants.js';
import {
  ConfigurableLeaderElectionModule,
  LEADER_ELECTION_MODULE_OPTIONS,
  LEADER_ELECTION_ASYNC_OPTIONS_TYPE,
  LEADER_ELECTION_OPTIONS_TYPE,
} from './leader-election.module-definition.js';
import { INVALID_ELECTION_NAME, MISPLACED_REGISTRATION_NAME } from './leader-election.messages.js';
import {
  createLeaderElectionGroupProviders,
  createLeaderElectionProviders,
  LeaderPodLabelKeysModule,
} from './leader-election.providers.js';

/**
 * Leader election among the replicas of a service over a Kubernetes Lease.
 *
 * Register once with `forRoot()` / `forRootAsync()` (global by default), or
 * several times with distinct `election` names for independent elections, or
 * with `spread` (and a `group` name) for many elections shared evenly by the replicas. Call
 * `app.enableShutdownHooks()` so SIGTERM releases the Lease.
 */
@Module({})
export class LeaderElectionModule extends ConfigurableLeaderElectionModule {
  /** Registers an election with static options. */
  static override forRoot(options: typeof LEADER_ELECTION_OPTIONS_TYPE): DynamicModule {
    return LeaderElectionModule.withElection(super.forRoot(options), options, options);
  }

  /**
   * Settings shared by every election of the app (a kubeConfig, timings,
   * metrics, log level): each `forRoot*()` starts from them and overrides
   * what it sets. Import once, beside the registrations.
   */
  static registerDefaults(defaults: LeaderElectionDefaults): DynamicModule {
    return LeaderElectionDefaultsModule.register(defaults);
  }

  /** The shared defaults from a factory (for example from `ConfigService`). */
  static registerDefaultsAsync(options: LeaderElectionDefaultsAsyncOptions): DynamicModule {
    return LeaderElectionDefaultsModule.registerAsync(options);
  }

  /** Registers an election whose options come from a factory, class or existing provider. */
  static override forRootAsync(options: typeof LEADER_ELECTION_ASYNC_OPTIONS_TYPE): DynamicModule {
    return LeaderElectionModule.withElection(super.forRootAsync(options), options);
  }

  private static withElection(
    definition: DynamicModule,
    extras: LeaderElectionModuleExtras,
    staticOptions?: LeaderElectionModuleOptions,
  ): DynamicModule {
    const { spread } = extras;
    const registration = registrationName(extras);
    const { providers, exports } =
      spread === undefined
        ? createLeaderElectionProviders(registration, staticOptions)
        : createLeaderElectionGroupProviders(registration, spread, staticOptions);
    return {
      ...definition,
      imports: [...(definition.imports ?? []), DiscoveryModule, LeaderPodLabelKeysModule],
      providers: [...withSharedDefaults(definition.providers ?? []), ...providers],
      exports: [...(definition.exports ?? []), ...exports],
    };
  }
}

/** `election` names a single registration, `group` a spreading one; each must fit its kind. */
function registrationName(extras: LeaderElectionModuleExtras): string {
  const { election, group, spread } = extras;
  if ((extras as { name?: unknown }).name !== undefined) throw new Error(MISPLACED_REGISTRATION_NAME('name', spread));
  if (spread === undefined && group !== undefined) throw new Error(MISPLACED_REGISTRATION_NAME('group', spread));
  if (spread !== undefined && election !== undefined) throw new Error(MISPLACED_REGISTRATION_NAME('election', spread));
  const name = (spread === undefined ? election : group) ?? DEFAULT_ELECTION;
  if (typeof name !== 'string' || name.trim() === '') throw new Error(INVALID_ELECTION_NAME(name));
  return name;
}

/**
 * The options provider Nest's builder made is renamed to the registration's own options; the options everything
 * reads are those over the app's shared defaults, when there are any.
 */
function withSharedDefaults(providers: Provider[]): Provider[] {
  const own = providers.map((provider) =>
    typeof provider === 'object' && 'provide' in provider && provider.provide === LEADER_ELECTION_MODULE_OPTIONS
      ? { ...provider, provide: OWN_ELECTION_OPTIONS }
      : provider,
  );
  return [
    ...own,
    {
      provide: LEADER_ELECTION_MODULE_OPTIONS,
      inject: [OWN_ELECTION_OPTIONS, { token: LEADER_ELECTION_DEFAULTS, optional: true }],
      useFactory: (options: LeaderElectionModuleOptions, defaults?: LeaderElectionDefaults) => {
        if (!defaults || !options || typeof options !== 'object') return options;
        // An option left undefined (a config value that is not set) keeps the shared default.
        const set = Object.entries(options).filter(([, value]) => value !== undefined);
        return { ...defaults, ...Object.fromEntries(set) } as LeaderElectionModuleOptions;
      },
    },
  ];
}
