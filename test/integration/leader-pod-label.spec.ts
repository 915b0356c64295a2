import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { KubernetesLeaseLock, LeaderElector, LeaderPodLabel, type LeaseLock } from '../../lib/elector/index.js';
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

describe('the leader Pod label (leaderPodLabel)', () => {
  const running: LeaderElector[] = [];
  const pods: string[] = [];

  beforeAll(async () => {
    // Pod admission needs the namespace's default ServiceAccount, which no controller-manager creates here.
    const account = await rawRequest('POST', `/api/v1/namespaces/${namespace}/serviceaccounts`, {
      metadata: { name: 'default' },
    });
    if (account.status !== 201 && account.status !== 409) throw new Error(`service account: ${account.text}`);
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((elector) => elector.stop()));
  });
  afterAll(async () => {
    await Promise.all(pods.map((pod) => rawRequest('DELETE', `/api/v1/namespaces/${namespace}/pods/${pod}`)));
  });

  async function replica(
    lease: string,
    pod: string,
    user: string,
    { wrap, releaseOnStop = true }: { wrap?: (lock: LeaseLock) => LeaseLock; releaseOnStop?: boolean } = {},
  ) {
    await createPod(pod);
    pods.push(pod);
    const kubeConfig = kubeConfigFor(user);
    const warnings: string[] = [];
    const logger = { log: () => undefined, warn: (message: string) => warnings.push(message), error: () => undefined };
    const lock = new KubernetesLeaseLock({ kubeConfig, name: lease, namespace, events: false });
    const elector = new LeaderElector({
      lock: wrap ? wrap(lock) : lock,
      identity: pod,
      ...timings,
      releaseOnStop,
      logger,
    });
    const label = new LeaderPodLabel({
      kubeConfig,
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
});

function abortable<T>(signal: AbortSignal, promise: Promise<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    signal.addEventListener('abort', () => reject(Object.assign(new Error('aborted'), { name: 'AbortError' })), {
      once: true,
    });
    promise.then(resolve, reject);
  });
}
