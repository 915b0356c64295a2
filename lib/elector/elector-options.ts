import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { systemClock, type Clock } from './clock.js';
import type { Candidacy } from './candidacy.js';
import { positiveMillis } from './option-checks.js';
import type { LeaseLock } from './lease-lock.js';

/** Receives the elector's log lines; Nest's `Logger` and `console` both fit. */
export interface ElectorLogger {
  debug?(message: string): void;
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** Options of {@link LeaderElector}. All durations are in milliseconds. */
export interface LeaderElectorOptions {
  /** Where the election record lives. */
  lock: LeaseLock;
  /** This candidate's identity; unique per process. Default `${POD_NAME || hostname}_${random}`. */
  identity?: string;
  /** How long a follower waits after the last observed change before taking over. Whole seconds. Default 15000. */
  leaseDuration?: number;
  /** The leader steps down this long after the send time of its last successful renewal. Default 10000. */
  renewDeadline?: number;
  /** Pause between attempts; acquire attempts add up to 1.2x jitter. Default 2000. */
  retryPeriod?: number;
  /**
   * Follow the Lease with a watch when the lock supports it: instant
   * hand-over after a release and no polling in steady state. Falls back to
   * polling on its own when watching is impossible. Default true.
   */
  watch?: boolean;
  /** Release the Lease on {@link LeaderElector.stop} so the next candidate takes over at once. Default true. */
  releaseOnStop?: boolean;
  /**
   * Coordinated Leader Election (KEP-4355), as client-go's `Coordinated`:
   * the kube-apiserver's coordinator writes the holder (run a
   * `KubernetesLeaseCandidate` beside the elector). The elector never creates
   * the Lease, only takes a term the coordinator gave it, and hands the Lease
   * over when `preferredHolder` names another candidate. Default false.
   */
  coordinated?: boolean;
  /**
   * Advice on campaigning order and graceful handover, from a spreading
   * group ({@link LeaderElectionGroup}). Default none: plain campaigning.
   */
  candidacy?: Candidacy | null;
  /**
   * Waits for the leader work of a term that ends by handover (a spreading
   * group) or by coordinated preemption, before the Lease is released to the
   * preferred candidate. During a handover the Lease is renewed meanwhile;
   * during a preemption it is not (the coordinator asked us to let go), so a
   * drain that outlasts the renew deadline lets the Lease lapse instead.
   * Default none: released at once.
   */
  handoverDrain?: (() => Promise<void>) | null;
  /** Upper bound of one API call; less than renewDeadline. Default renewDeadline / 2. */
  requestTimeout?: number;
  /** Upper bound of the whole release on stop. Default renewDeadline. */
  releaseTimeout?: number;
  /** Time source; tests pass a fake one. */
  clock?: Clock;
  /** Log sink. Default: warnings and errors to the console. */
  logger?: ElectorLogger;
  /** Random source in [0, 1) for jitter. */
  random?: () => number;
}

/** Options after defaults and validation. */
export type ResolvedElectorOptions = Required<LeaderElectorOptions>;

/** Thrown for an invalid option; `field` names it. */
export class InvalidLeaderElectionOptionError extends Error {
  /** The offending option. */
  readonly field: string;

  constructor(field: string, message: string) {
    super(`Invalid leader election option \`${field}\`: ${message}`);
    this.name = 'InvalidLeaderElectionOptionError';
    this.field = field;
  }
}

/** client-go's defaults. */
export const DEFAULT_LEASE_DURATION = 15_000;
/** client-go's defaults. */
export const DEFAULT_RENEW_DEADLINE = 10_000;
/** client-go's defaults. */
export const DEFAULT_RETRY_PERIOD = 2_000;
/** client-go's `JitterFactor`. */
export const JITTER_FACTOR = 1.2;

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

const consoleLogger: ElectorLogger = {
  log: () => undefined,
  warn: (message) => console.warn(`[leader-election] ${message}`),
  error: (message) => console.error(`[leader-election] ${message}`),
};

/** Throws {@link InvalidLeaderElectionOptionError} unless `name` is a valid Lease name. */
export function validateLeaseName(name: unknown, field = 'name'): string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new InvalidLeaderElectionOptionError(field, 'a Lease name is required, for example "my-service-leader".');
  }
  if (name.length > 253 || !DNS1123_SUBDOMAIN.test(name)) {
    throw new InvalidLeaderElectionOptionError(
      field,
      `${JSON.stringify(name)} is not a valid Lease name: use at most 253 lowercase letters, digits, '-' and '.', ` +
        'starting and ending with a letter or digit.',
    );
  }
  return name;
}

/** Default identity: `${POD_NAME || hostname}_${8 hex chars}`, unique per process. */
export function defaultIdentity(): string {
  return `${process.env.POD_NAME || hostname()}_${randomBytes(4).toString('hex')}`;
}

