import type { KubeConfig } from '@kubernetes/client-node';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { loadClientNode } from './elector/client-node.js';
import type { LeaderElectionModuleOptions } from './interfaces/leader-election-module-options.interface.js';
import { fail } from './leader-election-options.validator.js';

function defaultKubeConfigSource(): string | null {
  if (process.env.KUBECONFIG) return `KUBECONFIG=${process.env.KUBECONFIG}`;
  const home = join(homedir(), '.kube', 'config');
  if (existsSync(home)) return home;
  if (process.env.KUBERNETES_SERVICE_HOST && process.env.KUBERNETES_SERVICE_PORT) return 'in-cluster service account';
  return null;
}

/** The namespace of the kubeconfig's current context, if it names one. */
export function contextNamespaceOf(kubeConfig: KubeConfig | null): string | undefined {
  return kubeConfig?.getContextObject(kubeConfig.getCurrentContext())?.namespace || undefined;
}

/** The `kubeConfig` option, else the default: KUBECONFIG, ~/.kube/config or the pod's service account. */
export async function loadKubeConfig(options: LeaderElectionModuleOptions): Promise<KubeConfig> {
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
  const { KubeConfig } = await loadClientNode();
  const config = new KubeConfig();
  try {
    config.loadFromDefault();
  } catch (error) {
    fail('kubeConfig', `loading the default configuration (${source}) failed: ${(error as Error).message}`);
  }
  if (!config.getCurrentCluster()) fail('kubeConfig', `the configuration from ${source} has no current cluster.`);
  return config;
}
