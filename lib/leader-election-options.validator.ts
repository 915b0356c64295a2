import { InvalidLeaderElectionOptionError, validateLeaseName, type LeaseLock } from './elector/index.js';
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

export const LOG_LEVELS: LeaderElectionLogLevel[] = ['debug', 'log', 'warn', 'error', 'silent'];

/** Throws the error that names the offending option. */
export function fail(field: string, message: string): never {
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
  if (options.logLevel !== undefined && !LOG_LEVELS.includes(options.logLevel)) {
    fail('logLevel', `must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(options.logLevel)}.`);
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
