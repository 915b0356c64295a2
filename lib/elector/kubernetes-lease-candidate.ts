import type { KubeConfig, V1beta1LeaseCandidate } from '@kubernetes/client-node';
import { loadClientNode, requestOptions, statusMessage } from './client-node.js';
import { sleep, timeoutSignal, type Clock } from './clock.js';
import { KubeConnections } from './kube-connections.js';
import type { ElectorLogger } from './elector-options.js';

/** The coordinator's leader-picking strategy (the one Kubernetes defines today). */
export type CoordinatedLeaseStrategy = 'OldestEmulationVersion';

/** Options of {@link KubernetesLeaseCandidate}. */
export interface KubernetesLeaseCandidateOptions {
  kubeConfig: KubeConfig;
  /** The candidate's name: the elector's identity, which the coordinator writes as holder. */
  name: string;
  namespace: string;
  /** The Lease this candidate runs for. */
  leaseName: string;
  /** Semver without a leading `v`, for example `1.4.0`. */
  binaryVersion: string;
  /** Semver, at most `binaryVersion`. Default `binaryVersion`. */
  emulationVersion?: string;
  strategy?: CoordinatedLeaseStrategy;
  clock: Clock;
  logger: ElectorLogger;
  requestTimeout: number;
}

/** How often an idle candidate renews anyway, as client-go's (`requeueInterval`). */
const RENEW_INTERVAL_MS = 5 * 60_000;
/** Pause before a failed renewal or watch is tried again. */
const RETRY_MS = 1000;

const servedPath = (namespace: string) =>
  `/apis/coordination.k8s.io/v1beta1/namespaces/${encodeURIComponent(namespace)}/leasecandidates`;

/**
 * Publishes and renews a `coordination.k8s.io/v1beta1` LeaseCandidate, as
 * client-go's `leaderelection.NewCandidate`, for Coordinated Leader Election
 * (KEP-4355): the kube-apiserver's coordinator picks the Lease's holder among
 * the live candidates (oldest emulation version, then oldest binary version,
 * then the oldest candidate) and writes it into the Lease.
 *
 * The candidate answers the coordinator's pings (`pingTime` after
 * `renewTime`) within a second through a watch, renews every 5 minutes
 * otherwise, and is deleted on stop so that a stopped replica is never
 * elected.
 */
export class KubernetesLeaseCandidate {
  private readonly controller = new AbortController();
  private running: Promise<void> | null = null;
  private nextRenewAt = 0;
  private readonly emulationVersion: string;
  private readonly strategy: CoordinatedLeaseStrategy;
  private readonly reported = new Set<string>();
  private readonly connections: KubeConnections;

  constructor(private readonly options: KubernetesLeaseCandidateOptions) {
    this.connections = new KubeConnections(options.kubeConfig);
    this.emulationVersion = options.emulationVersion ?? options.binaryVersion;
    this.strategy = options.strategy ?? 'OldestEmulationVersion';
  }

  /**
   * Creates or renews the candidate, then keeps it answering pings. Rejects
   * with an error saying what to enable when the API server does not serve
   * LeaseCandidates.
   */
  async start(): Promise<void> {
    await this.ensure();
    this.running = this.keepAlive();
  }

  /** Stops renewing and deletes the candidate (best-effort). */
  async stop(): Promise<void> {
    this.controller.abort();
    await this.running;
    const { name, namespace } = this.options;
    try {
      await this.call('delete', async (api, options) =>
        api.deleteNamespacedLeaseCandidate({ name, namespace }, options),
      );
    } catch (error) {
      if ((error as { code?: unknown }).code !== 404) this.warn('delete', error);
    }
  }

  private async keepAlive(): Promise<void> {
    const { clock } = this.options;
    const signal = this.controller.signal;
    while (!signal.aborted) {
      try {
        await this.followPings(signal);
      } catch (error) {
        if (!signal.aborted) this.warn('watch', error);
      }
      if (signal.aborted) return;
      await sleep(clock, RETRY_MS, signal);
      try {
        if (clock.now() >= this.nextRenewAt) await this.ensure();
      } catch (error) {
        if (!signal.aborted) this.warn('renew', error);
      }
    }
  }

  /** Watches this candidate; renews when pinged or when the periodic renewal is due. Settles when the watch ends. */
  private async followPings(signal: AbortSignal): Promise<void> {
    const { Watch } = await loadClientNode();
    const { name, namespace, clock } = this.options;
    let renewing: Promise<void> = Promise.resolve();
    const ended = new Promise<void>((resolve, reject) => {
      const timer = clock.setTimeout(() => controllerRef?.abort(), RENEW_INTERVAL_MS);
      let controllerRef: AbortController | undefined;
      const onAbort = () => controllerRef?.abort();
      signal.addEventListener('abort', onAbort, { once: true });
      new Watch(this.options.kubeConfig)
        .watch(
          servedPath(namespace),
          { fieldSelector: `metadata.name=${name}` },
          (phase: string, object: V1beta1LeaseCandidate) => {
            const ping = object.spec?.pingTime ? new Date(object.spec.pingTime).getTime() : 0;
            const renewed = object.spec?.renewTime ? new Date(object.spec.renewTime).getTime() : 0;
            if (phase === 'DELETED' || ping > renewed) {
              renewing = renewing.then(() => this.ensure()).catch((error) => this.warn('renew', error));
            }
          },
          (error: unknown) => {
            clock.clearTimeout(timer);
            signal.removeEventListener('abort', onAbort);
            if (!error || signal.aborted || (error as { name?: unknown }).name === 'AbortError') resolve();
            else reject(error);
          },
        )
        .then((controller) => {
          controllerRef = controller;
          if (signal.aborted) controller.abort();
        }, reject);
    });
    await ended;
    await renewing;
  }

