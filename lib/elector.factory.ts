import {
  KubernetesLeaseLock,
  LeaderElector,
  MemoryLeaseLock,
  resolveNamespace,
  type ElectorLogger,
  type LeaseLock,
} from './elector/index.js';
import type { LeaderElectionModuleOptions } from './interfaces/leader-election-module-options.interface.js';
import { loadKubeConfig } from './kube-config.loader.js';
import { validateModuleOptions } from './leader-election-options.validator.js';

/** What `createElector` returns: the elector plus the facts the service needs. */
export interface ElectorSetup {
  elector: LeaderElector;
  standalone: boolean;
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
    lock = new KubernetesLeaseLock({
      kubeConfig: await loadKubeConfig(options),
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
  return { elector, standalone };
}
