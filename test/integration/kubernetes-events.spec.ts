import { afterEach, describe, expect, it } from '@jest/globals';
import { KubernetesLeaseLock, LeaderElector } from '../../lib/elector/internal.js';
import { kubeConfigFor, leasePath, rawRequest, uniqueLeaseName, waitFor } from '../support/cluster.js';

// Issue 17: client-go's leadership Events and NewWithLabels, against a real kube-apiserver.

const timings = { leaseDuration: 2000, renewDeadline: 1000, retryPeriod: 250 };

interface CoreEvent {
  type: string;
  reason: string;
  message: string;
  count: number;
  involvedObject: { apiVersion: string; kind: string; name: string; namespace: string; uid?: string };
  source: { component?: string };
  reportingComponent: string;
  reportingInstance: string;
}

function candidate(
  name: string,
  identity: string,
  user: string,
  extra: { labels?: Record<string, string>; warnings?: string[] } = {},
) {
  const lock = new KubernetesLeaseLock({
    kubeConfig: kubeConfigFor(user),
    name,
    namespace: 'default',
    labels: extra.labels,
  });
  const renewals: number[] = [];
  const elector = new LeaderElector({
    lock,
    identity,
    ...timings,
    logger: { log: () => undefined, warn: (message) => extra.warnings?.push(message), error: () => undefined },
  });
  elector.subscribe((event) => {
    if (event.type === 'renewed') renewals.push(performance.now());
  });
  return { elector, renewals };
}

async function eventsAbout(lease: string): Promise<CoreEvent[]> {
  const { json } = await rawRequest(
    'GET',
    `/api/v1/namespaces/default/events?fieldSelector=${encodeURIComponent(`involvedObject.name=${lease}`)}`,
  );
  return ((json.items as CoreEvent[]) ?? []).filter((event) => event.reason === 'LeaderElection');
}

const messages = (events: CoreEvent[]) => events.map((event) => event.message).sort();

describe('Kubernetes Events and Lease labels (client-go RecordEvent, NewWithLabels)', () => {
  const running: LeaderElector[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((elector) => elector.stop()));
  });

  it('records "<identity> became leader" and "<identity> stopped leading" once per term, about the Lease', async () => {
    const name = uniqueLeaseName('events');
    const a = candidate(name, 'ev-a', 'candidate-0');
    const b = candidate(name, 'ev-b', 'candidate-1');
    running.push(a.elector, b.elector);
    a.elector.start();
    await a.elector.waitForLeadership();
    b.elector.start();
    // Many renewals: still one Event for the term.
    await waitFor(() => a.renewals.length >= 6, 5000, 'six renewals');
    await waitFor(async () => (await eventsAbout(name)).length > 0, 5000, 'the first Event');
    const lease = (await rawRequest('GET', leasePath(name))).json;
    const first = await eventsAbout(name);
    expect(first).toHaveLength(1);
    expect(first[0]).toMatchObject({
      type: 'Normal',
      reason: 'LeaderElection',
      message: 'ev-a became leader',
      count: 1,
      involvedObject: {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        name,
        namespace: 'default',
        uid: lease.metadata.uid,
      },
      source: { component: 'nestjs-lease-election' },
      reportingComponent: 'nestjs-lease-election',
      reportingInstance: 'ev-a',
    });

    await a.elector.stop(); // releases: b takes over at once
    await b.elector.waitForLeadership();
    await waitFor(async () => (await eventsAbout(name)).length >= 3, 5000, 'three Events');
    await waitFor(() => b.renewals.length >= 4, 5000, 'b to renew');
    expect(messages(await eventsAbout(name))).toEqual([
      'ev-a became leader',
      'ev-a stopped leading',
      'ev-b became leader',
    ]);
  });

  it('a user that may not create Events still elects; the denial is logged once, with the grant to add', async () => {
    const name = uniqueLeaseName('events-denied');
    const warnings: string[] = [];
    const a = candidate(name, 'denied-a', 'nowatch', { warnings });
    running.push(a.elector);
    a.elector.start();
    await a.elector.waitForLeadership();
    await waitFor(() => a.renewals.length >= 3, 5000, 'renewals');
    await a.elector.stop(); // a second Event ("stopped leading"), denied too
    const eventWarnings = warnings.filter((message) => message.includes('could not record the Event'));
    expect(eventWarnings).toHaveLength(1);
    expect(eventWarnings[0]).toMatch(/cannot create events in namespace "default".*Grant "create" on events/);
    expect(await eventsAbout(name)).toEqual([]);
    expect((await rawRequest('GET', leasePath(name))).json.spec.holderIdentity).toBe(''); // released as usual
  });

  it('leaseLabels are set on create and kept on every update; labels and annotations of others survive', async () => {
    const name = uniqueLeaseName('labels');
    const a = candidate(name, 'lab-a', 'candidate-2', {
      labels: { app: 'billing', 'example.com/role': 'leader-lease' },
    });
    running.push(a.elector);
    a.elector.start();
    await a.elector.waitForLeadership();
    expect((await rawRequest('GET', leasePath(name))).json.metadata.labels).toEqual({
      app: 'billing',
      'example.com/role': 'leader-lease',
    });
    // Somebody else labels and annotates the Lease, and removes one of ours.
    const patched = await rawRequest(
      'PATCH',
      leasePath(name),
      { metadata: { labels: { team: 'payments', app: null }, annotations: { 'example.com/owner': 'sre' } } },
      'admin',
    );
    expect(patched.status).toBe(200);
    const renewalsAtPatch = a.renewals.length;
    await waitFor(() => a.renewals.length >= renewalsAtPatch + 3, 5000, 'renewals after the patch');
    const metadata = (await rawRequest('GET', leasePath(name))).json.metadata;
    expect(metadata.labels).toEqual({ app: 'billing', 'example.com/role': 'leader-lease', team: 'payments' });
    expect(metadata.annotations).toEqual({ 'example.com/owner': 'sre' });
  });
});
