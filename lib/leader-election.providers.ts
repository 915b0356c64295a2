import { Injectable, Logger, Module, type InjectionToken, type Provider } from '@nestjs/common';
import { createElectionGroup, shardIndexes, spreadElections } from './election-group.factory.js';
import { createElector } from './elector.factory.js';
import { leaderPodScopeKey } from './elector/internal.js';
import type { LeaderElectionModuleOptions } from './interfaces/leader-election-module-options.interface.js';
import {
  DEFAULT_ELECTION,
  ELECTION_LOGGER,
  ELECTION_NAME,
  ELECTION_SERVICE,
  getLeaderElectionGroupToken,
  getLeaderElectionToken,
} from './leader-election.constants.js';
import { LeaderElectionGroupService } from './leader-election-group.service.js';
import type { LeaderElectionModuleExtras } from './interfaces/leader-election-module-options.interface.js';
import { LEADER_ELECTION_MODULE_OPTIONS } from './leader-election.module-definition.js';
import { LeaderElectionService } from './leader-election.service.js';
import { leaderPodLabelConflict } from './leader-election-options.validator.js';
import { LeadershipEventsExplorer } from './leadership-events.explorer.js';
import { LeadershipMetadataAccessor } from './leadership-metadata.accessor.js';
import { levelled } from './levelled-logger.js';
import { createMetricsProviders } from './metrics/leader-election-metrics.providers.js';

/** Providers and exports of one registration, added to what `ConfigurableModuleBuilder` generated. */
export interface ElectionProviders {
  providers: Provider[];
  exports: InjectionToken[];
}

/** The logger context of an election: `LeaderElection`, or `LeaderElection:<name>`. */
export function loggerContextOf(election: string): string {
  return election === DEFAULT_ELECTION ? 'LeaderElection' : `LeaderElection:${election}`;
}

/**
 * The leader Pod label keys taken by the registrations of one Nest app. Two
 * elections of one app label the same Pod, so with one key each would strip
 * the other's label. One instance per app (see {@link LeaderPodLabelKeysModule}),
 * never per process: two apps in one process are independent.
 */
@Injectable()
export class LeaderPodLabelKeys {
  private readonly taken = new Map<string, { election: string; key: string }>();

  /** Takes `options.leaderPodLabel.key` for `election`; throws when another registration of this app has it. */
  take(election: string, options: LeaderElectionModuleOptions): void {
    const key = options?.leaderPodLabel?.key;
    if (typeof key !== 'string') return;
    // The scope label is derived from the key: two keys that map to one scope label clash too.
    const scope = leaderPodScopeKey(key);
    const holder = this.taken.get(scope);
    if (holder && holder.election !== election) leaderPodLabelConflict(holder, { election, key });
    this.taken.set(scope, { election, key });
  }
}

/** Imported by every registration: a static module, so Nest makes one {@link LeaderPodLabelKeys} per app. */
@Module({ providers: [LeaderPodLabelKeys], exports: [LeaderPodLabelKeys] })
export class LeaderPodLabelKeysModule {}

/**
 * The providers every registration has, whatever makes its service: the
 * explorer that calls leadership handlers, its metadata accessor, and the
 * registration-private tokens they read. `service` is the token of the
 * registration's service.
 */
export function createElectionCoreProviders(election: string, service: InjectionToken): Provider[] {
  return [
    { provide: ELECTION_NAME, useValue: election },
    { provide: ELECTION_SERVICE, useExisting: service },
    LeadershipMetadataAccessor,
    LeadershipEventsExplorer,
  ];
}

/**
 * The providers of `LeaderElectionModule.forRoot*()` for election `election`:
 * the service (the `LeaderElectionService` class itself for the default
 * election, so `overrideProvider(LeaderElectionService)` reaches the
 * decorators too), the explorer, and the metrics.
 */
