import { Logger, Module, type DynamicModule, type Provider } from '@nestjs/common';
import { DiscoveryModule, DiscoveryService, MetadataScanner } from '@nestjs/core';
import type { LeaderElectionModuleOptions } from './interfaces/leader-election-module-options.interface.js';
import { DEFAULT_ELECTION, getLeaderElectionToken } from './leader-election.constants.js';
import {
  ConfigurableLeaderElectionModule,
  LEADER_ELECTION_ASYNC_OPTIONS_TYPE,
  LEADER_ELECTION_MODULE_OPTIONS,
  LEADER_ELECTION_OPTIONS_TYPE,
} from './leader-election.module-definition.js';
import { createElector, levelled } from './leader-election.options.js';
import { LeaderElectionService } from './leader-election.service.js';
import { LeadershipEventsExplorer } from './leadership-events.explorer.js';
import {
  getMetricToken,
  LEADER_ELECTION_METRIC_NAMES,
  LeaderElectionMetrics,
} from './metrics/leader-election.metrics.js';

/**
 * Leader election among the replicas of a service over a Kubernetes Lease.
 *
 * Register once with `forRoot()` / `forRootAsync()` (global by default), or
 * several times with distinct `name`s for independent elections. Call
 * `app.enableShutdownHooks()` so SIGTERM releases the Lease.
 */
@Module({})
export class LeaderElectionModule extends ConfigurableLeaderElectionModule {
  /** Registers an election with static options. */
  static override forRoot(options: typeof LEADER_ELECTION_OPTIONS_TYPE): DynamicModule {
    return LeaderElectionModule.withElection(super.forRoot(options), options.name, options);
  }

  /** Registers an election whose options come from a factory, class or existing provider. */
  static override forRootAsync(options: typeof LEADER_ELECTION_ASYNC_OPTIONS_TYPE): DynamicModule {
    return LeaderElectionModule.withElection(super.forRootAsync(options), options.name);
  }

  private static withElection(
    definition: DynamicModule,
    name: string = DEFAULT_ELECTION,
    staticOptions?: LeaderElectionModuleOptions,
  ): DynamicModule {
    if (typeof name !== 'string' || name.trim() === '') {
      throw new Error('LeaderElectionModule: `name` must be a non-empty string when given.');
    }
    const token = getLeaderElectionToken(name);
    const explorerToken = `LeadershipEventsExplorer:${name}`;
    const loggerContext = name === DEFAULT_ELECTION ? 'LeaderElection' : `LeaderElection:${name}`;
    const loggerFor = (options: LeaderElectionModuleOptions) => levelled(new Logger(loggerContext), options?.logLevel);
    const providers: Provider[] = [
      ...(definition.providers ?? []),
      {
        provide: token,
        inject: [LEADER_ELECTION_MODULE_OPTIONS],
        useFactory: async (options: LeaderElectionModuleOptions) => {
          const logger = loggerFor(options);
          const { elector, standalone } = await createElector(options, logger);
          if (standalone) {
            logger.warn(
              `standalone mode: lease "${options.leaseName}" is in memory and this replica always leads. ` +
                'Never use it with more than one replica.',
            );
          }
          return new LeaderElectionService(name, elector, options, logger);
        },
      },
      {
        provide: explorerToken,
        inject: [DiscoveryService, MetadataScanner, token, LEADER_ELECTION_MODULE_OPTIONS],
        useFactory: (
          discovery: DiscoveryService,
          scanner: MetadataScanner,
          service: LeaderElectionService,
          options: LeaderElectionModuleOptions,
        ) => new LeadershipEventsExplorer(discovery, scanner, service, loggerFor(options)),
      },
    ];
    const metricsToken = `LeaderElectionMetrics:${name}`;
    providers.push({
      provide: metricsToken,
      inject: [token, LEADER_ELECTION_MODULE_OPTIONS],
      useFactory: async (service: LeaderElectionService, options: LeaderElectionModuleOptions) => {
        if (options?.metrics === false) return null;
        const metricsOptions = typeof options?.metrics === 'object' ? options.metrics : {};
        return LeaderElectionMetrics.create(service.elector, metricsOptions, loggerFor(options));
      },
    });
    // @willsoto/nestjs-prometheus token names, so `@InjectMetric(name)` works; prefixed names too when known statically.
    const prefix = typeof staticOptions?.metrics === 'object' ? (staticOptions.metrics.prefix ?? '') : '';
    const metricTokens: string[] = [];
    for (const metricName of LEADER_ELECTION_METRIC_NAMES) {
      for (const tokenName of new Set([metricName, `${prefix}${metricName}`])) {
        metricTokens.push(getMetricToken(tokenName));
        providers.push({
          provide: getMetricToken(tokenName),
          inject: [metricsToken],
          useFactory: (metrics: LeaderElectionMetrics | null) => metrics?.metric(metricName) ?? null,
        });
      }
    }
    const exports = [...(definition.exports ?? []), token, ...metricTokens];
    if (name === DEFAULT_ELECTION) {
      providers.push({ provide: LeaderElectionService, useExisting: token });
      exports.push(LeaderElectionService);
    }
    return {
      ...definition,
      imports: [...(definition.imports ?? []), DiscoveryModule],
      providers,
      exports,
    };
  }
}
