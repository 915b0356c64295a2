import { afterEach, describe, expect, it } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import {
  KubernetesMemberDirectory,
  LeaseForbiddenError,
  LeaseTimeoutError,
  type KubernetesMemberDirectoryOptions,
  type LeaseLockError,
  type MemberDirectory,
} from '../../lib/elector/internal.js';
import { kubeConfigFor, uniqueLeaseName, waitFor } from '../support/cluster.js';

interface Seen {
  method: string;
  watch: boolean;
  at: number;
}

/**
 * An HTTP proxy in front of the API server that sees every request: it can
 * hold lists unanswered, answer watches 403, or silence the watches open
 * now (their bytes are swallowed while both connections stay open).
 */
class ApiProxy {
  readonly requests: Seen[] = [];
  holdLists = false;
  forbidWatches = false;
  private readonly held: (() => void)[] = [];
  private readonly silenced = new Set<object>();
  private readonly streams = new Set<object>();
  private readonly sockets = new Set<Socket>();
  private server: Server | null = null;

  async start(target: URL): Promise<string> {
    this.server = createServer((req, res) => this.handle(target, req, res));
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  /** Client connections still open. */
  get connections(): number {
    return this.sockets.size;
  }

  lists(): Seen[] {
    return this.requests.filter((seen) => seen.method === 'GET' && !seen.watch);
  }

  watches(): Seen[] {
    return this.requests.filter((seen) => seen.watch);
  }

  /** Forwards the held lists to the API server. */
  release(): void {
    this.holdLists = false;
    for (const forward of this.held.splice(0)) forward();
  }

  /** The watches open now stop delivering anything, and stay open. */
  silenceWatches(): void {
    for (const stream of this.streams) this.silenced.add(stream);
  }

  async stop(): Promise<void> {
    this.holdLists = false;
    this.forbidWatches = false;
    this.requests.splice(0);
    this.held.splice(0);
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private handle(target: URL, req: IncomingMessage, res: ServerResponse): void {
    const watch = /[?&]watch=true/.test(req.url ?? '');
    this.requests.push({ method: req.method ?? '', watch, at: performance.now() });
    if (watch && this.forbidWatches) {
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          kind: 'Status',
          apiVersion: 'v1',
          status: 'Failure',
          reason: 'Forbidden',
          code: 403,
          message: 'leases.coordination.k8s.io is forbidden: cannot watch (denied by the test proxy)',
        }),
      );
      return;
    }
    const forward = () => {
      if (res.destroyed) return;
      const stream = {};
      const upstream = httpsRequest(
        {
          host: target.hostname,
          port: target.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: target.host, connection: 'close' },
          rejectUnauthorized: false,
        },
        (answer) => {
          const headers = { ...answer.headers };
          for (const hop of ['connection', 'keep-alive', 'transfer-encoding']) delete headers[hop];
          res.writeHead(answer.statusCode ?? 502, headers);
          res.flushHeaders(); // a watch sends its headers before any event
          if (watch) this.streams.add(stream);
          answer.on('data', (bytes: Buffer) => this.silenced.has(stream) || res.write(bytes));
          answer.on('end', () => res.end());
          answer.on('error', () => res.destroy());
        },
      );
      upstream.on('error', () => res.destroy());
      res.on('close', () => {
        this.streams.delete(stream);
        upstream.destroy();
      });
      req.pipe(upstream);
    };
    const list = req.method === 'GET' && !watch && /\/leases(\?|$)/.test(req.url ?? '');
    if (list && this.holdLists) this.held.push(forward);
    else forward();
  }
}

/** `user`'s KubeConfig pointed at `server`, a plain-HTTP proxy. */
function kubeConfigVia(server: string, user = 'admin'): KubeConfig {
  const real = kubeConfigFor(user);
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: real.clusters.map((cluster) => ({ ...cluster, server, skipTLSVerify: true })),
    users: real.users,
    contexts: real.contexts,
    currentContext: real.currentContext,
  });
  return kubeConfig;
}

function recorder() {
  const seen = {
    records: new Map<string, number>(),
    gone: [] as string[],
    errors: [] as { error: LeaseLockError; at: number }[],
  };
  const handlers = {
    onRecord: (record: { identity: string }) => seen.records.set(record.identity, performance.now()),
    onGone: (identity: string) => seen.gone.push(identity),
    onError: (error: LeaseLockError) => seen.errors.push({ error, at: performance.now() }),
  };
  return { seen, handlers };
}

