import type { KubeConfig } from '@kubernetes/client-node';
import { createHash } from 'node:crypto';
import { loadClientNode, requestOptions, statusMessage } from './client-node.js';
import { sleep, timeoutSignal, type Clock } from './clock.js';
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

/** Prefix of the label that says which election a leader label belongs to. */
export const LEADER_POD_SCOPE_PREFIX = 'leader-of.nestjs-lease-election';

const MAX_LABEL = 63;

/** `text` if it may stand as a label name or value (`exact` and short enough), else its start and a hash of `identity`. */
function fitLabel(text: string, identity: string, exact: boolean): string {
  if (exact && text.length <= MAX_LABEL) return text;
  const hash = createHash('sha256').update(identity).digest('hex').slice(0, 16);
  return `${text.slice(0, MAX_LABEL - hash.length - 1)}-${hash}`;
}

/**
 * The key of the label that scopes leader label `key` to one election,
 * `leader-of.nestjs-lease-election/<key with "/" as ".">`. It depends on the
 * key so one Pod can lead several elections that use different keys.
 */
export function leaderPodScopeKey(key: string): string {
  return `${LEADER_POD_SCOPE_PREFIX}/${fitLabel(key.replace('/', '.'), key, true)}`;
}

/** The value of the scope label: the Lease name, qualified (and hashed) when the Lease lives in another namespace. */
export function leaderPodScopeValue(lease: string, leaseNamespace: string, podNamespace: string): string {
  return leaseNamespace === podNamespace
    ? fitLabel(lease, lease, true)
    : fitLabel(`${leaseNamespace}.${lease}`, `${leaseNamespace}/${lease}`, false);
}

/**
 * Puts a label on the leader's own Pod while it leads, so a Service that
 * selects the label routes to the leader.
 *
 * - The leader's Pod also carries `leader-of.nestjs-lease-election/<key>:
 *   <lease>` ({@link leaderPodScopeKey}), and the cleanup selects both
 *   labels, so elections (or apps) that share a namespace and a key never
 *   remove each other's label.
 * - While it leads, it reconciles: its own Pod labelled, no other Pod of this
 *   election labelled (a crashed, frozen or partitioned old leader cannot
 *   remove its own). The first pass runs when the term starts; a failed pass
 *   is retried after retryPeriod, then after delays that double up to
 *   4 × leaseDuration, and back to retryPeriod after a success; a pass that
 *   succeeded is repeated every leaseDuration, which repairs drift.
 * - When the term ends, for any reason, it removes both labels from its Pod,
 *   with the same backoff, until that succeeds, a new term starts, or the
 *   elector stops (then {@link flush} waits for the attempt already made).
 *
 * Bound: a claim or cleanup that fails once is retried within retryPeriod
 * (each request taking at most requestTimeout), so after the old leader
 * froze, two Pods carry the label for at most leaseDuration + retryPeriod
 * (plus the new leader's acquire retry), plus the Endpoints delay. Each
 * further consecutive failure adds the next backoff delay.
 *
 * The guarantee is eventual, and Endpoints follow labels with a delay, so a
 * Service may route to two Pods or to none for a while. Use it for routing,
 * never for mutual exclusion. Failures (a missing RBAC verb) are logged once
 * per verb and status, and never affect the election.
 */
export class LeaderPodLabel {
  private readonly value: string;
  private readonly scopeKey: string;
  private scopeValue: string | null = null;
  private chain: Promise<void> = Promise.resolve();
  private readonly reported = new Set<string>();
  private readonly announced = new Set<string>();
  private readonly connections: KubeConnections;
  /** Bumped when a term starts or ends: the loops and queued passes of older phases give up. */
  private phase = 0;
  /** Aborted on a phase change or a stop, to end a backoff sleep at once. */
  private wake = new AbortController();
  private halted = false;

  constructor(private readonly options: LeaderPodLabelOptions) {
    this.connections = new KubeConnections(options.kubeConfig);
    this.value = options.value ?? 'true';
    this.scopeKey = leaderPodScopeKey(options.key);
  }

  /**
   * Follows `elector`'s terms (one elector per label); returns the function
   * that stops following. Following also stops when the elector stops.
   */
  attach(elector: LeaderElector): () => void {
    if (this.scopeValue !== null) throw new Error('a LeaderPodLabel follows one elector');
    const { lock, retryPeriod, leaseDuration } = elector.options;
    this.scopeValue = leaderPodScopeValue(lock.name, lock.namespace, this.options.namespace);
    const timing = { retryPeriod, leaseDuration };
    const lead = (ended: AbortSignal) =>
      this.begin((current) => this.reconcile(() => current() && !ended.aborted), true, timing);
    const unsubscribe = elector.subscribe((event) => {
      if (event.type === 'started-leading') lead(event.term.signal);
      else if (event.type === 'stopped-leading')
        this.begin(() => this.patch(this.options.podName, false), false, timing);
      else if (event.type === 'elector-stopped') this.halt();
    });
    const term = elector.term;
    if (term) lead(term.signal);
    return () => {
      unsubscribe();
      this.halt();
    };
  }

  /** Waits for the label changes queued so far (each request bounded by requestTimeout). */
  flush(): Promise<void> {
    return this.chain;
  }

