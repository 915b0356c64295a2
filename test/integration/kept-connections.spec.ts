import { afterEach, describe, expect, it } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import { createServer, connect, type Server, type Socket } from 'node:net';
import {
  KubernetesLeaseLock,
  LeaderElector,
  LeaseTimeoutError,
  type LeaderElectionEvent,
} from '../../lib/elector/internal.js';
import { kubeConfigFor, uniqueLeaseName, waitFor } from '../support/cluster.js';

const timings = { leaseDuration: 2000, renewDeadline: 1000, retryPeriod: 250 };

/** A TCP relay in front of the API server that counts the connections made through it. */
class CountingRelay {
  connections = 0;
  /** While true, bytes are swallowed both ways: a partition that keeps connections open. */
  blackhole = false;
  private readonly open = new Set<Socket>();
  private server: Server | null = null;

  async start(target: URL): Promise<string> {
    this.server = createServer((client) => {
      this.connections++;
      const upstream = connect(Number(target.port), target.hostname);
      for (const socket of [client, upstream]) {
        this.open.add(socket);
        socket.on('close', () => this.open.delete(socket));
        socket.on('error', () => socket.destroy());
      }
      client.on('data', (bytes) => this.blackhole || upstream.write(bytes));
      upstream.on('data', (bytes) => this.blackhole || client.write(bytes));
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as { port: number };
    return `https://127.0.0.1:${port}`;
  }

  get openSockets(): number {
    return this.open.size;
  }

  /** Closes every relayed connection, as an API server closing idle connections would. */
  dropAll(): void {
    for (const socket of this.open) socket.destroy();
  }

  async stop(): Promise<void> {
    this.dropAll();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** The admin KubeConfig pointed at `server` instead of the API server. */
function kubeConfigVia(server: string): { kubeConfig: KubeConfig; target: URL } {
  const admin = kubeConfigFor('admin');
  const target = new URL(admin.getCurrentCluster()!.server);
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: admin.clusters.map((cluster) => ({ ...cluster, server })),
    users: admin.users,
    contexts: admin.contexts,
    currentContext: admin.currentContext,
  });
  return { kubeConfig, target };
}

describe('requests to a real kube-apiserver over kept connections', () => {
  const relay = new CountingRelay();
  const electors: LeaderElector[] = [];
  afterEach(async () => {
    await Promise.all(electors.splice(0).map((elector) => elector.stop()));
    await relay.stop();
  });

  it('a leader acquires and renews over one connection instead of one per request', async () => {
    const target = new URL(kubeConfigFor('admin').getCurrentCluster()!.server);
    const { kubeConfig } = kubeConfigVia(await relay.start(target));
    const lock = new KubernetesLeaseLock({ kubeConfig, name: uniqueLeaseName('kept'), namespace: 'default' });
    const events: LeaderElectionEvent[] = [];
    const elector = new LeaderElector({ lock, identity: 'kept-a', ...timings, watch: false, releaseOnStop: false });
    electors.push(elector);
    elector.subscribe((event) => events.push(event));
    elector.start();
    await elector.waitForLeadership();
    await waitFor(() => events.filter((event) => event.type === 'renewed').length >= 6, 10_000, 'six renewals');
    // get + create + version + the Event + at least six renewals: more than ten requests.
    expect(relay.connections).toBe(1);
  });

  it('opens a new connection when the kept one was closed by the other end, and the request succeeds', async () => {
    const target = new URL(kubeConfigFor('admin').getCurrentCluster()!.server);
    const { kubeConfig } = kubeConfigVia(await relay.start(target));
    const name = uniqueLeaseName('kept-drop');
    const lock = new KubernetesLeaseLock({ kubeConfig, name, namespace: 'default', kubernetesEvents: false });
    const signal = () => AbortSignal.timeout(5000);
    const created = await lock.create(
      { holderIdentity: 'kept-b', leaseDurationSeconds: 2, acquireTime: null, renewTime: null, leaseTransitions: 0 },
      signal(),
    );
    const before = relay.connections;
    relay.dropAll();
    await waitFor(() => relay.openSockets === 0, 5000, 'the relayed connections to close');
    const read = await lock.get(signal());
    expect(read.resourceVersion).toBe(created.resourceVersion);
    expect(relay.connections).toBe(before + 1);
  });

  it('every call gives up at its deadline while a kept connection is partitioned', async () => {
    const target = new URL(kubeConfigFor('admin').getCurrentCluster()!.server);
    const { kubeConfig } = kubeConfigVia(await relay.start(target));
    const lock = new KubernetesLeaseLock({ kubeConfig, name: uniqueLeaseName('kept-hang'), namespace: 'default' });
    const created = await lock.create(
      { holderIdentity: 'kept-c', leaseDurationSeconds: 2, acquireTime: null, renewTime: null, leaseTransitions: 0 },
      AbortSignal.timeout(5000),
    );
    relay.blackhole = true;
    const calls: [string, (signal: AbortSignal) => Promise<unknown>][] = [
      ['get', (signal) => lock.get(signal)],
      ['update', (signal) => lock.update(created.record, created.resourceVersion, signal)],
      ['read the version', (signal) => lock.resourceVersionsComparable(signal)],
      ['record an Event', (signal) => lock.recordEvent('kept-c', 'became leader', signal)],
    ];
    const outcomes: Record<string, string> = {};
    for (const [what, call] of calls) {
      const started = performance.now();
      const error = await call(AbortSignal.timeout(300)).then(
        () => null,
        (failure: unknown) => failure,
      );
      const ms = performance.now() - started;
      outcomes[what] =
        error instanceof LeaseTimeoutError && ms < 1300 ? 'timed out' : `${String(error)} after ${ms} ms`;
    }
    expect(outcomes).toEqual({
      get: 'timed out',
      update: 'timed out',
      'read the version': 'timed out',
      'record an Event': 'timed out',
    });
  });
});
