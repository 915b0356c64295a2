import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import { createServer, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { KubernetesLeaseLock, LeaderElector, LeaderPodLabel, type LeaseLock } from '../../lib/elector/internal.js';
import { kubeConfigFor, rawRequest, uniqueLeaseName, waitFor } from '../support/cluster.js';
import { delegatingLock } from '../support/delegating-lease-lock.js';

// Issue 17: the leader's Pod carries a label, so a Service can route to it. Real Pod objects on the real
// kube-apiserver (no kubelet needed for labels).

const timings = { leaseDuration: 2000, renewDeadline: 1000, retryPeriod: 250 };
const namespace = 'default';
const KEY = 'example.com/leader';

async function createPod(name: string): Promise<void> {
  const created = await rawRequest('POST', `/api/v1/namespaces/${namespace}/pods`, {
    metadata: { name, labels: { app: 'label-test' } },
    spec: { automountServiceAccountToken: false, containers: [{ name: 'app', image: 'registry.invalid/app:1' }] },
  });
  if (created.status !== 201) throw new Error(`creating pod ${name}: ${created.status} ${created.text}`);
}

/** Pods (of this test) that carry the leader label. */
async function labelled(pods: string[]): Promise<string[]> {
  const { json } = await rawRequest(
    'GET',
    `/api/v1/namespaces/${namespace}/pods?labelSelector=${encodeURIComponent(`${KEY}=true`)}`,
  );
  return (json.items as { metadata: { name: string } }[])
    .map((pod) => pod.metadata.name)
    .filter((name) => pods.includes(name))
    .sort();
}

/**
 * A plain-HTTP proxy in front of the API server (client-node accepts http:// with skip-TLS-verify) that can
 * answer one chosen request with a 503, as an overloaded API server or a restarting aggregator would.
 */
class FaultProxy {
  /** The next request that matches gets a 503, once. */
  failOnce: ((method: string, path: string) => boolean) | null = null;
  readonly failed: string[] = [];
  private server: Server | null = null;

  /** Starts in front of `user`'s API server; returns that user's KubeConfig pointed at the proxy. */
  async start(user: string): Promise<KubeConfig> {
    const direct = kubeConfigFor(user);
    const target = new URL(direct.getCurrentCluster()!.server);
    this.server = createServer((req, res) => {
      const method = req.method ?? 'GET';
      const path = req.url ?? '/';
      if (this.failOnce?.(method, path)) {
        this.failOnce = null;
        this.failed.push(`${method} ${path}`);
        req.resume();
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 503, message: 'injected' }),
        );
        return;
      }
      const upstream = httpsRequest(
        {
          host: target.hostname,
          port: target.port,
          method,
          path,
          headers: { ...req.headers, host: target.host },
          rejectUnauthorized: false,
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as { port: number };
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions({
      clusters: direct.clusters.map((cluster) => ({ ...cluster, server: `http://127.0.0.1:${port}` })),
      users: direct.users,
      contexts: direct.contexts,
      currentContext: direct.currentContext,
    });
    return kubeConfig;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }
}

describe('the leader Pod label (leaderPodLabel)', () => {
  const running: LeaderElector[] = [];
  const pods: string[] = [];
  const proxies: FaultProxy[] = [];

  beforeAll(async () => {
    // Pod admission needs the namespace's default ServiceAccount, which no controller-manager creates here.
    const account = await rawRequest('POST', `/api/v1/namespaces/${namespace}/serviceaccounts`, {
      metadata: { name: 'default' },
    });
    if (account.status !== 201 && account.status !== 409) throw new Error(`service account: ${account.text}`);
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((elector) => elector.stop()));
    await Promise.all(proxies.splice(0).map((proxy) => proxy.stop()));
  });
  afterAll(async () => {
    await Promise.all(pods.map((pod) => rawRequest('DELETE', `/api/v1/namespaces/${namespace}/pods/${pod}`)));
  });

  async function replica(
    lease: string,
    pod: string,
    user: string,
    {
      wrap,
      releaseOnStop = true,
      labelKubeConfig,
    }: { wrap?: (lock: LeaseLock) => LeaseLock; releaseOnStop?: boolean; labelKubeConfig?: KubeConfig } = {},
  ) {
    await createPod(pod);
    pods.push(pod);
    const kubeConfig = kubeConfigFor(user);
    const warnings: string[] = [];
    const logger = { log: () => undefined, warn: (message: string) => warnings.push(message), error: () => undefined };
    const lock = new KubernetesLeaseLock({ kubeConfig, name: lease, namespace, kubernetesEvents: false });
    const elector = new LeaderElector({
      lock: wrap ? wrap(lock) : lock,
      identity: pod,
      ...timings,
      releaseOnStop,
      logger,
    });
    const label = new LeaderPodLabel({
      kubeConfig: labelKubeConfig ?? kubeConfig,
      podName: pod,
      namespace,
      key: KEY,
      logger,
      clock: elector.options.clock,
      requestTimeout: elector.options.requestTimeout,
    });
    const detach = label.attach(elector);
    running.push(elector);
    return { elector, label, detach, warnings, pod };
  }

  it('one labelled Pod after acquire, after a handover, and after a crash (the next leader cleans up)', async () => {
    const lease = uniqueLeaseName('pod-label');
    const a = await replica(lease, `${lease}-a`, 'candidate-0');
    // b and c "crash" below: they must not release on stop.
    const b = await replica(lease, `${lease}-b`, 'candidate-1', { releaseOnStop: false });
    const c = await replica(lease, `${lease}-c`, 'candidate-2', { releaseOnStop: false });
    const mine = [a.pod, b.pod, c.pod];
    a.elector.start();
    await a.elector.waitForLeadership();
    b.elector.start();
    c.elector.start();
    await waitFor(async () => (await labelled(mine)).length === 1, 5000, 'the leader pod to be labelled');
    expect(await labelled(mine)).toEqual([a.pod]);

    // Handover: the old leader removes its label when its term ends and releases; the new one labels itself.
    await a.elector.stop();
    await a.label.flush();
    const second = await waitFor(() => [b, c].find((r) => r.elector.isLeader), 5000, 'the next leader');
    const third = second === b ? c : b;
    await waitFor(
      async () => (await labelled(mine)).join() === second.pod,
      5000,
      `${second.pod} alone labelled after the handover`,
    );

    // Crash: the leader's process is gone (no term end, no release); its label stays until the next leader cleans up.
    second.detach();
    await second.elector.stop(); // releaseOnStop: false, and the label no longer follows: what a crash leaves
    expect(await labelled(mine)).toEqual([second.pod]);
    await third.elector.waitForLeadership();
    await waitFor(
      async () => (await labelled(mine)).join() === third.pod,
      5000,
      `${third.pod} alone labelled after the crash`,
    );
  }, 30_000);

  it('a stolen term: the partitioned old leader keeps its label until the new leader removes it', async () => {
    const lease = uniqueLeaseName('pod-label-steal');
    let partitioned = false;
    const hang = () => new Promise<never>(() => undefined);
    const a = await replica(lease, `${lease}-a`, 'candidate-3', {
      wrap: (lock) =>
        delegatingLock(lock, {
          get: (signal) => (partitioned ? abortable(signal, hang()) : lock.get(signal)),
          update: (record, version, signal) =>
            partitioned ? abortable(signal, hang()) : lock.update(record, version, signal),
        }),
      releaseOnStop: false,
    });
    const b = await replica(lease, `${lease}-b`, 'candidate-4');
    const mine = [a.pod, b.pod];
    a.elector.start();
    await a.elector.waitForLeadership();
    await waitFor(async () => (await labelled(mine)).join() === a.pod, 5000, 'a labelled');
    // A full partition of a: neither its Lease nor its Pod label can be written.
    a.detach();
    partitioned = true;
    b.elector.start();
    await b.elector.waitForLeadership();
    await waitFor(async () => (await labelled(mine)).join() === b.pod, 5000, 'b alone labelled');
    expect(a.elector.isLeader).toBe(false);
  }, 30_000);

  it('without RBAC on pods the election is unaffected; the denial is logged once, with the verb to grant', async () => {
    const lease = uniqueLeaseName('pod-label-denied');
    const a = await replica(lease, `${lease}-a`, 'nowatch');
    a.elector.start();
    await a.elector.waitForLeadership();
    await a.label.flush();
    await a.elector.stop();
    await a.label.flush();
    const denials = a.warnings.filter((message) => message.includes('leader label'));
    expect(denials.some((message) => /could not patch pod .* Grant "patch" on pods/.test(message))).toBe(true);
    expect(new Set(denials).size).toBe(denials.length); // each kind once
    expect(denials.filter((message) => message.startsWith('could not patch')).length).toBe(1);
    expect(await labelled([a.pod])).toEqual([]);
  }, 30_000);

  // Issue 4: one transient failure used to leave two Pods labelled (or the leader unlabelled) for a whole term.
  it('a cleanup patch that fails once is retried: within retryPeriod only the new leader is labelled', async () => {
    const lease = uniqueLeaseName('pod-label-retry');
    const proxy = new FaultProxy();
    proxies.push(proxy);
    const a = await replica(lease, `${lease}-a`, 'candidate-5', { releaseOnStop: false });
    const b = await replica(lease, `${lease}-b`, 'candidate-6', { labelKubeConfig: await proxy.start('candidate-6') });
    const mine = [a.pod, b.pod];
    a.elector.start();
    await a.elector.waitForLeadership();
    await waitFor(async () => (await labelled(mine)).join() === a.pod, 5000, 'a labelled');
    // a crashes with its label on; b's first attempt to remove it gets a 503.
    a.detach();
    await a.elector.stop();
    proxy.failOnce = (method, path) =>
      method === 'PATCH' && path.startsWith(`/api/v1/namespaces/${namespace}/pods/${a.pod}`);
    b.elector.start();
    await b.elector.waitForLeadership();
    await waitFor(() => proxy.failed.length === 1, 5000, "the cleanup of a's label to fail");
    const failedAt = performance.now();
    // The stated bound: retried within retryPeriod (each request within requestTimeout).
    const bound = timings.retryPeriod + 2 * b.elector.options.requestTimeout + 500;
    await waitFor(async () => (await labelled(mine)).join() === b.pod, bound, 'b alone labelled after the retry');
    expect(performance.now() - failedAt).toBeLessThan(bound);
    expect(b.warnings.filter((message) => /could not patch pod .*injected/.test(message))).toHaveLength(1);
  }, 30_000);

  it('a claim that fails (patch not yet granted) is retried: the leader is labelled soon after the grant', async () => {
    const lease = uniqueLeaseName('pod-label-grant');
    // The election runs as a lease elector; the label as `nowatch`, which may not touch pods until granted below.
    const a = await replica(lease, `${lease}-a`, 'candidate-7', { labelKubeConfig: kubeConfigFor('nowatch') });
    const rbac = `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}`;
    const name = `${lease}-label`;
    try {
      a.elector.start();
      await a.elector.waitForLeadership();
      await waitFor(() => a.warnings.some((m) => m.startsWith(`could not patch pod "${a.pod}"`)), 5000, 'a denied');
      expect(await labelled([a.pod])).toEqual([]);
      // Patch on this one Pod only (list stays denied), so other tests using `nowatch` are unaffected.
      const role = await rawRequest('POST', `${rbac}/roles`, {
        metadata: { name },
        rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['patch'], resourceNames: [a.pod] }],
      });
      expect(role.status).toBe(201);
      const binding = await rawRequest('POST', `${rbac}/rolebindings`, {
        metadata: { name },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'nowatch' }],
      });
      expect(binding.status).toBe(201);
      // Failures in a row back off up to 4 × leaseDuration; the claim is retried within that once granted.
      await waitFor(
        async () => (await labelled([a.pod])).join() === a.pod,
        4 * timings.leaseDuration + 1000,
        'a labelled after the grant',
      );
      expect(a.elector.isLeader).toBe(true);
      // Still logged once per kind, not once per retry.
      expect(a.warnings.filter((m) => m.startsWith('could not patch'))).toHaveLength(1);
    } finally {
      await a.elector.stop(); // removes the label while still granted
      await a.label.flush();
      await rawRequest('DELETE', `${rbac}/rolebindings/${name}`);
      await rawRequest('DELETE', `${rbac}/roles/${name}`);
    }
  }, 30_000);

  // Issue 5: the cleanup selected only key=value, so two elections with one key stripped each other's label.
  it("two elections with the same key in one namespace: neither leader removes the other's label", async () => {
    const one = uniqueLeaseName('pod-label-one');
    const two = uniqueLeaseName('pod-label-two');
    const a = await replica(one, `${one}-a`, 'candidate-0', { releaseOnStop: false });
    const c = await replica(one, `${one}-c`, 'candidate-2');
    const b = await replica(two, `${two}-b`, 'candidate-1');
    const mine = [a.pod, b.pod, c.pod];
    a.elector.start();
    await a.elector.waitForLeadership();
    await waitFor(async () => (await labelled(mine)).join() === a.pod, 5000, 'a labelled');
    b.elector.start();
    await b.elector.waitForLeadership();
    await b.label.flush(); // b's claim, cleanup included
    expect(await labelled(mine)).toEqual([a.pod, b.pod].sort());
    const labels = async (pod: string) =>
      (await rawRequest('GET', `/api/v1/namespaces/${namespace}/pods/${pod}`)).json.metadata.labels;
    expect(await labels(a.pod)).toMatchObject({ 'leader-of.nestjs-lease-election/example.com.leader': one });
    expect(await labels(b.pod)).toMatchObject({ 'leader-of.nestjs-lease-election/example.com.leader': two });
    // a crashes: election one's next leader removes a's label, and leaves election two's alone.
    a.detach();
    await a.elector.stop();
    c.elector.start();
    await c.elector.waitForLeadership();
    await waitFor(
      async () => (await labelled(mine)).join() === [b.pod, c.pod].sort().join(),
      5000,
      'b and c labelled, a not',
    );
    await c.label.flush();
    expect(await labelled(mine)).toEqual([b.pod, c.pod].sort());
    expect(Object.keys(await labels(a.pod)).filter((key) => key.includes('leader'))).toEqual([]);
  }, 30_000);
});

function abortable<T>(signal: AbortSignal, promise: Promise<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    signal.addEventListener('abort', () => reject(Object.assign(new Error('aborted'), { name: 'AbortError' })), {
      once: true,
    });
    promise.then(resolve, reject);
  });
}