  /** `key=value`, for a Service selector or `kubectl get pods -l`. */
  get selector(): string {
    return `${this.options.key}=${this.value}`;
  }

  /** Ends every retry and re-check; a change already queued still runs. */
  private halt(): void {
    this.halted = true;
    this.wake.abort();
  }

  /** Starts a phase: `step` runs now, then again after failures (and every leaseDuration while `leading`). */
  private begin(
    step: (current: () => boolean) => Promise<boolean>,
    leading: boolean,
    timing: { retryPeriod: number; leaseDuration: number },
  ): void {
    if (this.halted) return;
    const phase = ++this.phase;
    this.announced.clear();
    this.wake.abort();
    const wake = (this.wake = new AbortController());
    const current = () => phase === this.phase;
    this.repeat(step, current, wake.signal, leading, timing).catch((error: unknown) =>
      this.options.logger.error(`leader label loop failed: ${(error as Error)?.stack ?? String(error)}`),
    );
  }

  private async repeat(
    step: (current: () => boolean) => Promise<boolean>,
    current: () => boolean,
    wake: AbortSignal,
    leading: boolean,
    { retryPeriod, leaseDuration }: { retryPeriod: number; leaseDuration: number },
  ): Promise<void> {
    let backoff = retryPeriod;
    while (current() && !this.halted) {
      const ok = await this.serial(() => (current() ? step(current) : Promise.resolve(true)));
      if (!current() || this.halted || (ok && !leading)) return;
      const delay = ok ? leaseDuration : backoff;
      backoff = ok ? retryPeriod : Math.min(backoff * 2, 4 * leaseDuration);
      await sleep(this.options.clock, delay, wake);
    }
  }

  /** Runs `step` after every change queued before it: one request at a time, in order. */
  private serial<T>(step: () => Promise<T>): Promise<T> {
    const result = this.chain.then(step);
    this.chain = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  /**
   * One pass while leading: lists the Pods of this election, labels ours if it
   * is not among them (also when the list failed), then unlabels the others.
   * True if every request succeeded.
   */
  private async reconcile(current: () => boolean): Promise<boolean> {
    if (!current()) return true;
    const { namespace, podName } = this.options;
    const labelled = await this.list();
    let ok = labelled !== null;
    if (!labelled?.includes(podName)) ok = (await this.patch(podName, true)) && ok;
    for (const other of labelled ?? []) {
      if (other === podName) continue;
      // After the term ended, a later leader owns the cleanup (and may have labelled this Pod again).
      if (!current()) return ok;
      if (!this.announced.has(other)) {
        this.announced.add(other);
        this.options.logger.log(`removing leader label ${this.selector} from pod ${namespace}/${other}`);
      }
      ok = (await this.patch(other, false)) && ok;
    }
    return ok;
  }

  /** The Pods that carry this election's leader label, or null when they cannot be listed. */
  private async list(): Promise<string[] | null> {
    const { namespace } = this.options;
    try {
      const { CoreV1Api } = await loadClientNode();
      const labelSelector = this.scopedSelector();
      const pods = await this.call('list', (options) =>
        this.connections.api(CoreV1Api).then((api) => api.listNamespacedPod({ namespace, labelSelector }, options)),
      );
      return pods.items.map((pod) => pod.metadata?.name ?? '').filter((name) => name !== '');
    } catch (error) {
      this.report('list', `pods in namespace "${namespace}"`, error);
      return null;
    }
  }

  private scopedSelector(): string {
    return `${this.selector},${this.scopeKey}=${this.scopeValue}`;
  }

  /** Sets (`on`) or removes both labels on `pod`; true on success, and when another Pod is already gone. */
  private async patch(pod: string, on: boolean): Promise<boolean> {
    const { namespace, key } = this.options;
    const labels = { [key]: on ? this.value : null, [this.scopeKey]: on ? this.scopeValue : null };
    try {
      const { CoreV1Api, PatchStrategy } = await loadClientNode();
      await this.call(
        'patch',
        (options) =>
          this.connections
            .api(CoreV1Api)
            .then((api) => api.patchNamespacedPod({ name: pod, namespace, body: { metadata: { labels } } }, options)),
        { 'Content-Type': PatchStrategy.MergePatch },
      );
      return true;
    } catch (error) {
      if (pod !== this.options.podName && (error as { code?: unknown }).code === 404) return true;
      this.report('patch', `pod "${pod}" in namespace "${namespace}"`, error);
      return false;
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
      status === 403
        ? ` Grant "${verb}" on pods (core API group) in namespace "${this.options.namespace}" to this pod's ` +
          'service account: patch to set and remove the label, list to find it on a crashed leader.'
        : status === 401
          ? ' The API server rejected the credentials (an expired token or an unknown kubeconfig user), not RBAC.'
          : '';
    const detail = statusMessage((error as { body?: unknown }).body) ?? (error as Error)?.message ?? String(error);
    this.options.logger.warn(
      `could not ${verb} ${what} for the leader label ${this.selector}: ${detail}.` +
        `${grant} The election is not affected; it is retried (logged once per kind of error).`,
    );
  }
}
