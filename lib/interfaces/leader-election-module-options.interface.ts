import type { KubeConfig } from '@kubernetes/client-node';
import type { LeaseLock } from '../elector/internal.js';

/** Log levels the module writes at; `silent` turns its logging off. */
export type LeaderElectionLogLevel = 'debug' | 'log' | 'warn' | 'error' | 'silent';

/** The part of a prom-client `Registry` the module uses (typed loosely so prom-client stays optional). */
export interface PrometheusRegistryLike {
  getSingleMetric(name: string): unknown;
  registerMetric(metric: never): void;
}

/** Metrics settings; see the README's metrics table. */
export interface LeaderElectionMetricsOptions {
  /** Prefix for every metric name, for example `myapp_`. Default none. */
  prefix?: string;
  /** prom-client `Registry` to register in. Default: prom-client's global registry. */
  registry?: PrometheusRegistryLike;
}

/** Options of `LeaderElectionModule.forRoot()` / `forRootAsync()`. Durations are milliseconds. */
export interface LeaderElectionModuleOptions {
  /** Name of the Lease (a DNS-1123 subdomain), for example `billing-leader`. Required. */
  leaseName: string;
  /**
   * Namespace of the Lease. Default: in a Pod, `POD_NAMESPACE`, else the
   * service-account namespace file; out of a Pod, the kubeconfig context's
   * namespace, else `POD_NAMESPACE`; else `default`.
   */
  namespace?: string;
  /** Identity written as holder. Default `${POD_NAME || hostname}_${random}`, unique per process. */
  identity?: string;
  /** How long followers wait after the last observed renewal before taking over. Whole seconds. Default 15000. */
  leaseDuration?: number;
  /** The leader steps down if it could not renew for this long. Default 10000. */
  renewDeadline?: number;
  /** Pause between attempts. Default 2000. */
  retryPeriod?: number;
  /**
   * Kubernetes client configuration. Default: `KubeConfig.loadFromDefault()`
   * (`KUBECONFIG`, `~/.kube/config`, or the in-cluster service account); if
   * none of those exists, bootstrap fails unless `standalone` is set.
   */
  kubeConfig?: KubeConfig | (() => KubeConfig | Promise<KubeConfig>);
  /**
   * Elect without Kubernetes: an in-memory Lease, so this replica always
   * leads. For local development only; a warning says so at startup.
   */
  standalone?: boolean;
  /**
   * Use this lock instead of a Kubernetes Lease, for example one
   * `MemoryLeaseLock` shared by several test apps in one process so they hold
   * a real election without a cluster. Excludes `kubeConfig` and `standalone`.
   */
  lock?: LeaseLock;
  /**
   * Followers watch the Lease (instant hand-over, no polling) and fall back
   * to client-go's polling when the `watch` verb is not granted. Default true.
   */
  watch?: boolean;
  /** Release the Lease on shutdown so another replica takes over at once. Default true. */
  releaseOnShutdown?: boolean;
  /** Upper bound on waiting for in-flight `@OnlyWhenLeader` calls at shutdown. Default 10000. */
  shutdownDrainTimeout?: number;
  /**
   * Block `onApplicationBootstrap` until this replica leads. `true` waits
   * forever; a number waits at most that many ms and then fails the bootstrap.
   * Default false.
   */
  awaitLeadershipOnBootstrap?: boolean | number;
  /**
   * Labels put on the Lease when it is created and kept on every update (as
   * client-go's `NewWithLabels`), for example to find the Leases of an app
   * with `kubectl get lease -l app=billing`.
   */
  leaseLabels?: Record<string, string>;
  /**
   * Record client-go's Kubernetes Events on the Lease: `"<identity> became
   * leader"` and `"<identity> stopped leading"` (reason `LeaderElection`), so
   * `kubectl describe lease` shows the history. Best-effort: needs `create` on
   * `events`; a denial is logged once and never affects the election. Default true.
   */
  kubernetesEvents?: boolean;
  /**
   * Opt-in: while this replica leads, its own Pod carries this label, so a
   * Service that selects it routes to the leader. Needs `POD_NAME` (and
   * `POD_NAMESPACE`) from the downward API, and `patch` and `list` on pods.
   * See the README's "Routing to the leader" for the window in which two Pods
   * or none carry it.
   */
  leaderPodLabel?: { key: string; value?: string };
  /**
   * Opt-in Coordinated Leader Election (KEP-4355), as client-go's
   * `Coordinated: true` with a LeaseCandidate: the kube-apiserver picks the
   * holder among the candidates (oldest emulation version first). This
   * replica publishes a LeaseCandidate named after its `identity`, never
   * creates the Lease, and hands it over when the coordinator prefers another
   * candidate. Needs the `CoordinatedLeaderElection` feature gate and
   * `coordination.k8s.io/v1beta1` served, and RBAC on `leasecandidates`.
   */
  coordinated?: {
    /** Semver without a leading `v`, for example `2.3.0`: this build's version. */
    binaryVersion: string;
    /** Semver, at most `binaryVersion`. Default `binaryVersion`. */
    emulationVersion?: string;
  };
  /** Lowest level logged. Default `log`. */
  logLevel?: LeaderElectionLogLevel;
  /** Prometheus metrics through prom-client; `false` turns them off. Default true. */
  metrics?: boolean | LeaderElectionMetricsOptions;
}

/** Extra options of `forRoot()` / `forRootAsync()` that shape the module rather than the election. */
export interface LeaderElectionModuleExtras {
  /** Registers the module globally so `@OnlyWhenLeader()` works in every module. Default true. */
  isGlobal?: boolean;
  /**
   * Name of this election when the app runs several (each with its own
   * Lease), as used by `@OnlyWhenLeader(election)`, `@InjectLeaderElection(election)`
   * and the event decorators. Default `default`. Not with `spread` (see `group`).
   */
  election?: string;
  /**
   * With `spread`: the name of this spreading registration, as used by
   * `@InjectLeaderElectionGroup(group)` and the health checks' `{ group }`.
   * Default `default`.
   */
  group?: string;
  /** Renamed: `election`, or `group` with `spread`. */
  name?: never;
  /**
   * Spread many leader-only jobs over the live replicas: one election per
   * name listed (Lease `<leaseName>-<name>`), or `{ shards: n }` for
   * elections `shard-0` … `shard-<n-1>` (`<name>-0` … in a named
   * registration, see `group`). Each replica leads an even share, and a replica that
   * joins receives its share by graceful handover. Use the names in
   * `@OnlyWhenLeader('billing')`, `@InjectLeaderElection('billing')` and
   * the event decorators; inject `LeaderElectionGroupService` for the group.
   * See the README's "Spreading many jobs".
   */
  spread?: readonly string[] | { shards: number };
}

/**
 * Implement it on a class given to `forRootAsync({ useClass })` or
 * `forRootAsync({ useExisting })` that builds the options.
 */
export interface LeaderElectionOptionsFactory {
  createLeaderElectionOptions(): LeaderElectionModuleOptions | Promise<LeaderElectionModuleOptions>;
}
