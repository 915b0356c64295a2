import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import {
  InvalidLeaderElectionOptionError,
  KubernetesLeaseLock,
  LeaderElector,
  MemoryLeaseLock,
  resolveNamespace,
  validateLeaseName,
  type ElectorLogger,
  type LeaseLock,
} from './elector/index.js';
import type {
  LeaderElectionLogLevel,
  LeaderElectionModuleOptions,
} from './interfaces/leader-election-module-options.interface.js';

const KNOWN_OPTIONS: ReadonlySet<string> = new Set<keyof LeaderElectionModuleOptions>([
  'leaseName',
  'namespace',
  'identity',
  'leaseDuration',
  'renewDeadline',
  'retryPeriod',
  'kubeConfig',
  'standalone',
  'lock',
  'watch',
  'releaseOnShutdown',
  'shutdownDrainTimeout',
  'awaitLeadershipOnBootstrap',
  'logLevel',
  'metrics',
]);

const LEVELS: LeaderElectionLogLevel[] = ['debug', 'log', 'warn', 'error', 'silent'];

/** Default bound on the shutdown drain of in-flight `@OnlyWhenLeader` calls. */
export const DEFAULT_SHUTDOWN_DRAIN_TIMEOUT = 10_000;

/** What `createElector` returns: the elector plus the facts the service needs. */
export interface ElectorSetup {
  elector: LeaderElector;
  standalone: boolean;
}

/** A Nest-compatible sink: `Logger` from @nestjs/common fits. */
export interface LevelledLogger {
  debug(message: string): void;
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** Filters `logger` to `level` and above. */
export function levelled(logger: LevelledLogger, level: LeaderElectionLogLevel = 'log'): ElectorLogger {
  const rank = LEVELS.indexOf(level);
  const allow = (candidate: LeaderElectionLogLevel) => LEVELS.indexOf(candidate) >= rank;
  return {
    debug: (message) => allow('debug') && logger.debug(message),
    log: (message) => allow('log') && logger.log(message),
    warn: (message) => allow('warn') && logger.warn(message),
    error: (message) => allow('error') && logger.error(message),
  } as ElectorLogger;
}

function fail(field: string, message: string): never {
  throw new InvalidLeaderElectionOptionError(field, message);
}

/** Checks shapes the elector does not know about; timings and names are checked by the elector itself. */
export function validateModuleOptions(options: LeaderElectionModuleOptions): void {
  if (!options || typeof options !== 'object') {
    fail('options', 'LeaderElectionModule needs an options object, for example { leaseName: "my-service-leader" }.');
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(key)) {
      fail(key, `unknown option. Known options: ${[...KNOWN_OPTIONS].join(', ')}.`);
    }
  }
  validateLeaseName(options.leaseName, 'leaseName');
  if (options.logLevel !== undefined && !LEVELS.includes(options.logLevel)) {
    fail('logLevel', `must be one of ${LEVELS.join(', ')}, got ${JSON.stringify(options.logLevel)}.`);
  }
  for (const flag of ['standalone', 'releaseOnShutdown', 'watch'] as const) {
    if (options[flag] !== undefined && typeof options[flag] !== 'boolean') fail(flag, 'must be true or false.');
  }
  const wait = options.awaitLeadershipOnBootstrap;
  if (wait !== undefined && typeof wait !== 'boolean' && !(typeof wait === 'number' && wait > 0)) {
    fail('awaitLeadershipOnBootstrap', 'must be true, false, or a positive number of milliseconds.');
  }
  const drain = options.shutdownDrainTimeout;
  if (drain !== undefined && !(typeof drain === 'number' && drain >= 0 && Number.isFinite(drain))) {
    fail('shutdownDrainTimeout', 'must be a non-negative number of milliseconds.');
  }
  const namespace = options.namespace;
  if (
    namespace !== undefined &&
    !(typeof namespace === 'string' && /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(namespace))
  ) {
    fail('namespace', `${JSON.stringify(namespace)} is not a valid namespace name (a DNS-1123 label).`);
  }
  if (options.lock !== undefined) {
    const lock = options.lock as Partial<LeaseLock> | null;
    if (
      !lock ||
      typeof lock.get !== 'function' ||
      typeof lock.update !== 'function' ||
      typeof lock.create !== 'function'
    ) {
      fail('lock', 'must implement LeaseLock (get, create, update), for example a MemoryLeaseLock.');
    }
    if (options.kubeConfig || options.standalone) fail('lock', 'cannot be combined with kubeConfig or standalone.');
    if (lock.name !== options.leaseName) {
      fail('lock', `names lease "${lock.name}" but leaseName is "${options.leaseName}"; make them match.`);
    }
  }
  if (options.standalone && options.kubeConfig) {
    fail('standalone', 'cannot be combined with kubeConfig: standalone mode never talks to Kubernetes.');
  }
}

function defaultKubeConfigSource(): string | null {
  if (process.env.KUBECONFIG) return `KUBECONFIG=${process.env.KUBECONFIG}`;
  const home = join(homedir(), '.kube', 'config');
  if (existsSync(home)) return home;
  if (process.env.KUBERNETES_SERVICE_HOST && process.env.KUBERNETES_SERVICE_PORT) return 'in-cluster service account';
  return null;
}

async function loadKubeConfig(options: LeaderElectionModuleOptions): Promise<KubeConfig> {
  if (options.kubeConfig) {
    const config = typeof options.kubeConfig === 'function' ? await options.kubeConfig() : options.kubeConfig;
    if (!config || typeof (config as KubeConfig).makeApiClient !== 'function') {
      fail('kubeConfig', 'must be a KubeConfig from @kubernetes/client-node, or a function returning one.');
    }
    return config;
  }
  const source = defaultKubeConfigSource();
  if (source === null) {
    throw new Error(
      `LeaderElectionModule (lease "${options.leaseName}"): no Kubernetes configuration found. ` +
        'Not in a pod (KUBERNETES_SERVICE_HOST is unset), KUBECONFIG is unset and ~/.kube/config does not exist. ' +
        'Run inside Kubernetes with a service account, set KUBECONFIG, pass the `kubeConfig` option, ' +
        'or set `standalone: true` for local development (this replica then always leads).',
    );
  }
  const config = new KubeConfig();
  try {
    config.loadFromDefault();
  } catch (error) {
    fail('kubeConfig', `loading the default configuration (${source}) failed: ${(error as Error).message}`);
  }
  if (!config.getCurrentCluster()) fail('kubeConfig', `the configuration from ${source} has no current cluster.`);
  return config;
}

/** Validates the module options and builds the elector over a Kubernetes Lease, or an in-memory one when standalone. */
export async function createElector(
  options: LeaderElectionModuleOptions,
  logger: ElectorLogger,
): Promise<ElectorSetup> {
  validateModuleOptions(options);
  const namespace = resolveNamespace(options.namespace);
  let lock: LeaseLock;
  const standalone = options.standalone === true;
  if (options.lock) {
    lock = options.lock;
  } else if (standalone) {
    lock = new MemoryLeaseLock(options.leaseName, namespace);
  } else {
    lock = new KubernetesLeaseLock({ kubeConfig: await loadKubeConfig(options), name: options.leaseName, namespace });
  }
  const elector = new LeaderElector({
    lock,
    identity: options.identity,
    leaseDuration: options.leaseDuration,
    renewDeadline: options.renewDeadline,
    retryPeriod: options.retryPeriod,
    releaseOnStop: options.releaseOnShutdown ?? true,
    watch: options.watch ?? true,
    logger,
  });
  return { elector, standalone };
}
