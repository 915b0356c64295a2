import { afterEach, describe, expect, it } from '@jest/globals';
import { KubernetesLeaseLock, LeaderElector, type LeaderElectionEvent } from '../../lib/elector/internal.js';
import { RecordingLeaseLock } from '../support/recording-lease-lock.js';
import { kubeConfigFor, leasePath, rawRequest, uniqueLeaseName, waitFor } from '../support/cluster.js';

const timings = { leaseDuration: 2000, renewDeadline: 1000, retryPeriod: 250 };
const MICRO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

describe('the Lease as written to a real kube-apiserver', () => {
  const electors: LeaderElector[] = [];
  afterEach(async () => {
    await Promise.all(electors.splice(0).map((elector) => elector.stop()));
  });

  it('creates the Lease on first acquire with exactly the fields client-go writes', async () => {
    const name = uniqueLeaseName('wire');
    // Watch hidden: only the verbs of acquiring and renewing are counted.
    const lock = new RecordingLeaseLock(
      new KubernetesLeaseLock({ kubeConfig: kubeConfigFor('admin'), name, namespace: 'default' }),
      undefined,
      { watch: false },
    );
    const elector = new LeaderElector({ lock, identity: 'wire-a', ...timings, releaseOnStop: false });
    electors.push(elector);
    elector.start();
    const term = await elector.waitForLeadership();
    expect(lock.calls.slice(0, 2)).toEqual(['get', 'create']);

    const raw = await rawRequest('GET', leasePath(name));
    expect(raw.status).toBe(200);
    const spec = raw.json.spec;
    expect(Object.keys(spec).sort()).toEqual(
      ['acquireTime', 'holderIdentity', 'leaseDurationSeconds', 'leaseTransitions', 'renewTime'].sort(),
    );
    expect(spec.holderIdentity).toBe('wire-a');
    expect(spec.leaseDurationSeconds).toBe(2);
    expect(spec.leaseTransitions).toBe(0);
    expect(spec.acquireTime).toMatch(MICRO_TIME);
    expect(spec.renewTime).toMatch(MICRO_TIME);
    expect(term.leaseTransitions).toBe(0);
    expect(term.fencingScheme).toBe('resource-version');
    // The acquiring write's resourceVersion; renewals since then only move the Lease's version on.
    expect(BigInt(term.fencingToken)).toBeLessThanOrEqual(BigInt(raw.json.metadata.resourceVersion));
    expect(term.acquiredAt.toISOString().slice(0, 23)).toBe(spec.acquireTime.slice(0, 23));
  });

  it('renews with a single PUT per retry period (fast path) and keeps acquireTime', async () => {
    const name = uniqueLeaseName('fast');
    const events: LeaderElectionEvent[] = [];
    // Watch hidden: only the verbs of acquiring and renewing are counted.
    const lock = new RecordingLeaseLock(
      new KubernetesLeaseLock({ kubeConfig: kubeConfigFor('admin'), name, namespace: 'default' }),
      undefined,
      { watch: false },
    );
    const elector = new LeaderElector({ lock, identity: 'fast-a', ...timings });
    electors.push(elector);
    elector.subscribe((event) => events.push(event));
    elector.start();
    await elector.waitForLeadership();
    const first = (await rawRequest('GET', leasePath(name))).json.spec;
    const before = lock.log.length;
    await waitFor(() => events.filter((event) => event.type === 'renewed').length >= 4, 5000, 'four renewals');
    const renewVerbs = lock.calls.slice(before);
    expect(renewVerbs.length).toBeGreaterThanOrEqual(4);
    expect(new Set(renewVerbs)).toEqual(new Set(['update']));
    const renewed = events.filter((event) => event.type === 'renewed');
    expect(renewed.every((event) => event.type === 'renewed' && !event.slowPath)).toBe(true);

    const later = (await rawRequest('GET', leasePath(name))).json.spec;
    expect(later.acquireTime).toBe(first.acquireTime);
    expect(later.leaseTransitions).toBe(first.leaseTransitions);
    expect(later.renewTime).not.toBe(first.renewTime);
    expect(later.renewTime).toMatch(MICRO_TIME);
    expect(elector.isLeader).toBe(true);
  });

  it('releases on stop: holder "", leaseDurationSeconds 1, transitions kept', async () => {
    const name = uniqueLeaseName('release');
    const lock = new KubernetesLeaseLock({ kubeConfig: kubeConfigFor('admin'), name, namespace: 'default' });
    const elector = new LeaderElector({ lock, identity: 'release-a', ...timings });
    elector.start();
    const term = await elector.waitForLeadership();
    await elector.stop();
    expect(term.signal.aborted).toBe(true);
    const spec = (await rawRequest('GET', leasePath(name))).json.spec;
    expect(spec.holderIdentity ?? '').toBe('');
    expect(spec.leaseDurationSeconds).toBe(1);
    expect(spec.leaseTransitions).toBe(0);
    expect(spec.renewTime).toMatch(MICRO_TIME);
  });
});
