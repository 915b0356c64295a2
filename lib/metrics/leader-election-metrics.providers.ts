import type { InjectionToken, Provider } from '@nestjs/common';
import type { ElectorLogger, LeaderElectionGroup, LeaderElector } from '../elector/internal.js';
import type { LeaderElectionModuleOptions } from '../interfaces/leader-election-module-options.interface.js';
import { ELECTION_LOGGER } from '../leader-election.constants.js';
import { LEADER_ELECTION_MODULE_OPTIONS } from '../leader-election.module-definition.js';
import { getMetricToken, LEADER_ELECTION_METRIC_NAMES, LeaderElectionMetrics } from './leader-election.metrics.js';

/**
 * The metrics of one election, plus a provider per metric under
 * @willsoto/nestjs-prometheus's token names, so `@InjectMetric(name)` finds
 * them (`null` when metrics are off). Unprefixed names always work, with
 * `forRoot()` and `forRootAsync()`; prefixed names too when the prefix is
 * given to `forRoot()`.
 */
export function createMetricsProviders(
  election: string,
  serviceToken: InjectionToken,
  staticOptions?: LeaderElectionModuleOptions,
): { providers: Provider[]; exports: string[] } {
  const metricsToken = `LeaderElectionMetrics:${election}`;
  const providers: Provider[] = [
    {
      provide: metricsToken,
      inject: [serviceToken, LEADER_ELECTION_MODULE_OPTIONS, ELECTION_LOGGER],
      useFactory: async (
        service: { elector?: LeaderElector; leaderElectionGroup?: LeaderElectionGroup },
        options: LeaderElectionModuleOptions,
        logger: ElectorLogger,
      ) => {
        // One elector, or every elector of a spreading group; none for a test double.
        const electors = service?.elector
          ? [service.elector]
          : [...(service?.leaderElectionGroup?.electors.values() ?? [])];
        if (options?.metrics === false || electors.length === 0) return null;
        const configured = typeof options?.metrics === 'object' ? options.metrics : null;
        const created = await Promise.all(
          electors.map((elector) =>
            LeaderElectionMetrics.create(elector, configured ?? {}, logger, configured !== null),
          ),
        );
        const [first, ...rest] = created;
        // The metric objects are shared (labelled by Lease); the others only need closing with the first.
        if (first) for (const other of rest) if (other) first.adopt(other);
        if (first && service.leaderElectionGroup) {
          first.followGroup(service.leaderElectionGroup, options.leaseName, electors[0]!.options.lock.namespace);
        }
        return first ?? null;
      },
    },
  ];
  const prefix = typeof staticOptions?.metrics === 'object' ? (staticOptions.metrics.prefix ?? '') : '';
  const exports: string[] = [];
  for (const metricName of LEADER_ELECTION_METRIC_NAMES) {
    for (const tokenName of new Set([metricName, `${prefix}${metricName}`])) {
      exports.push(getMetricToken(tokenName));
      providers.push({
        provide: getMetricToken(tokenName),
        inject: [metricsToken],
        useFactory: (metrics: LeaderElectionMetrics | null) => metrics?.metric(metricName) ?? null,
      });
    }
  }
  return { providers, exports };
}