/** Settles within `ms`, or says it did not. */
function within<T>(promise: Promise<T>, ms: number): Promise<{ value?: T; error?: unknown; pending?: true }> {
  return Promise.race([
    promise.then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    ),
    new Promise<{ pending: true }>((resolve) => setTimeout(() => resolve({ pending: true }), ms).unref()),
  ]);
}

const viewOf = (directory: MemberDirectory) => directory.diagnostics;

describe('the Kubernetes member directory follows a real kube-apiserver, bounded (issue item 9)', () => {
  const proxy = new ApiProxy();
  const cleanup: (() => unknown)[] = [];
  const target = () => new URL(kubeConfigFor('admin').getCurrentCluster()!.server);

  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
    await proxy.stop();
  });

  /** A directory through the proxy; `tuning` goes in as options (older versions ignore what they lack). */
  async function throughProxy(group: string, tuning: Record<string, number>, user = 'admin') {
    const kubeConfig = kubeConfigVia(await proxy.start(target()), user);
    const options = { kubeConfig, group, namespace: 'default', ...tuning } as KubernetesMemberDirectoryOptions;
    const directory = new KubernetesMemberDirectory(options);
    const stop = new AbortController();
    cleanup.push(() => stop.abort());
    return { directory, stop };
  }

  /** Announces `identity` in `group` directly as the admin; withdrawn after the test. */
  async function announce(group: string, identity: string, durationMs: number): Promise<void> {
    const direct = new KubernetesMemberDirectory({ kubeConfig: kubeConfigFor('admin'), group, namespace: 'default' });
    await direct.announce(identity, durationMs, AbortSignal.timeout(5000));
    cleanup.push(() => direct.withdraw(identity, AbortSignal.timeout(5000)).catch(() => undefined));
  }

  it('(a) stopped while the list is in flight: the list is cancelled, no watch is opened, no connection is left', async () => {
    const group = uniqueLeaseName('md-stop');
    await announce(group, 'md-a', 30_000);
    const { directory, stop } = await throughProxy(group, { requestTimeout: 5000 });
    proxy.holdLists = true;
    const { handlers } = recorder();
    const following = directory.follow(handlers, stop.signal);
    following.catch(() => undefined);
    await waitFor(() => proxy.lists().length === 1, 5000, 'the list to reach the proxy');
    stop.abort();
    // Let the API server answer the list now: a directory that did not cancel it would go on to watch.
    proxy.release();
    expect(await within(following, 2000)).toEqual({ error: expect.any(LeaseTimeoutError) });
    await waitFor(() => proxy.connections === 0, 3000, 'every connection to the proxy to close');
    await expect(waitFor(() => proxy.watches().length > 0, 1000, 'a watch')).rejects.toThrow(/timed out/);
    expect(viewOf(directory)).toMatchObject({ state: 'stopped', following: false, owedBy: null });
  }, 20_000);

  it('(b) a list that never answers: follow rejects at the deadline, reports it, retries, and leaves nothing open when stopped', async () => {
    const group = uniqueLeaseName('md-hang');
    const { directory, stop } = await throughProxy(group, { requestTimeout: 500, retryDelay: 300 });
    proxy.holdLists = true;
    const { seen, handlers } = recorder();
    const started = performance.now();
    const outcome = await within(directory.follow(handlers, stop.signal), 3000);
    expect(outcome.error).toBeInstanceOf(LeaseTimeoutError);
    expect(performance.now() - started).toBeLessThan(500 + 700);
    expect(seen.errors[0]?.error).toBeInstanceOf(LeaseTimeoutError);
    expect(viewOf(directory)).toMatchObject({ state: 'retrying', following: false, failures: 1 });
    // It keeps trying by itself: the second list is sent after the retry pause.
    await waitFor(() => proxy.lists().length >= 2, 3000, 'a second list');
    stop.abort();
    await waitFor(() => proxy.connections === 0, 3000, 'every connection to the proxy to close');
    expect(viewOf(directory)?.state).toBe('stopped');
  }, 20_000);

  it('(c) a forbidden list is retried with exponential backoff, not once a retryDelay', async () => {
    const group = uniqueLeaseName('md-forbid-list');
    // `nowatch` may get, create and update Leases, but not list or watch them.
    const { directory, stop } = await throughProxy(group, { retryDelay: 200 }, 'nowatch');
    const { seen, handlers } = recorder();
    const outcome = await within(directory.follow(handlers, stop.signal), 3000);
    expect(outcome.error).toBeInstanceOf(LeaseForbiddenError);
    const first = proxy.lists()[0]!.at;
    await waitFor(() => performance.now() - first > 4000, 6000, 'four seconds of retries');
    const lists = proxy.lists().filter((seen) => seen.at - first <= 4000);
    // Backoff from 200 ms (at most 20 % shorter): at 0, >=0.16, >=0.48, >=1.12, >=2.4 s, then >=4.96 s. A fixed
    // 200 ms pause would send about 15.
    expect(lists.length).toBeGreaterThanOrEqual(4);
    expect(lists.length).toBeLessThanOrEqual(5);
    const gaps = lists.slice(1).map((seen, index) => seen.at - lists[index]!.at);
    expect(gaps[2]!).toBeGreaterThan(2 * gaps[0]!);
    expect(seen.errors.every(({ error }) => error instanceof LeaseForbiddenError)).toBe(true);
    expect(seen.errors[0]!.error.message).toContain('Grant "list" and "watch"');
  }, 20_000);

  it('(c) a forbidden watch is retried with exponential backoff too, though its list succeeds', async () => {
    const group = uniqueLeaseName('md-forbid-watch');
    await announce(group, 'md-a', 30_000);
    const { directory, stop } = await throughProxy(group, { retryDelay: 200 });
    proxy.forbidWatches = true;
    const { seen, handlers } = recorder();
    // Resolves with the list (the watch fails after it).
    await within(directory.follow(handlers, stop.signal), 3000);
    expect([...seen.records.keys()]).toEqual(['md-a']);
    await waitFor(() => proxy.watches().length > 0, 3000, 'a watch');
    const first = proxy.watches()[0]!.at;
    await waitFor(() => performance.now() - first > 4000, 6000, 'four seconds of retries');
    const watches = proxy.watches().filter((seen) => seen.at - first <= 4000);
    expect(watches.length).toBeGreaterThanOrEqual(4);
    expect(watches.length).toBeLessThanOrEqual(5);
    expect(seen.errors.length).toBeGreaterThanOrEqual(3);
    expect(seen.errors.every(({ error }) => error instanceof LeaseForbiddenError)).toBe(true);
  }, 20_000);

  it('(d) a silently dead watch is reopened within reopenInterval, and sees a member announced after its death', async () => {
    const group = uniqueLeaseName('md-dead');
    await announce(group, 'md-a', 30_000);
    const reopenInterval = 2000;
    const { directory, stop } = await throughProxy(group, { reopenInterval, idleTimeout: 60_000 });
    const { seen, handlers } = recorder();
    await directory.follow(handlers, stop.signal);
    await waitFor(() => viewOf(directory)?.following ?? proxy.watches().length > 0, 3000, 'the watch to open');
    proxy.silenceWatches();
    const silencedAt = performance.now();
    await announce(group, 'md-b', 30_000);
    // Reopened within reopenInterval of opening (less than that after the silence), then listed and watched.
    const seenB = await waitFor(() => seen.records.get('md-b'), reopenInterval + 3000, 'md-b to be seen');
    expect(seenB - silencedAt).toBeLessThan(reopenInterval + 1000);
    expect(proxy.lists().length).toBeGreaterThanOrEqual(2);
  }, 20_000);

  it('(d) a watch that received nothing for a member duration is presumed dead and reopened', async () => {
    const group = uniqueLeaseName('md-idle');
    // 2 s members renew every 0.67 s: 2 s of silence means a dead watch.
    await announce(group, 'md-a', 2000);
    const { directory, stop } = await throughProxy(group, { reopenInterval: 300_000 });
    const { seen, handlers } = recorder();
    await directory.follow(handlers, stop.signal);
    await waitFor(() => viewOf(directory)?.following ?? proxy.watches().length > 0, 3000, 'the watch to open');
    proxy.silenceWatches();
    const silencedAt = performance.now();
    await announce(group, 'md-b', 2000);
    const seenB = await waitFor(() => seen.records.get('md-b'), 6000, 'md-b to be seen');
    expect(seenB - silencedAt).toBeLessThan(2000 + 1000);
    // Seen in the list; the watch opens just after it.
    const view = await waitFor(() => (viewOf(directory)?.following ? viewOf(directory) : null), 3000, 'the watch');
    expect(view.lastDeliveryAt).not.toBeNull();
    expect(view.owedBy! - view.now).toBeLessThanOrEqual(2000);
  }, 20_000);
});