export function createLeaderElectionProviders(
  election: string,
  staticOptions?: LeaderElectionModuleOptions,
): ElectionProviders {
  const token = getLeaderElectionToken(election);
  // The default election's primary token is the class; its string token is an alias of it.
  const primary = election === DEFAULT_ELECTION ? LeaderElectionService : token;
  const providers: Provider[] = [
    {
      provide: ELECTION_LOGGER,
      inject: [LEADER_ELECTION_MODULE_OPTIONS],
      useFactory: (options: LeaderElectionModuleOptions) =>
        levelled(new Logger(loggerContextOf(election)), options?.logLevel),
    },
    {
      provide: primary,
      inject: [LEADER_ELECTION_MODULE_OPTIONS, ELECTION_LOGGER, LeaderPodLabelKeys],
      useFactory: async (
        options: LeaderElectionModuleOptions,
        logger: ReturnType<typeof levelled>,
        labelKeys: LeaderPodLabelKeys,
      ) => {
        // A coordinated preemption drains the service's leader-only work before the Lease is released.
        let service: LeaderElectionService | null = null;
        const drain = () => service?.drainLeaderWork() ?? Promise.resolve();
        const { elector, standalone, prepare, settle } = await createElector(options, logger, drain);
        // Validated by now, and nothing has started yet (electors start at application bootstrap).
        labelKeys.take(election, options);
        if (standalone) {
          logger.warn(
            `standalone mode: lease "${options.leaseName}" is in memory and this replica always leads. ` +
              'Never use it with more than one replica.',
          );
        }
        service = new LeaderElectionService(election, elector, options, logger, { prepare, settle });
        return service;
      },
    },
    ...createElectionCoreProviders(election, primary),
  ];
  const exports: ElectionProviders['exports'] = [token];
  if (primary !== token) {
    providers.push({ provide: token, useExisting: primary });
    exports.push(primary);
  }
  const metrics = createMetricsProviders(election, primary, staticOptions);
  providers.push(...metrics.providers);
  exports.push(...metrics.exports);
  return { providers, exports };
}

/**
 * The providers of a spreading registration (`spread`): the group service
 * (the `LeaderElectionGroupService` class itself for the default
 * registration), one `LeaderElectionService` per election under that
 * election's token, one explorer for all of them, and their metrics.
 */
export function createLeaderElectionGroupProviders(
  registration: string,
  spread: NonNullable<LeaderElectionModuleExtras['spread']>,
  staticOptions?: LeaderElectionModuleOptions,
): ElectionProviders {
  const elections = spreadElections(registration, spread);
  const token = getLeaderElectionGroupToken(registration);
  const primary = registration === DEFAULT_ELECTION ? LeaderElectionGroupService : token;
  const context = loggerContextOf(registration);
  const providers: Provider[] = [
    {
      provide: ELECTION_LOGGER,
      inject: [LEADER_ELECTION_MODULE_OPTIONS],
      useFactory: (options: LeaderElectionModuleOptions) => levelled(new Logger(context), options?.logLevel),
    },
    {
      provide: primary,
      inject: [LEADER_ELECTION_MODULE_OPTIONS, ELECTION_LOGGER],
      useFactory: async (options: LeaderElectionModuleOptions, logger: ReturnType<typeof levelled>) => {
        const services = new Map<string, LeaderElectionService>();
        const electionLogger = (election: string) => levelled(new Logger(`${context}:${election}`), options?.logLevel);
        const { group, standalone } = await createElectionGroup(options, elections, logger, electionLogger, (e) =>
          services.get(e)!.drainLeaderWork(),
        );
        if (standalone) {
          logger.warn(
            `standalone mode: the ${elections.length} elections of "${options.leaseName}" are in memory and this ` +
              'replica leads them all. Never use it with more than one replica.',
          );
        }
        const managed = { prepare: () => Promise.resolve(), settle: () => Promise.resolve(), managed: true };
        for (const [election, elector] of group.electors) {
          services.set(
            election,
            new LeaderElectionService(election, elector, options, electionLogger(election), managed),
          );
        }
        return new LeaderElectionGroupService(registration, group, services, shardIndexes(spread, elections));
      },
    },
    ...createElectionCoreProviders(registration, primary),
  ];
  const exports: InjectionToken[] = [token];
  if (primary !== token) {
    providers.push({ provide: token, useExisting: primary });
    exports.push(primary);
  }
  for (const election of elections) {
    const electionToken = getLeaderElectionToken(election);
    providers.push({
      provide: electionToken,
      inject: [primary],
      useFactory: (group: LeaderElectionGroupService) => group.service(election),
    });
    exports.push(electionToken);
  }
  const metrics = createMetricsProviders(registration, primary, staticOptions);
  providers.push(...metrics.providers);
  exports.push(...metrics.exports);
  return { providers, exports };
}
