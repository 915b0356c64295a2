import {
  TERM_END_REASONS,
  type ElectorLogger,
  type LeaderElectionEvent,
  type LeaderElector,
  type MemberErrorEvent,
} from '../elector/internal.js';
import type { LeaderElectionMetricsOptions } from '../interfaces/leader-election-module-options.interface.js';

/** Names of the metrics this module exports (before any prefix). */
export const LEADER_ELECTION_METRIC_NAMES = [
  'leader_election_master_status',
  'leader_election_is_leader',
  'leader_election_acquired_total',
  'leader_election_lost_total',
  'leader_election_leader_changed_total',
  'leader_election_slowpath_total',
  'leader_election_renew_duration_seconds',
  'leader_election_errors_total',
  'leader_election_last_renew_timestamp_seconds',
  'leader_election_follower_watching',
  'leader_election_fencing_scheme',
] as const;

/** One of {@link LEADER_ELECTION_METRIC_NAMES}. */
export type LeaderElectionMetricName = (typeof LEADER_ELECTION_METRIC_NAMES)[number];

/**
 * Injection token of a metric, with @willsoto/nestjs-prometheus's naming, so
 * `@InjectMetric('leader_election_is_leader')` finds it.
 */
export function getMetricToken(name: string): string {
  return `PROM_METRIC_${name.toUpperCase()}`;
}

type Labels = Record<string, string>;
interface GaugeLike {
  set(labels: Labels, value: number): void;
}
interface CounterLike {
  inc(labels: Labels, value?: number): void;
}
interface HistogramLike {
  observe(labels: Labels, value: number): void;
}
interface RegistryLike {
  getSingleMetric(name: string): unknown;
  registerMetric(metric: never): void;
}
type PromClient = typeof import('prom-client');

interface Definition {
  kind: 'Gauge' | 'Counter' | 'Histogram';
  help: string;
  labelNames: string[];
  buckets?: number[];
}

const LEASE_LABELS = ['lease', 'namespace'];

const DEFINITIONS: Record<LeaderElectionMetricName, Definition> = {
  leader_election_master_status: {
    kind: 'Gauge',
    help: 'Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master. (client-go compatible)',
    labelNames: ['name', ...LEASE_LABELS],
  },
  leader_election_is_leader: {
    kind: 'Gauge',
    help: '1 while this replica leads the lease, else 0. The scrape target (pod, instance) tells the replicas apart.',
    labelNames: LEASE_LABELS,
  },
  leader_election_acquired_total: {
    kind: 'Counter',
    help: 'Terms of leadership started by this replica.',
    labelNames: LEASE_LABELS,
  },
  leader_election_lost_total: {
    kind: 'Counter',
    help: `Terms of leadership ended, by reason (${TERM_END_REASONS.join(', ')}).`,
    labelNames: [...LEASE_LABELS, 'reason'],
  },
  leader_election_leader_changed_total: {
    kind: 'Counter',
    help: 'Changes of the lease holder observed by this replica (including itself).',
    labelNames: LEASE_LABELS,
  },
  leader_election_slowpath_total: {
    kind: 'Counter',
    help: 'Leader renewals that needed a GET because the optimistic update failed. (client-go compatible)',
    labelNames: LEASE_LABELS,
  },
  leader_election_renew_duration_seconds: {
    kind: 'Histogram',
    help: 'Duration of successful leader renewals.',
    labelNames: LEASE_LABELS,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  },
  leader_election_errors_total: {
    kind: 'Counter',
    help:
      'Failed lease API calls by operation (acquire, renew, release; for the member records of a spreading group, ' +
      'under its lease name: announce, withdraw, evict) and reason.',
    labelNames: [...LEASE_LABELS, 'operation', 'reason'],
  },
  leader_election_last_renew_timestamp_seconds: {
    kind: 'Gauge',
    help: 'Unix time of the last successful acquire or renewal by this replica.',
    labelNames: LEASE_LABELS,
  },
  leader_election_follower_watching: {
    kind: 'Gauge',
    help: '1 while this replica follows the lease with a watch, 0 while it polls (watch impossible or reconnecting).',
    labelNames: LEASE_LABELS,
  },
  leader_election_fencing_scheme: {
    kind: 'Gauge',
    help: "1 for the scheme of the fencing tokens of this replica's latest term (resource-version, or the lease-transitions fallback).",
    labelNames: [...LEASE_LABELS, 'scheme'],
  },
};

/**
 * Prometheus metrics of one elector. Metrics live in prom-client's registry
 * and are shared by every election in the process (labels tell them apart),
 * so registering twice never throws.
 */
export class LeaderElectionMetrics {
  private readonly metrics = new Map<LeaderElectionMetricName, unknown>();
  private readonly unsubscribe: () => void;
  private readonly adopted: LeaderElectionMetrics[] = [];
  private readonly followed: Array<() => void> = [];

