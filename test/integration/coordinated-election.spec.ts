import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { ensureClientGoCandidate } from '../../bench/clientgo-binary.mjs';
import {
  KubernetesLeaseCandidate,
  KubernetesLeaseLock,
  LeaderElector,
  type LeaderElectionEvent,
} from '../../lib/elector/internal.js';
import { CandidateFleet } from '../support/candidate-processes.js';
import {
  kubeConfigFor,
  leasePath,
  rawRequest,
  sharedControlPlane,
  uniqueLeaseName,
  waitFor,
} from '../support/cluster.js';
import { startControlPlane, type ControlPlane } from '../support/control-plane/control-plane.mjs';

// Issue 17: Coordinated Leader Election (KEP-4355) against a real kube-apiserver whose coordinator picks the
// holder among LeaseCandidates. Beta and off by default in 1.33 to 1.36, so this suite has its own control plane.

const timings = { leaseDuration: 3000, renewDeadline: 2000, retryPeriod: 500 };
const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };

describe('Coordinated Leader Election (KEP-4355)', () => {
  let plane: ControlPlane;
  const stops: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    plane = await startControlPlane({
      log: () => undefined,
      apiserverArgs: [
        '--feature-gates=CoordinatedLeaderElection=true',
        '--runtime-config=coordination.k8s.io/v1beta1=true',
        // The coordinator itself is leader-elected among apiservers: short timings so it starts in seconds.
        '--coordinated-leadership-lease-duration=3s',
        '--coordinated-leadership-renew-deadline=2s',
        '--coordinated-leadership-retry-period=500ms',
      ],
    });
  }, 120_000);
  afterEach(async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
  });
  afterAll(() => plane?.stop());

  /** One of ours: a LeaseCandidate and a coordinated elector, named `identity`. */
  async function candidate(lease: string, identity: string, emulationVersion: string, user: string) {
    const kubeConfig = kubeConfigFor(user, plane);
    const events: (LeaderElectionEvent & { at: number })[] = [];
    const elector = new LeaderElector({
      lock: new KubernetesLeaseLock({ kubeConfig, name: lease, namespace: 'default', kubernetesEvents: false }),
      identity,
      coordinated: true,
      ...timings,
      logger: quiet,
    });
    elector.subscribe((event) => events.push({ ...event, at: performance.now() }));
    const leaseCandidate = new KubernetesLeaseCandidate({
      kubeConfig,
      name: identity,
      namespace: 'default',
      leaseName: lease,
      binaryVersion: '1.9.0',
      emulationVersion,
      clock: elector.options.clock,
      logger: quiet,
      requestTimeout: elector.options.requestTimeout,
    });
    await leaseCandidate.start();
    elector.start();
    const stop = async () => {
      await elector.stop();
      await leaseCandidate.stop();
    };
    stops.push(stop);
    return { elector, events, stop, identity };
  }

  const holderOf = async (lease: string) => (await rawRequest('GET', leasePath(lease), undefined, 'admin', plane)).json;

  it('the coordinator picks the oldest emulation version; a newer candidate joining does not take over', async () => {
    const lease = uniqueLeaseName('cle');
    const a = await candidate(lease, 'cle-a', '1.3.0', 'candidate-0');
    const b = await candidate(lease, 'cle-b', '1.2.0', 'candidate-1'); // the oldest
    const c = await candidate(lease, 'cle-c', '1.4.0', 'candidate-2');
    await waitFor(() => b.elector.isLeader, 30_000, 'the coordinator to elect cle-b');
    const created = await holderOf(lease);
    expect(created.spec).toMatchObject({ holderIdentity: 'cle-b', strategy: 'OldestEmulationVersion' });
    expect([a, c].map((other) => other.elector.isLeader)).toEqual([false, false]);

    // A newer candidate joins and the leader keeps renewing: no preferredHolder, no handover.
    const d = await candidate(lease, 'cle-d', '1.5.0', 'candidate-3');
    const renewalsAtJoin = b.events.filter((event) => event.type === 'renewed').length;
    await waitFor(
      () => b.events.filter((event) => event.type === 'renewed').length >= renewalsAtJoin + 12,
      15_000,
      'cle-b to renew for a while after cle-d joined',
    );
    const later = await holderOf(lease);
    expect(later.spec.holderIdentity).toBe('cle-b');
    expect(later.spec.preferredHolder ?? '').toBe('');
    expect(b.events.some((event) => event.type === 'stopped-leading')).toBe(false);
    expect(d.elector.isLeader).toBe(false);
  }, 90_000);

  it('an older candidate joining is preferred: the leader hands over (preempted) and it leads, never two at once', async () => {
    const lease = uniqueLeaseName('cle-pre');
    const b = await candidate(lease, 'cle-pre-b', '1.2.0', 'candidate-4');
    await waitFor(() => b.elector.isLeader, 30_000, 'cle-pre-b to lead');
    const e = await candidate(lease, 'cle-pre-e', '1.1.0', 'candidate-5');
    await waitFor(() => e.elector.isLeader, 30_000, 'cle-pre-e to take over');
    const ended = b.events.find((event) => event.type === 'stopped-leading');
    const started = e.events.find((event) => event.type === 'started-leading')!;
    expect(ended).toMatchObject({ reason: 'preempted' });
    expect(ended!.at).toBeLessThan(started.at);
    expect((await holderOf(lease)).spec.holderIdentity).toBe('cle-pre-e');
  }, 90_000);

  it('interoperates with client-go candidates in Coordinated mode: the oldest wins, whoever built it', async () => {
    const clientGo = (await ensureClientGoCandidate()).path;
    const lease = uniqueLeaseName('cle-go');
    const fleet = new CandidateFleet({
      LEASE_NAME: lease,
      LEASE_DURATION: String(timings.leaseDuration),
      RENEW_DEADLINE: String(timings.renewDeadline),
      RETRY_PERIOD: String(timings.retryPeriod),
      CLE_BINARY_VERSION: '1.9.0',
    });
    stops.push(() => fleet.stopAll());
    const ours = await candidate(lease, 'cle-ours', '1.3.0', 'candidate-6');
    const go = fleet.launch('cle-go', plane.kubeconfigs['candidate-7'], clientGo, { CLE_EMULATION_VERSION: '1.2.0' });
    await waitFor(
      () => fleet.events.some((event) => event.identity === 'cle-go' && event.event === 'started'),
      30_000,
      'the client-go candidate to lead',
    );
    expect(ours.elector.isLeader).toBe(false);
    expect((await holderOf(lease)).spec.holderIdentity).toBe('cle-go');

    // The client-go candidate stops (and releases): the coordinator hands the Lease to ours.
    go.child.kill('SIGTERM');
    await waitFor(() => ours.elector.isLeader, 30_000, 'ours to be elected after the client-go candidate left');
    expect((await holderOf(lease)).spec.holderIdentity).toBe('cle-ours');
  }, 120_000);

  it('fails with what to enable when the API server does not serve LeaseCandidates', async () => {
    const shared = sharedControlPlane(); // started without the feature gate
    const kubeConfig = kubeConfigFor('candidate-0', shared);
    const elector = new LeaderElector({
      lock: new KubernetesLeaseLock({ kubeConfig, name: 'cle-off', namespace: 'default' }),
      identity: 'cle-off',
      coordinated: true,
      ...timings,
      logger: quiet,
    });
    const leaseCandidate = new KubernetesLeaseCandidate({
      kubeConfig,
      name: 'cle-off',
      namespace: 'default',
      leaseName: 'cle-off',
      binaryVersion: '1.0.0',
      clock: elector.options.clock,
      logger: quiet,
      requestTimeout: elector.options.requestTimeout,
    });
    await expect(leaseCandidate.start()).rejects.toThrow(
      /does not serve coordination\.k8s\.io\/v1beta1 LeaseCandidates.*CoordinatedLeaderElection=true/s,
    );
  });
});
