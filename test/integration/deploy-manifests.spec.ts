import { afterAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { KubeConfig, KubernetesObjectApi, loadAllYaml, type KubernetesObject } from '@kubernetes/client-node';
import {
  KubernetesLeaseLock,
  KubernetesMemberDirectory,
  LeaderElectionGroup,
  LeaderElector,
  LeaderPodLabel,
  type ElectorErrorEvent,
} from '../../lib/elector/internal.js';
import { kubeConfigFor, rawRequest, sharedControlPlane, uniqueLeaseName, waitFor } from '../support/cluster.js';

const deployDir = fileURLToPath(new URL('../../sample/deploy/', import.meta.url));
const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };

function manifests(): KubernetesObject[] {
  const kustomization = loadAllYaml(readFileSync(`${deployDir}kustomization.yaml`, 'utf8'))[0] as {
    resources: string[];
  };
  return kustomization.resources.flatMap(
    (file) => loadAllYaml(readFileSync(`${deployDir}${file}`, 'utf8')) as KubernetesObject[],
  );
}

async function createNamespace(name: string): Promise<void> {
  const created = await rawRequest('POST', '/api/v1/namespaces', { metadata: { name } });
  expect(created.status).toBe(201);
}

describe('sample/deploy manifests', () => {
  const namespaces: string[] = [];
  afterAll(async () => {
    for (const namespace of namespaces) await rawRequest('DELETE', `/api/v1/namespaces/${namespace}`);
  });

  it('pass a server-side dry-run against the real apiserver', async () => {
    const namespace = uniqueLeaseName('dryrun');
    namespaces.push(namespace);
    await createNamespace(namespace);
    const objects = manifests();
    expect(objects.map((object) => object.kind).sort()).toEqual(
      ['Deployment', 'Role', 'RoleBinding', 'Service', 'Service', 'ServiceAccount'].sort(),
    );
    const client = KubernetesObjectApi.makeApiClient(kubeConfigFor('admin'));
    for (const object of objects) {
      const created = await client.create({ ...object, metadata: { ...object.metadata, namespace } }, undefined, 'All');
      expect(created.metadata?.name).toBe(object.metadata?.name);
    }
    // A dry run persists nothing.
    const roles = await rawRequest('GET', `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/roles`);
    expect(roles.json.items).toEqual([]);
  });

  it('grant what the elector and the spread jobs need, as the service account, and nothing outside the namespace', async () => {
    const namespace = uniqueLeaseName('rbac');
    namespaces.push(namespace);
    await createNamespace(namespace);
    const client = KubernetesObjectApi.makeApiClient(kubeConfigFor('admin'));
    for (const object of manifests().filter((item) => item.kind !== 'Deployment' && item.kind !== 'Service')) {
      await client.create({ ...object, metadata: { ...object.metadata, namespace } });
    }
    const tokenRequest = await rawRequest(
      'POST',
      `/api/v1/namespaces/${namespace}/serviceaccounts/lease-election-sample/token`,
      { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 600 } },
    );
    expect(tokenRequest.status).toBe(201);
    const plane = sharedControlPlane();
    const asServiceAccount = new KubeConfig();
    asServiceAccount.loadFromOptions({
      clusters: [{ name: 'local', server: plane.server, skipTLSVerify: true }],
      users: [{ name: 'sa', token: tokenRequest.json.status.token }],
      contexts: [{ name: 'sa', cluster: 'local', user: 'sa', namespace }],
      currentContext: 'sa',
    });
    const timings = { leaseDuration: 2000, renewDeadline: 1000, retryPeriod: 250, logger: quiet };

    const allowed = new LeaderElector({
      lock: new KubernetesLeaseLock({ kubeConfig: asServiceAccount, name: 'sample-leader', namespace }),
      identity: 'pod-1',
      ...timings,
    });
    // The deployment's leaderPodLabel: the Role lets the service account label its own Pod.
    const pod = await rawRequest('POST', `/api/v1/namespaces/${namespace}/pods`, {
      metadata: { name: 'pod-1', labels: { 'app.kubernetes.io/name': 'lease-election-sample' } },
      spec: {
        serviceAccountName: 'lease-election-sample',
        automountServiceAccountToken: false,
        containers: [{ name: 'app', image: 'registry.invalid/sample:1' }],
      },
    });
    expect(pod.status).toBe(201);
    const podLabel = new LeaderPodLabel({
      kubeConfig: asServiceAccount,
      podName: 'pod-1',
      namespace,
      key: 'lease-election-sample/leader',
      logger: quiet,
      clock: allowed.options.clock,
      requestTimeout: allowed.options.requestTimeout,
    });
    podLabel.attach(allowed);
    const leaderPods = async () =>
      (
        await rawRequest(
          'GET',
          `/api/v1/namespaces/${namespace}/pods?labelSelector=${encodeURIComponent('lease-election-sample/leader=true')}`,
        )
      ).json.items.map((item: { metadata: { name: string } }) => item.metadata.name);
    const modes: string[] = [];
    allowed.subscribe((event) => event.type === 'follower-mode' && modes.push(event.mode));
    allowed.start();
    await allowed.waitForLeadership();
    // The Role grants watch on the one Lease: the elector follows it without polling.
    await waitFor(() => modes.includes('watch'), 3000, 'the watch to open');
    await waitFor(() => allowed.diagnostics.lastSuccessfulWriteSentAt !== null, 2000, 'a renewal');
    await podLabel.flush();
    expect(await leaderPods()).toEqual(['pod-1']);
    await allowed.stop();
    await podLabel.flush();
    expect(await leaderPods()).toEqual([]);
    // The Role grants create on events: client-go's two leadership Events are recorded.
    const events = await rawRequest(
      'GET',
      `/api/v1/namespaces/${namespace}/events?fieldSelector=${encodeURIComponent('involvedObject.name=sample-leader')}`,
    );
    expect((events.json.items as { message: string }[]).map((event) => event.message).sort()).toEqual([
      'pod-1 became leader',
      'pod-1 stopped leading',
    ]);
    const released = await rawRequest(
      'GET',
      `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/sample-leader`,
    );
    expect(released.json.spec.holderIdentity ?? '').toBe('');

    // The spread jobs: a group of two elections with member Leases (list, watch, delete) works as the account.
    const group = new LeaderElectionGroup({
      identity: 'pod-1',
      elections: ['billing', 'reports'],
      lockFor: (job) =>
        new KubernetesLeaseLock({ kubeConfig: asServiceAccount, name: `sample-leader-jobs-${job}`, namespace }),
      members: new KubernetesMemberDirectory({ kubeConfig: asServiceAccount, group: 'sample-leader-jobs', namespace }),
      ...timings,
    });
    await group.start();
    expect(group.spreading).toBe(true);
    await waitFor(() => group.leading.length === 2, 5000, 'both spread elections led');
    await group.stop();
    const members = await rawRequest(
      'GET',
      `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases?labelSelector=${encodeURIComponent('nestjs-lease-election/group=sample-leader-jobs')}`,
    );
    expect(members.json.items).toEqual([]);

    // A Lease in another namespace: the Role grants nothing there.
    const elsewhere = uniqueLeaseName('elsewhere');
    namespaces.push(elsewhere);
    await createNamespace(elsewhere);
    const now = new Date().toISOString().replace('Z', '000Z');
    await rawRequest('POST', `/apis/coordination.k8s.io/v1/namespaces/${elsewhere}/leases`, {
      metadata: { name: 'someone-else' },
      spec: { holderIdentity: '', leaseDurationSeconds: 1, renewTime: now, acquireTime: now },
    });
    const denied = new LeaderElector({
      lock: new KubernetesLeaseLock({ kubeConfig: asServiceAccount, name: 'someone-else', namespace: elsewhere }),
      identity: 'pod-1',
      ...timings,
    });
    const errors: ElectorErrorEvent[] = [];
    denied.subscribe((event) => event.type === 'error' && errors.push(event));
    denied.start();
    await waitFor(() => errors.length > 0, 3000, 'a forbidden error');
    await denied.stop();
    expect(errors[0].error.reason).toBe('forbidden');
    expect(errors[0].error.message).toContain(`system:serviceaccount:${namespace}:lease-election-sample`);
    expect(errors[0].error.message).toContain('cannot get');
  });
});