  private constructor(
    promClient: PromClient,
    private readonly elector: LeaderElector,
    options: LeaderElectionMetricsOptions,
  ) {
    const registry = (options.registry ?? promClient.register) as RegistryLike;
    const prefix = options.prefix ?? '';
    for (const name of LEADER_ELECTION_METRIC_NAMES) {
      const fullName = `${prefix}${name}`;
      const existing = registry.getSingleMetric(fullName);
      if (existing) {
        this.metrics.set(name, existing);
        continue;
      }
      const { kind, ...configuration } = DEFINITIONS[name];
      const MetricClass = promClient[kind] as unknown as new (config: object) => unknown;
      this.metrics.set(name, new MetricClass({ name: fullName, ...configuration, registers: [registry] }));
    }
    this.unsubscribe = elector.subscribe((event) => this.record(event));
    const lease = this.leaseLabels();
    this.gauge('leader_election_master_status').set({ name: lease.lease, ...lease }, 0);
    this.gauge('leader_election_is_leader').set(lease, 0);
    this.gauge('leader_election_follower_watching').set(lease, 0);
  }

  /**
   * Loads prom-client and binds metrics to `elector`. Returns null when
   * prom-client is not installed: metrics are an optional peer, so that is
   * one debug line, or a warning when `explicit` (metrics were configured).
   */
  static async create(
    elector: LeaderElector,
    options: LeaderElectionMetricsOptions,
    logger: ElectorLogger,
    explicit = false,
  ): Promise<LeaderElectionMetrics | null> {
    let promClient: PromClient;
    try {
      const loaded = (await import('prom-client')) as PromClient & { default?: PromClient };
      promClient = loaded.Gauge ? loaded : (loaded.default as PromClient);
    } catch {
      const message = 'metrics off: prom-client is not installed (install it to get them).';
      if (explicit) logger.warn(`${message} Or remove the \`metrics\` option.`);
      else logger.debug?.(message);
      return null;
    }
    return new LeaderElectionMetrics(promClient, elector, options);
  }

  /** The prom-client metric object registered for `name`. */
  metric(name: LeaderElectionMetricName): unknown {
    return this.metrics.get(name);
  }

  /** Stops recording, for the metrics adopted too. */
  close(): void {
    this.unsubscribe();
    for (const unfollow of this.followed.splice(0)) unfollow();
    for (const other of this.adopted) other.close();
  }

  /** Counts a spreading group's failed member-record calls in the errors metric, labelled with the group's lease name. */
  followGroup(
    group: { subscribe(listener: (event: MemberErrorEvent) => void): () => void },
    lease: string,
    namespace: string,
  ): void {
    this.followed.push(
      group.subscribe((event) =>
        this.counter('leader_election_errors_total').inc({
          lease,
          namespace,
          operation: event.operation,
          reason: event.error.reason,
        }),
      ),
    );
  }

  /** Closes `other` (another elector's recorder on the same metric objects) together with this one. */
  adopt(other: LeaderElectionMetrics): void {
    this.adopted.push(other);
  }

  /** Nest calls this on the provider at shutdown. */
  onApplicationShutdown(): void {
    this.close();
  }

  private leaseLabels(): Labels {
    return { lease: this.elector.options.lock.name, namespace: this.elector.options.lock.namespace };
  }

  private gauge(name: LeaderElectionMetricName): GaugeLike {
    return this.metrics.get(name) as GaugeLike;
  }

  private counter(name: LeaderElectionMetricName): CounterLike {
    return this.metrics.get(name) as CounterLike;
  }

  private record(event: LeaderElectionEvent): void {
    const lease = this.leaseLabels();
    const now = Date.now() / 1000;
    switch (event.type) {
      case 'started-leading':
        this.gauge('leader_election_master_status').set({ name: lease.lease, ...lease }, 1);
        this.gauge('leader_election_is_leader').set(lease, 1);
        this.counter('leader_election_acquired_total').inc(lease);
        this.gauge('leader_election_last_renew_timestamp_seconds').set(lease, now);
        for (const scheme of ['resource-version', 'lease-transitions']) {
          this.gauge('leader_election_fencing_scheme').set(
            { ...lease, scheme },
            scheme === event.term.fencingScheme ? 1 : 0,
          );
        }
        break;
      case 'stopped-leading':
        this.gauge('leader_election_master_status').set({ name: lease.lease, ...lease }, 0);
        this.gauge('leader_election_is_leader').set(lease, 0);
        this.counter('leader_election_lost_total').inc({ ...lease, reason: event.reason });
        break;
      case 'new-leader':
        if (event.identity !== null) this.counter('leader_election_leader_changed_total').inc(lease);
        break;
      case 'renewed':
        (this.metrics.get('leader_election_renew_duration_seconds') as HistogramLike).observe(
          lease,
          event.durationMs / 1000,
        );
        if (event.slowPath) this.counter('leader_election_slowpath_total').inc(lease);
        this.gauge('leader_election_last_renew_timestamp_seconds').set(lease, now);
        break;
      case 'follower-mode':
        this.gauge('leader_election_follower_watching').set(lease, event.mode === 'watch' ? 1 : 0);
        break;
      case 'error':
        this.counter('leader_election_errors_total').inc({
          ...lease,
          operation: event.operation,
          reason: event.error.reason,
        });
        break;
      default:
        break;
    }
  }
}
