import type { KubeConfig } from '@kubernetes/client-node';
import { loadClientNode, requestOptions, statusMessage } from './client-node.js';
import { timeoutSignal, type Clock } from './clock.js';
import { KubeConnections } from './kube-connections.js';
import type { ElectorLogger } from './elector-options.js';
import type { LeaderElector } from './leader-elector.js';

/** Options of {@link LeaderPodLabel}. */
export interface LeaderPodLabelOptions {
  kubeConfig: KubeConfig;
  /** This replica's Pod (downward API `POD_NAME`). */
  podName: string;
  /** Its namespace (downward API `POD_NAMESPACE`). */
  namespace: string;
  /** The label the leader's Pod carries, for example `leader`. */
  key: string;
  /** Its value. Default `true`. */
  value?: string;
  logger: ElectorLogger;
  clock: Clock;
  /** Bound on each API call. */
  requestTimeout: number;
}

type Verb = 'patch' | 'list';

/**
 * Puts a label on the leader's own Pod while it leads, so a Service that
 * selects the label routes to the leader.
 *
 * - On acquire, it labels its Pod, then removes the label from every other
 *   Pod that still carries it (a frozen or partitioned old leader cannot
 *   remove its own).
 * - When the term ends, for any reason, it removes the label from its Pod.
 *
 * What it guarantees is eventual: while a frozen old leader keeps its label
 * until the next leader's cleanup, and while Endpoints follow labels with a
 * delay, a Service may route to two Pods or to none. Use it for routing, never
 * for mutual exclusion. Failures (a missing RBAC verb) are logged once per verb
 * and kind, and never affect the election.
 */
export class LeaderPodLabel {
  private readonly value: string;
  private chain: Promise<void> = Promise.resolve();
  private readonly reported = new Set<string>();
  private readonly connections: KubeConnections;

  constructor(private readonly options: LeaderPodLabelOptions) {
    this.connections = new KubeConnections(options.kubeConfig);
    this.value = options.value ?? 'true';
  }

  /** Follows `elector`'s terms; returns the function that stops following. */
  attach(elector: LeaderElector): () => void {
    return elector.subscribe((event) => {
      if (event.type === 'started-leading') this.enqueue(() => this.claim());
      else if (event.type === 'stopped-leading') this.enqueue(() => this.setOwn(null));
    });
  }

  /** Waits for label changes queued so far (each bounded by requestTimeout). */
  flush(): Promise<void> {
    return this.chain;
  }

  /** `key=value`, for a Service selector or `kubectl get pods -l`. */
  get selector(): string {
    return `${this.options.key}=${this.value}`;
  }

  private enqueue(step: () => Promise<void>): void {
    this.chain = this.chain.then(step).catch(() => undefined);
  }

  private async claim(): Promise<void> {
    await this.setOwn(this.value);
    const { namespace, podName } = this.options;
    let others: string[];
    try {
      const { CoreV1Api } = await loadClientNode();
      const pods = await this.call('list', (options) =>
        this.connections
          .api(CoreV1Api)
          .then((api) => api.listNamespacedPod({ namespace, labelSelector: this.selector }, options)),
      );
      others = pods.items.map((pod) => pod.metadata?.name ?? '').filter((name) => name && name !== podName);
    } catch (error) {
      this.report('list', `pods in namespace "${namespace}"`, error);
      return;
    }
    for (const other of others) {
      this.options.logger.log(`removing leader label ${this.selector} from pod ${namespace}/${other}`);
      await this.patch(other, null);
    }
  }

  private setOwn(value: string | null): Promise<void> {
    return this.patch(this.options.podName, value);
  }

  private async patch(pod: string, value: string | null): Promise<void> {
    const { namespace, key } = this.options;
    try {
      const { CoreV1Api, PatchStrategy } = await loadClientNode();
      await this.call(
        'patch',
        (options) =>
          this.connections
            .api(CoreV1Api)
            .then((api) =>
              api.patchNamespacedPod(
                { name: pod, namespace, body: { metadata: { labels: { [key]: value } } } },
                options,
              ),
            ),
        { 'Content-Type': PatchStrategy.MergePatch },
      );
    } catch (error) {
      this.report('patch', `pod "${pod}" in namespace "${namespace}"`, error);
    }
  }

  private async call<T>(
    verb: Verb,
    send: (options: ReturnType<typeof requestOptions>) => Promise<T>,
    headers?: Record<string, string>,
  ): Promise<T> {
    const timeout = timeoutSignal(this.options.clock, this.options.requestTimeout);
    try {
      return await send(requestOptions(timeout.signal, headers));
    } catch (error) {
      if (timeout.signal.aborted) {
        throw new Error(`no answer within ${this.options.requestTimeout}ms`, { cause: error });
      }
      throw error;
    } finally {
      timeout.clear();
    }
  }

  private report(verb: Verb, what: string, error: unknown): void {
    const status = (error as { code?: unknown }).code;
    const kind = `${verb}:${typeof status === 'number' ? status : 'other'}`;
    if (this.reported.has(kind)) return;
    this.reported.add(kind);
    const grant =
      status === 403 || status === 401
        ? ` Grant "${verb}" on pods (core API group) in namespace "${this.options.namespace}" to this pod's ` +
          'service account: patch to set and remove the label, list to find it on a crashed leader.'
        : '';
    const detail = statusMessage((error as { body?: unknown }).body) ?? (error as Error)?.message ?? String(error);
    this.options.logger.warn(
      `could not ${verb} ${what} for the leader label ${this.selector}: ${detail}.` +
        `${grant} The election is not affected (logged once per kind of error).`,
    );
  }
}