  /** client-go's ensureLease: create the candidate if missing, else renew it. */
  private async ensure(): Promise<void> {
    try {
      await this.createOrRenew();
    } catch (error) {
      throw this.explain((error as { verb?: string }).verb ?? 'renew', error);
    }
    this.nextRenewAt = this.options.clock.now() + RENEW_INTERVAL_MS;
  }

  private async createOrRenew(): Promise<void> {
    const { name, namespace, leaseName, binaryVersion, clock } = this.options;
    const { V1MicroTime } = await loadClientNode();
    const renewTime = new V1MicroTime(clock.wallNow().getTime());
    let existing: V1beta1LeaseCandidate | null = null;
    try {
      existing = await this.call('get', (api, options) =>
        api.readNamespacedLeaseCandidate({ name, namespace }, options),
      );
    } catch (error) {
      if ((error as { code?: unknown }).code !== 404 || this.notServed(error)) throw error;
    }
    if (existing) {
      existing.spec = { ...existing.spec!, renewTime };
      await this.call('update', (api, options) =>
        api.replaceNamespacedLeaseCandidate({ name, namespace, body: existing! }, options),
      );
    } else {
      const body: V1beta1LeaseCandidate = {
        apiVersion: 'coordination.k8s.io/v1beta1',
        kind: 'LeaseCandidate',
        metadata: { name, namespace },
        spec: {
          leaseName,
          binaryVersion,
          emulationVersion: this.emulationVersion,
          strategy: this.strategy,
          renewTime,
        },
      };
      await this.call('create', (api, options) => api.createNamespacedLeaseCandidate({ namespace, body }, options));
    }
  }

  private async call<T>(
    verb: string,
    send: (
      api: InstanceType<Awaited<ReturnType<typeof loadClientNode>>['CoordinationV1beta1Api']>,
      options: ReturnType<typeof requestOptions>,
    ) => Promise<T>,
  ): Promise<T> {
    const { CoordinationV1beta1Api } = await loadClientNode();
    const timeout = timeoutSignal(this.options.clock, this.options.requestTimeout);
    const signal = AbortSignal.any([timeout.signal, this.controller.signal]);
    try {
      return await send(await this.connections.api(CoordinationV1beta1Api), requestOptions(signal));
    } catch (error) {
      throw Object.assign(error as object, { verb });
    } finally {
      timeout.clear();
    }
  }

  /** A 404 for the resource itself (not for our object): the API group/version is not served. */
  private notServed(error: unknown): boolean {
    const body = (error as { body?: unknown }).body;
    const detail = statusMessage(body) ?? '';
    return (
      (error as { code?: unknown }).code === 404 &&
      !/leasecandidates?\.coordination\.k8s\.io "[^"]+" not found/.test(detail)
    );
  }

  private explain(verb: string, error: unknown): Error {
    if (this.notServed(error)) {
      return new Error(
        'Coordinated Leader Election: the API server does not serve coordination.k8s.io/v1beta1 LeaseCandidates. ' +
          'Start kube-apiserver with --feature-gates=CoordinatedLeaderElection=true and ' +
          '--runtime-config=coordination.k8s.io/v1beta1=true (beta and off by default in 1.33 to 1.36), ' +
          'or turn the `coordinated` option off.',
        { cause: error },
      );
    }
    const detail = statusMessage((error as { body?: unknown }).body) ?? (error as Error)?.message ?? String(error);
    const status = (error as { code?: unknown }).code;
    const grant =
      status === 403
        ? ` Grant get, create, update, watch and delete on leasecandidates.coordination.k8s.io in namespace ` +
          `"${this.options.namespace}".`
        : '';
    return new Error(
      `cannot ${verb} LeaseCandidate ${this.options.namespace}/${this.options.name}: ${detail}.${grant}`,
      {
        cause: error,
      },
    );
  }

  /** Logs a failure once per verb and status: a watch or renewal retried every second must not flood the log. */
  private warn(verb: string, error: unknown): void {
    const kind = `${verb}:${(error as { code?: unknown }).code ?? 'other'}`;
    if (this.reported.has(kind)) return;
    this.reported.add(kind);
    const explained = error instanceof Error && error.message.startsWith('cannot ') ? error : this.explain(verb, error);
    this.options.logger.warn(`${explained.message} Retrying (logged once per kind of error).`);
  }
}
