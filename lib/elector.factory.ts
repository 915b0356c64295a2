import type { KubeConfig } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import {
  type KubeConnections,
  KubernetesLeaseCandidate,
  KubernetesLeaseLock,
  LeaderElector,
  LeaderPodLabel,
  MemoryLeaseLock,
  resolveNamespace,
  type ElectorLogger,
  type LeaderElectorOptions,
  type LeaseLock,
} from './elector/internal.js';
import type { LeaderElectionModuleOptions } from './interfaces/leader-election-module-options.interface.js';
import { contextNamespaceOf, loadKubeConfig } from './kube-config.loader.js';
import { fail, validateModuleOptions } from './leader-election-options.validator.js';

/** What `createElector` returns: the elector plus the facts the service needs. */
export interface ElectorSetup {
  elector: LeaderElector;
  standalone: boolean;
  /** Runs before the elector starts (publishes the LeaseCandidate in coordinated mode). */
  prepare: () => Promise<void>;
  /** Runs after the elector stopped: waits for the leader Pod label, removes the LeaseCandidate. */
  settle: () => Promise<void>;
}

/** A default identity that can name a LeaseCandidate (a DNS-1123 subdomain): `<pod or host>-<8 hex>`. */
function objectNameIdentity(): string {
  const base = (process.env.POD_NAME || hostname())
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, '-')
    .replace(/^[-.]+|[-.]+$/g, '');
  return `${(base || 'replica').slice(0, 200)}-${randomBytes(4).toString('hex')}`;
}

/** The elector options that come straight from the module options: timings, release and watch. */
export function electorTiming(
  options: LeaderElectionModuleOptions,
): Pick<LeaderElectorOptions, 'leaseDuration' | 'renewDeadline' | 'retryPeriod' | 'releaseOnStop' | 'watch'> {
  return {
    leaseDuration: options.leaseDuration,
    renewDeadline: options.renewDeadline,
    retryPeriod: options.retryPeriod,
    releaseOnStop: options.releaseOnShutdown ?? true,
    watch: options.watch ?? true,
  };
}

/** The Kubernetes Lease `name` with the module's labels and Events settings. */
export function kubernetesLeaseLock(
  options: LeaderElectionModuleOptions,
  kubeConfig: KubeConfig,
  name: string,
  namespace: string,
  connections?: KubeConnections,
): KubernetesLeaseLock {
  return new KubernetesLeaseLock({
    kubeConfig,
    connections,
    name,
    namespace,
    labels: options.leaseLabels,
    kubernetesEvents: options.kubernetesEvents ?? true,
  });
}

/** Validates the module options and builds the elector over a Kubernetes Lease, or an in-memory one when standalone. */
export async function createElector(
  options: LeaderElectionModuleOptions,
  logger: ElectorLogger,
  handoverDrain?: () => Promise<void>,
): Promise<ElectorSetup> {
  validateModuleOptions(options);
  const standalone = options.standalone === true;
  const kubeConfig = options.lock || standalone ? null : await loadKubeConfig(options);
  const namespace = resolveNamespace(options.namespace, { contextNamespace: contextNamespaceOf(kubeConfig) });
  let lock: LeaseLock;
  if (options.lock) {
    lock = options.lock;
  } else if (kubeConfig === null) {
    lock = new MemoryLeaseLock(options.leaseName, namespace);
  } else {
    lock = kubernetesLeaseLock(options, kubeConfig, options.leaseName, namespace);
  }
  const coordinated = options.coordinated !== undefined && kubeConfig !== null;
  const elector = new LeaderElector({
    lock,
    identity: options.identity ?? (coordinated ? objectNameIdentity() : undefined),
    coordinated,
    ...electorTiming(options),
    logger,
    handoverDrain,
  });
  let prepare = () => Promise.resolve();
  const settled: (() => Promise<void>)[] = [];
  if (coordinated) {
    const candidate = new KubernetesLeaseCandidate({
      kubeConfig: kubeConfig!,
      name: elector.identity,
      namespace,
      leaseName: options.leaseName,
      binaryVersion: options.coordinated!.binaryVersion,
      emulationVersion: options.coordinated!.emulationVersion,
      clock: elector.options.clock,
      logger,
      requestTimeout: elector.options.requestTimeout,
    });
    prepare = () => candidate.start();
    settled.push(() => candidate.stop());
  }
  if (options.leaderPodLabel && kubeConfig) {
    const podName = process.env.POD_NAME;
    if (!podName) {
      fail(
        'leaderPodLabel',
        "needs this pod's name in POD_NAME: add `env: [{ name: POD_NAME, valueFrom: { fieldRef: { fieldPath: " +
          'metadata.name } } }]` (and POD_NAMESPACE from metadata.namespace) to the container.',
      );
    }
    const label = new LeaderPodLabel({
      kubeConfig,
      podName,
      namespace: process.env.POD_NAMESPACE || namespace,
      key: options.leaderPodLabel.key,
      value: options.leaderPodLabel.value,
      logger,
      clock: elector.options.clock,
      requestTimeout: elector.options.requestTimeout,
    });
    label.attach(elector);
    settled.unshift(() => label.flush());
  }
  const settle = async () => {
    for (const step of settled) await step();
  };
  return { elector, standalone, prepare, settle };
}
