import {
  InvalidLeaderElectionOptionError,
  LEADER_POD_SCOPE_PREFIX,
  validateLeaseName,
  type LeaseLock,
} from './elector/internal.js';
import { DEFAULT_ELECTION } from './leader-election.constants.js';
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
  'leaseLabels',
  'kubernetesEvents',
  'leaderPodLabel',
  'coordinated',
]);

/** forRoot()/forRootAsync() options that are not election options (`LeaderElectionModuleExtras`). */
const MODULE_SHAPING_OPTIONS: ReadonlySet<string> = new Set(['election', 'group', 'name', 'spread', 'isGlobal']);

const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

function validateCoordinated(options: LeaderElectionModuleOptions): void {
  const coordinated = options.coordinated as { binaryVersion?: unknown; emulationVersion?: unknown } | null;
  if (!coordinated || typeof coordinated !== 'object') {
    fail('coordinated', 'must be { binaryVersion, emulationVersion? }, for example { binaryVersion: "2.3.0" }.');
  }
  for (const field of ['binaryVersion', 'emulationVersion'] as const) {
    const version = coordinated[field];
    if (
      (field === 'binaryVersion' || version !== undefined) &&
      !(typeof version === 'string' && SEMVER.test(version))
    ) {
      fail('coordinated', `${field} must be a semantic version without a leading "v", for example "2.3.0".`);
    }
  }
  if (options.standalone || options.lock) fail('coordinated', 'needs a Kubernetes Lease: not with standalone or lock.');
  if (options.identity !== undefined && !DNS_SUBDOMAIN.test(options.identity)) {
    fail(
      'identity',
      `must be a valid object name (a DNS-1123 subdomain) with \`coordinated\`: it names this replica's ` +
        `LeaseCandidate. Got ${JSON.stringify(options.identity)}.`,
    );
  }
}

const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_PREFIX = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

/** Kubernetes label syntax: `[prefix/]name` keys, values of at most 63 characters. */
function validateLabels(field: string, labels: unknown): void {
  if (!labels || typeof labels !== 'object' || Array.isArray(labels)) {
    fail(field, 'must be an object of label keys to string values, for example { app: "billing" }.');
  }
  for (const [key, value] of Object.entries(labels)) {
    const slash = key.lastIndexOf('/');
    const [prefix, name] = slash >= 0 ? [key.slice(0, slash), key.slice(slash + 1)] : [null, key];
    if (!LABEL_NAME.test(name) || (prefix !== null && !LABEL_PREFIX.test(prefix))) {
      fail(field, `${JSON.stringify(key)} is not a valid label key ([prefix/]name, name at most 63 characters).`);
    }
    if (typeof value !== 'string' || !LABEL_VALUE.test(value)) {
      fail(
        field,
        `the value of ${JSON.stringify(key)} must be a valid label value (a string of at most 63 characters).`,
      );
    }
  }
}

export const LOG_LEVELS: LeaderElectionLogLevel[] = ['debug', 'log', 'warn', 'error', 'silent'];

/** Throws the error that names the offending option. */
export function fail(field: string, message: string): never {
  throw new InvalidLeaderElectionOptionError(field, message);
}

/** Throws: two registrations of one app use one leader Pod label key (or keys with one scope label). */
export function leaderPodLabelConflict(
  first: { election: string; key: string },
  second: { election: string; key: string },
): never {
  const name = (election: string) =>
    election === DEFAULT_ELECTION ? `"${election}" (the unnamed one)` : JSON.stringify(election);
  const keys =
    first.key === second.key
      ? `both use the key ${JSON.stringify(first.key)}`
      : `use the keys ${JSON.stringify(first.key)} and ${JSON.stringify(second.key)}, which share one scope label`;
  fail(
    'leaderPodLabel',
    `the registrations ${name(first.election)} and ${name(second.election)} of this app ${keys}. Their leaders ` +
      "label the same Pod, so each would remove the other's label. Give each registration its own key " +
      '(and each leader-only Service its own selector), or set leaderPodLabel on one of them only.',
  );
}

/** Checks shapes the elector does not know about; timings and names are checked by the elector itself. */
export function validateModuleOptions(options: LeaderElectionModuleOptions): void {
  if (!options || typeof options !== 'object') {
    fail('options', 'LeaderElectionModule needs an options object, for example { leaseName: "my-service-leader" }.');
  }
  for (const key of Object.keys(options)) {
    if (MODULE_SHAPING_OPTIONS.has(key)) {
      fail(
        key,
        'shapes the module (its providers and tokens), which Nest builds before any factory runs, so it cannot ' +
          `come from the forRootAsync() factory. Pass it beside the factory: forRootAsync({ ${key}: …, useFactory }).`,
      );
    }
    if (!KNOWN_OPTIONS.has(key)) {
      fail(key, `unknown option. Known options: ${[...KNOWN_OPTIONS].join(', ')}.`);
    }
  }
  validateLeaseName(options.leaseName, 'leaseName');
  if (options.logLevel !== undefined && !LOG_LEVELS.includes(options.logLevel)) {
    fail('logLevel', `must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(options.logLevel)}.`);
  }
  if (options.leaseLabels !== undefined) validateLabels('leaseLabels', options.leaseLabels);
  if (options.coordinated !== undefined) validateCoordinated(options);
  if (options.leaderPodLabel !== undefined) {
    const label = options.leaderPodLabel as { key?: unknown; value?: unknown } | null;
    if (!label || typeof label !== 'object' || typeof label.key !== 'string') {
      fail('leaderPodLabel', 'must be { key, value? }, for example { key: "leader", value: "true" }.');
    }
    validateLabels('leaderPodLabel', { [label.key]: label.value ?? 'true' });
    if (label.key.startsWith(`${LEADER_POD_SCOPE_PREFIX}/`)) {
      fail('leaderPodLabel', `the prefix "${LEADER_POD_SCOPE_PREFIX}/" is the library's own; choose another key.`);
    }
    if (options.standalone || options.lock)
      fail('leaderPodLabel', 'needs a Kubernetes Lease: not with standalone or lock.');
  }
  for (const flag of ['standalone', 'releaseOnShutdown', 'watch', 'kubernetesEvents'] as const) {
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
