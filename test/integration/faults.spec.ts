import { afterEach, describe, expect, it } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import {
  KubernetesLeaseLock,
  LeaderElector,
  LeaseForbiddenError,
  LeaseNotFoundError,
  LeaseUnauthorizedError,
  type ElectorErrorEvent,
  type LeaderElectionEvent,
} from '../../lib/elector/internal.js';
import { kubeConfigFor, leasePath, rawRequest, uniqueLeaseName, waitFor } from '../support/cluster.js';

const timings = { leaseDuration: 2000, renewDeadline: 1000, retryPeriod: 250 };
const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };

function candidate(name: string, identity: string, user = 'admin', namespace = 'default') {
  const events: (LeaderElectionEvent & { at: number })[] = [];
  const elector = new LeaderElector({
    lock: new KubernetesLeaseLock({ kubeConfig: kubeConfigFor(user), name, namespace }),
    identity,
    ...timings,
    logger: quiet,
  });
  elector.subscribe((event) => events.push({ ...event, at: performance.now() }));
  return { elector, events };
}

describe('faults on a real kube-apiserver', () => {
  const running: LeaderElector[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((elector) => elector.stop()));
  });

  it('a stolen Lease ends our term within renewDeadline and reports the thief as new leader', async () => {
    const name = uniqueLeaseName('stolen');
    const { elector, events } = candidate(name, 'victim');
    running.push(elector);
    elector.start();
    const term = await elector.waitForLeadership();
    const lease = (await rawRequest('GET', leasePath(name))).json;
    const now = new Date().toISOString().replace('Z', '000Z');
    lease.spec = { ...lease.spec, holderIdentity: 'thief', renewTime: now, acquireTime: now, leaseTransitions: 7 };
    const stolenAt = performance.now();
    const put = await rawRequest('PUT', leasePath(name), lease);
    expect(put.status).toBe(200);
    await waitFor(() => term.signal.aborted, timings.renewDeadline + 500, 'the term to end');
    const stopped = events.find((event) => event.type === 'stopped-leading')!;
    expect(stopped).toMatchObject({ reason: 'stolen' });
    expect(stopped.at - stolenAt).toBeLessThan(timings.renewDeadline);
    expect(events.some((event) => event.type === 'new-leader' && event.identity === 'thief')).toBe(true);
    expect(elector.isLeader).toBe(false);
    expect(elector.leader).toBe('thief');
  });

  it('a Lease deleted while leading is recreated, with never two leaders', async () => {
    const name = uniqueLeaseName('deleted');
    const a = candidate(name, 'del-a');
    const b = candidate(name, 'del-b');
    running.push(a.elector, b.elector);
    a.elector.start();
    await a.elector.waitForLeadership();
    b.elector.start();
    // b has seen a's claim; a deletion must not let it treat the Lease as free.
    await waitFor(
      () => b.events.some((event) => event.type === 'new-leader' && event.identity === 'del-a'),
      3000,
      'b to observe a',
    );
    const deleted = await rawRequest('DELETE', leasePath(name));
    expect(deleted.status).toBe(200);
    const leaders = () => [a.elector, b.elector].filter((elector) => elector.isLeader).length;
    await waitFor(
      async () => {
        expect(leaders()).toBeLessThanOrEqual(1);
        const lease = await rawRequest('GET', leasePath(name));
        return lease.status === 200 && leaders() === 1;
      },
      5000,
      'the Lease to be recreated',
    );
    const until = Date.now() + 1500;
    await waitFor(() => (expect(leaders()).toBe(1), Date.now() > until), 3000, 'steady state');
    const spec = (await rawRequest('GET', leasePath(name))).json.spec;
    expect(['del-a', 'del-b']).toContain(spec.holderIdentity);
  });

  it('a user without create/update gets a typed forbidden error naming verb, resource, namespace and user, and keeps retrying with backoff', async () => {
    const name = uniqueLeaseName('forbidden');
    const { elector, events } = candidate(name, 'no-rights', 'limited');
    running.push(elector);
    elector.start();
    await waitFor(() => events.filter((event) => event.type === 'error').length >= 6, 12_000, 'repeated errors');
    const errors = events.filter((event): event is ElectorErrorEvent & { at: number } => event.type === 'error');
    expect(errors[0].error).toBeInstanceOf(LeaseForbiddenError);
    expect(errors[0].error.reason).toBe('forbidden');
    expect(errors[0].error.message).toContain('cannot create');
    expect(errors[0].error.message).toContain('leases.coordination.k8s.io');
    expect(errors[0].error.message).toContain('namespace "default"');
    expect(errors[0].error.message).toContain('"limited"');
    const gaps = errors.slice(1).map((event, index) => event.at - errors[index].at);
    // Backoff: after three tries at the normal cadence, configuration errors are retried at growing intervals.
    expect(gaps[4]).toBeGreaterThan(gaps[0]);
    expect(elector.isLeader).toBe(false);
    expect(elector.state).toBe('candidate');

    // With a Lease present, the denied verb becomes update.
    const now = new Date().toISOString().replace('Z', '000Z');
    const created = await rawRequest('POST', `/apis/coordination.k8s.io/v1/namespaces/default/leases`, {
      metadata: { name },
      spec: { holderIdentity: '', leaseDurationSeconds: 1, renewTime: now, acquireTime: now },
    });
    expect(created.status).toBe(201);
    const before = errors.length;
    await waitFor(
      () => events.filter((event) => event.type === 'error').length > before,
      timings.leaseDuration * 2 + 1000,
      'an update error',
    );
    const update = events
      .filter((event): event is ElectorErrorEvent & { at: number } => event.type === 'error')
      .at(-1)!;
    expect(update.error.message).toContain('cannot update');
    expect(update.error.reason).toBe('forbidden');
  }, 20_000);

  it('rejected credentials (HTTP 401) get their own reason and message, not an RBAC grant, and back off as a configuration error', async () => {
    const admin = kubeConfigFor('admin');
    const expired = new KubeConfig();
    expired.loadFromOptions({
      clusters: admin.clusters,
      contexts: admin.contexts,
      currentContext: admin.currentContext,
      users: admin.users.map((user) => ({ ...user, token: 'an-expired-token' })),
    });
    const events: (LeaderElectionEvent & { at: number })[] = [];
    const elector = new LeaderElector({
      lock: new KubernetesLeaseLock({
        kubeConfig: expired,
        name: uniqueLeaseName('unauthorized'),
        namespace: 'default',
      }),
      identity: 'expired',
      ...timings,
      logger: quiet,
    });
    elector.subscribe((event) => events.push({ ...event, at: performance.now() }));
    running.push(elector);
    elector.start();
    await waitFor(() => events.filter((event) => event.type === 'error').length >= 6, 12_000, 'repeated errors');
    const errors = events.filter((event): event is ElectorErrorEvent & { at: number } => event.type === 'error');
    expect(errors[0].error).toBeInstanceOf(LeaseUnauthorizedError);
    expect(errors[0].error.reason).toBe('unauthorized');
    expect(errors[0].error.message).toContain('credentials');
    expect(errors[0].error.message).not.toContain('Grant');
    const gaps = errors.slice(1).map((event, index) => event.at - errors[index].at);
    expect(gaps[4]).toBeGreaterThan(gaps[0]);
    expect(elector.diagnostics.errorStreak?.reason).toBe('unauthorized');
  }, 20_000);

  it('a namespace that does not exist gives a clear error and no crash', async () => {
    const name = uniqueLeaseName('nons');
    const { elector, events } = candidate(name, 'lost-soul', 'admin', 'no-such-namespace');
    running.push(elector);
    elector.start();
    const failure = await waitFor(
      () => events.find((event): event is ElectorErrorEvent & { at: number } => event.type === 'error'),
      5000,
      'an error',
    );
    expect(failure.error).toBeInstanceOf(LeaseNotFoundError);
    expect(failure.error.message).toContain('namespace "no-such-namespace" does not exist');
    expect(failure.error.message).toContain('`namespace` option');
    expect(elector.state).toBe('candidate');
  });
});
