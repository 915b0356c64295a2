import type { KubeConfig } from '@kubernetes/client-node';
import {
  KubernetesLeaseLock,
  LeaderElector,
  LeaderPodLabel,
  MemoryLeaseLock,
  resolveNamespace,
  type ElectorLogger,
  type LeaseLock,
} from './elector/index.js';
import type { LeaderElectionModuleOptions } from './interfaces/leader-election-module-options.interface.js';
import { loadKubeConfig } from './kube-config.loader.js';
import { fail, validateModuleOptions } from './leader-election-options.validator.js';

/** What `createElector` returns: the elector plus the facts the service needs. */
export interface ElectorSetup {
  elector: LeaderElector;
  standalone: boolean;
  /** Resolves once work that follows the terms (the leader Pod label) has settled; run after `stop()`. */
  settle: () => Promise<void>;
}

/** Validates the module options and builds the elector over a Kubernetes Lease, or an in-memory one when standalone. */
export async function createElector(
  options: LeaderElectionModuleOptions,
  logger: ElectorLogger,
): Promise<ElectorSetup> {
  validateModuleOptions(options);
  const namespace = resolveNamespace(options.namespace);
  let lock: LeaseLock;
  let kubeConfig: KubeConfig | null = null;
  const standalone = options.standalone === true;
  if (options.lock) {
    lock = options.lock;
  } else if (standalone) {
    lock = new MemoryLeaseLock(options.leaseName, namespace);
  } else {
    kubeConfig = await loadKubeConfig(options);
    lock = new KubernetesLeaseLock({
      kubeConfig,
      name: options.leaseName,
      namespace,
      labels: options.leaseLabels,
      events: options.events ?? true,
    });
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
  let settle = () => Promise.resolve();
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
    settle = () => label.flush();
  }
  return { elector, standalone, settle };
}