/** Path of the namespace file Kubernetes mounts into pods with a service account. */
export const SERVICE_ACCOUNT_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** Where {@link resolveNamespace} looks besides the option. */
export interface NamespaceSources {
  /** The namespace of the kubeconfig's current context, if any. */
  contextNamespace?: string;
  /** Default: `KUBERNETES_SERVICE_HOST` is set, as in every Pod. */
  inPod?: boolean;
  /** Default {@link SERVICE_ACCOUNT_NAMESPACE_FILE}. */
  namespaceFile?: string;
}

/**
 * The namespace of the Lease: the option; in a Pod, `POD_NAMESPACE`, then the
 * service-account namespace file; out of a Pod, the kubeconfig context's
 * namespace, then `POD_NAMESPACE`; then `default`.
 */
export function resolveNamespace(option?: string, sources: NamespaceSources = {}): string {
  if (option) return option;
  const inPod = sources.inPod ?? Boolean(process.env.KUBERNETES_SERVICE_HOST);
  const fromEnv = process.env.POD_NAMESPACE || undefined;
  const candidates = inPod
    ? [fromEnv, readNamespaceFile(sources.namespaceFile ?? SERVICE_ACCOUNT_NAMESPACE_FILE), sources.contextNamespace]
    : [sources.contextNamespace, fromEnv];
  return candidates.find((candidate) => candidate) ?? 'default';
}

function readNamespaceFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim() || undefined;
  } catch {
    return undefined; // no service account mounted
  }
}

/** Applies defaults and checks client-go's timing rules. */
export function resolveElectorOptions(options: LeaderElectorOptions): ResolvedElectorOptions {
  if (!options || typeof options !== 'object' || !options.lock) {
    throw new InvalidLeaderElectionOptionError('lock', 'a LeaseLock is required.');
  }
  validateLeaseName(options.lock.name);
  const leaseDuration = positiveMillis(options, 'leaseDuration', DEFAULT_LEASE_DURATION);
  const renewDeadline = positiveMillis(options, 'renewDeadline', DEFAULT_RENEW_DEADLINE);
  const retryPeriod = positiveMillis(options, 'retryPeriod', DEFAULT_RETRY_PERIOD);
  if (leaseDuration < 1000 || leaseDuration % 1000 !== 0) {
    throw new InvalidLeaderElectionOptionError(
      'leaseDuration',
      `the Lease stores whole seconds, so use a multiple of 1000 ms of at least 1000, got ${leaseDuration}.`,
    );
  }
  if (leaseDuration <= renewDeadline) {
    throw new InvalidLeaderElectionOptionError(
      'leaseDuration',
      `must be greater than renewDeadline (${leaseDuration} <= ${renewDeadline}); otherwise two replicas can lead at once.`,
    );
  }
  if (renewDeadline <= JITTER_FACTOR * retryPeriod) {
    throw new InvalidLeaderElectionOptionError(
      'renewDeadline',
      `must be greater than ${JITTER_FACTOR} x retryPeriod (${renewDeadline} <= ${JITTER_FACTOR * retryPeriod}).`,
    );
  }
  const identity = options.identity ?? defaultIdentity();
  if (typeof identity !== 'string' || identity.trim() === '') {
    throw new InvalidLeaderElectionOptionError('identity', 'must be a non-empty string unique to this process.');
  }
  const requestTimeout = positiveMillis(options, 'requestTimeout', renewDeadline / 2);
  if (requestTimeout >= renewDeadline) {
    throw new InvalidLeaderElectionOptionError(
      'requestTimeout',
      `must be less than renewDeadline (${requestTimeout} >= ${renewDeadline}): an acquire answered after the ` +
        'renew deadline could begin a term that has already ended. The default is renewDeadline / 2.',
    );
  }
  const releaseTimeout = positiveMillis(options, 'releaseTimeout', renewDeadline);
  if (options.candidacy && options.coordinated) {
    throw new InvalidLeaderElectionOptionError(
      'candidacy',
      'cannot be combined with `coordinated`: the kube-apiserver picks the holder there. Use one or the other.',
    );
  }
  return {
    lock: options.lock,
    identity,
    leaseDuration,
    renewDeadline,
    retryPeriod,
    releaseOnStop: options.releaseOnStop ?? true,
    coordinated: options.coordinated ?? false,
    candidacy: options.candidacy ?? null,
    handoverDrain: options.handoverDrain ?? null,
    watch: options.watch ?? true,
    requestTimeout,
    releaseTimeout,
    clock: options.clock ?? systemClock,
    logger: options.logger ?? consoleLogger,
    random: options.random ?? Math.random,
  };
}
