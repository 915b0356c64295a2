import type { CoordinationV1Api, CoreV1Event, KubeConfig, V1Lease, V1ObjectMeta } from '@kubernetes/client-node';
import { loadClientNode, requestOptions, statusMessage, type ClientNode } from './client-node.js';
import { KubeConnections } from './kube-connections.js';
import type { LeaseEventAction, LeaseLock, LeaseReadResult, LeaseWatch, LeaseWatchHandlers } from './lease-lock.js';
import {
  LeaseConflictError,
  LeaseForbiddenError,
  LeaseUnauthorizedError,
  unauthorized,
  LeaseInvalidError,
  LeaseLockError,
  LeaseNotFoundError,
  LeaseTimeoutError,
  LeaseUnavailableError,
} from './lease-lock.errors.js';
import { normalizeLeaseSpec, type LeaseRecord, type LeaseSnapshot } from './lease-record.js';

/** Options of {@link KubernetesLeaseLock}. */
export interface KubernetesLeaseLockOptions {
  /** Loaded client configuration (in-cluster, `~/.kube/config`, or built by hand). */
  kubeConfig: KubeConfig;
  /** Lease name (a DNS-1123 subdomain). */
  name: string;
  /** Lease namespace. */
  namespace: string;
  /**
   * Labels set on the Lease when this lock creates it, and kept (these keys
   * only) on every update, as client-go's `NewWithLabels`. Labels others put
   * on the Lease are kept too.
   */
  labels?: Record<string, string>;
  /**
   * Record client-go's leadership Events (`"<identity> became leader"`,
   * `"<identity> stopped leading"`, reason `LeaderElection`) about the Lease.
   * Needs `create` on `events` in the namespace. Default true.
   */
  kubernetesEvents?: boolean;
  /** `source.component` and `reportingComponent` of those Events. Default `nestjs-lease-election`. */
  eventComponent?: string;
  /** Connections shared with other locks of the same KubeConfig. Default: this lock's own. */
  connections?: KubeConnections;
}

type Verb = 'get' | 'create' | 'update' | 'delete' | 'watch' | 'read the version of' | 'create an Event for';

/** Metadata of the Lease kept across writes: a PUT replaces the object, so what others set must be sent back. */
type KeptMetadata = Pick<V1ObjectMeta, 'labels' | 'annotations' | 'ownerReferences' | 'finalizers' | 'uid'>;

/** The first release whose resourceVersions are comparable (KEP-5504, stable). */
const COMPARABLE_SINCE = { major: 1, minor: 35 };

const NETWORK_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'ETIMEDOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

function isAbort(error: unknown): boolean {
  return (error as { name?: unknown })?.name === 'AbortError' || (error as { type?: unknown })?.type === 'aborted';
}

/** client-node 2.x's own request timeouts: `DOMException` named `TimeoutError`. */
function isTimeout(error: unknown): boolean {
  return (error as { name?: unknown })?.name === 'TimeoutError';
}

function errorCode(error: unknown): string | undefined {
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * A {@link LeaseLock} over a `coordination.k8s.io/v1` Lease, through
 * client-node's `CoordinationV1Api`. Times are written as `V1MicroTime`
 * (six fractional digits), which the API server requires. client-node is
 * loaded on the first request.
 */
export class KubernetesLeaseLock implements LeaseLock {
  readonly name: string;
  readonly namespace: string;
  private api: Promise<CoordinationV1Api> | null = null;
  private readonly user: string;
  private readonly kubeConfig: KubeConfig;
  private readonly connections: KubeConnections;
  private readonly labels: Record<string, string>;
  private readonly eventComponent: string | null;
  private comparable: boolean | null = null;
  private kept: KeptMetadata = {};

  /** Creates a lock for one Lease; no request is made until the first call. */
  constructor(options: KubernetesLeaseLockOptions) {
    this.name = options.name;
    this.namespace = options.namespace;
    this.kubeConfig = options.kubeConfig;
    this.connections = options.connections ?? new KubeConnections(options.kubeConfig);
    this.labels = { ...(options.labels ?? {}) };
    this.eventComponent =
      options.kubernetesEvents === false ? null : (options.eventComponent ?? 'nestjs-lease-election');
    this.user = options.kubeConfig.getCurrentUser()?.name ?? 'the current kubeconfig user';
  }

  describe(): string {
    return `${this.namespace}/${this.name}`;
  }

  /**
   * True from Kubernetes 1.35, where resourceVersions are comparable integers
   * (KEP-5504); read once from `/version`, which every authenticated user may read.
   */
  async resourceVersionsComparable(signal: AbortSignal): Promise<boolean> {
    if (this.comparable !== null) return this.comparable;
    const version = await this.call('read the version of', signal, async (options) => {
      const { VersionApi } = await loadClientNode();
      return (await this.connections.api(VersionApi)).getCode({}, options);
    });
    const major = Number.parseInt(version.major, 10);
    const minor = Number.parseInt(version.minor, 10);
    this.comparable =
      major > COMPARABLE_SINCE.major || (major === COMPARABLE_SINCE.major && minor >= COMPARABLE_SINCE.minor);
    return this.comparable;
  }

  async get(signal: AbortSignal): Promise<LeaseReadResult> {
    const lease = await this.call('get', signal, async (options) =>
      (await this.coordination()).readNamespacedLease({ name: this.name, namespace: this.namespace }, options),
    );
    this.keep(lease.metadata);
    const normalized = normalizeLeaseSpec(lease.spec);
    return {
      record: normalized.record,
      resourceVersion: lease.metadata?.resourceVersion ?? '',
      ...(normalized.problems.length > 0 ? { normalized } : {}),
    };
  }

  async create(record: LeaseRecord, signal: AbortSignal): Promise<LeaseSnapshot> {
    const lease = await this.call('create', signal, async (options) => {
      const body = this.toLease(await loadClientNode(), record);
      return (await this.coordination()).createNamespacedLease({ namespace: this.namespace, body }, options);
    });
    return this.snapshotOf(lease);
  }

  async update(record: LeaseRecord, resourceVersion: string, signal: AbortSignal): Promise<LeaseSnapshot> {
    const lease = await this.call('update', signal, async (options) => {
      const body = this.toLease(await loadClientNode(), record, resourceVersion);
      const api = await this.coordination();
      return api.replaceNamespacedLease({ name: this.name, namespace: this.namespace, body }, options);
    });
    return this.snapshotOf(lease);
  }

  /**
   * Deletes the Lease if it is still at `resourceVersion` (a precondition, so
   * a record renewed meanwhile survives). A Lease already gone is no error.
   */
  async remove(resourceVersion: string, signal: AbortSignal): Promise<void> {
    try {
      await this.call('delete', signal, async (options) =>
        (await this.coordination()).deleteNamespacedLease(
          { name: this.name, namespace: this.namespace, body: { preconditions: { resourceVersion } } },
          options,
        ),
      );
    } catch (error) {
      if (!(error instanceof LeaseNotFoundError)) throw error;
    }
  }

  /**
   * Watches this one Lease (field selector on its name) with client-node's
   * `Watch`, bookmarks on.
   *
   * client-node 2.x aborts a watch that has received nothing for 30 s with a
   * `TimeoutError` (1.4 has no such timeout). A quiet Lease is normal (a
   * holder with a long `leaseDuration`, or nobody renewing), so such a watch
   * is reopened here, from the last resourceVersion seen, without ending
   * `done`: the elector keeps following by watch on both majors. A timeout
   * before the stream started (no response within 30 s) is a real failure.
   */
  async watch(
    handlers: LeaseWatchHandlers,
    resourceVersion: string | undefined,
    signal: AbortSignal,
  ): Promise<LeaseWatch> {
    if (signal.aborted) throw new LeaseTimeoutError(`watch lease ${this.describe()}: aborted before starting`);
    let settle!: (error: unknown) => void;
    const done = new Promise<void>((resolve, reject) => {
      settle = (error) => (error ? reject(this.translate('watch', error, signal)) : resolve());
    });
    done.catch(() => undefined);
    let ended: { error: unknown } | null = null;
    const end = (error: unknown) => {
      if (ended) return;
      ended = { error: signal.aborted ? null : error };
      signal.removeEventListener('abort', abort);
      settle(ended.error);
    };
    let current: AbortController | undefined;
    const abort = () => current?.abort();
    let from = resourceVersion;
    const path = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(this.namespace)}/leases`;

    // One client-node watch; resolves once it streams (or has already ended).
    const open = async (): Promise<void> => {
      let failed: { error: unknown } | null = null;
      let streaming = false;
      const ref: { controller?: AbortController } = {};
      const onEvent = (phase: string, object: V1Lease & { code?: number; message?: string }) => {
        if (ended || failed) return;
        if (phase === 'ADDED' || phase === 'MODIFIED') {
          from = object.metadata?.resourceVersion || from;
          this.keep(object.metadata);
          const normalized = normalizeLeaseSpec(object.spec);
          handlers.onChange({
            record: normalized.record,
            resourceVersion: object.metadata?.resourceVersion ?? '',
            ...(normalized.problems.length > 0 ? { normalized } : {}),
          });
        } else if (phase === 'DELETED') {
          from = object.metadata?.resourceVersion || from;
          this.kept = {};
          handlers.onChange(null);
        } else if (phase === 'BOOKMARK') {
          from = object.metadata?.resourceVersion || from;
          handlers.onBookmark?.(object.metadata?.resourceVersion ?? '');
        } else if (phase === 'ERROR') {
          // A Status object, typically 410 Gone for an expired resourceVersion.
          failed = {
            error: Object.assign(new Error(object.message ?? 'watch error'), { code: object.code, body: object }),
          };
          ref.controller?.abort();
        }
      };
      const onDone = (error: unknown) => {
        if (ended) return;
        if (failed) return end(failed.error);
        if (signal.aborted) return end(null);
        if (isTimeout(error) && streaming) {
          void open().catch(end); // idle for 30 s (client-node 2.x): reopen, stay in watch
          return;
        }
        end(isAbort(error) ? null : error);
      };
      // Events, and the end, can in principle arrive before `watch()` returns its controller.
      const { Watch } = await loadClientNode();
      ref.controller = await new Watch(this.kubeConfig).watch(
        path,
        {
          fieldSelector: `metadata.name=${this.name}`,
          allowWatchBookmarks: true,
          ...(from ? { resourceVersion: from } : {}),
        },
        onEvent,
        onDone,
      );
      streaming = true;
      current = ref.controller;
      if (ended || failed || signal.aborted) ref.controller.abort();
    };

    signal.addEventListener('abort', abort, { once: true });
    // client-node cannot abort a watch that is still connecting, so stop waiting for it on abort; when it
    // connects later, `open` closes it at once.
    const aborted = new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    try {
      await Promise.race([open(), aborted]);
      if (signal.aborted) end(new LeaseTimeoutError(`watch lease ${this.describe()}: aborted while connecting`));
    } catch (error) {
      end(error);
    }
    const first = ended as { error: unknown } | null;
    if (first?.error) throw this.translate('watch', first.error, signal);
    if (signal.aborted) throw new LeaseTimeoutError(`watch lease ${this.describe()}: aborted while connecting`);
    return { done };
  }

  private coordination(): Promise<CoordinationV1Api> {
    this.api ??= loadClientNode().then(({ CoordinationV1Api }) => this.connections.api(CoordinationV1Api));
    return this.api;
  }

  /**
   * Records a leadership Event about the Lease, with client-go's fields: type
   * Normal, reason `LeaderElection`, note `"<identity> <action>"`, the Lease
   * as involved object. A no-op with `kubernetesEvents: false`.
   */
  async recordEvent(identity: string, action: LeaseEventAction, signal: AbortSignal): Promise<void> {
    if (this.eventComponent === null) return;
    const now = new Date();
    // client-go names Events <object>.<unix nanoseconds in hex>; the hrtime part keeps two in one ms apart.
    const nanos = BigInt(now.getTime()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n);
    const event: CoreV1Event = {
      metadata: { name: `${this.name}.${nanos.toString(16)}`, namespace: this.namespace },
      involvedObject: {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        name: this.name,
        namespace: this.namespace,
        ...(this.kept.uid ? { uid: this.kept.uid } : {}),
      },
      reason: 'LeaderElection',
      message: `${identity} ${action}`,
      type: 'Normal',
      source: { component: this.eventComponent },
      reportingComponent: this.eventComponent,
      reportingInstance: identity,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    await this.call('create an Event for', signal, async (options) => {
      const { CoreV1Api } = await loadClientNode();
      return (await this.connections.api(CoreV1Api)).createNamespacedEvent(
        { namespace: this.namespace, body: event },
        options,
      );
    });
  }

  private keep(metadata: V1ObjectMeta | undefined): void {
    if (!metadata) return;
    const { labels, annotations, ownerReferences, finalizers, uid } = metadata;
    this.kept = { labels, annotations, ownerReferences, finalizers, uid };
  }

  private snapshotOf(lease: V1Lease): LeaseSnapshot {
    this.keep(lease.metadata);
    return { record: normalizeLeaseSpec(lease.spec).record, resourceVersion: lease.metadata?.resourceVersion ?? '' };
  }

  private toLease({ V1MicroTime }: ClientNode, record: LeaseRecord, resourceVersion?: string): V1Lease {
    const microTime = (text: string | null) => {
      const millis = text === null ? Number.NaN : Date.parse(text);
      return Number.isNaN(millis) ? undefined : new V1MicroTime(millis);
    };
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        ...(resourceVersion
          ? {
              annotations: this.kept.annotations,
              ownerReferences: this.kept.ownerReferences,
              finalizers: this.kept.finalizers,
            }
          : {}),
        labels: { ...(resourceVersion ? this.kept.labels : {}), ...this.labels },
        name: this.name,
        namespace: this.namespace,
        ...(resourceVersion ? { resourceVersion } : {}),
      },
      spec: {
        holderIdentity: record.holderIdentity,
        leaseDurationSeconds: record.leaseDurationSeconds,
        acquireTime: microTime(record.acquireTime),
        renewTime: microTime(record.renewTime),
        leaseTransitions: record.leaseTransitions,
        ...(record.strategy ? { strategy: record.strategy } : {}),
        ...(record.preferredHolder ? { preferredHolder: record.preferredHolder } : {}),
      },
    };
  }

  private async call<T>(verb: Verb, signal: AbortSignal, send: (options: object) => Promise<T>): Promise<T> {
    if (signal.aborted) throw new LeaseTimeoutError(`${verb} lease ${this.describe()}: aborted before sending`);
    const options = requestOptions(signal);
    try {
      return await send(options);
    } catch (error) {
      throw this.translate(verb, error, signal);
    }
  }

  private translate(verb: Verb, error: unknown, signal: AbortSignal): LeaseLockError {
    const where = `lease ${this.describe()}`;
    const status = (error as { code?: unknown; statusCode?: unknown }).statusCode ?? (error as { code?: unknown }).code;
    if (typeof status === 'number' && status >= 400) {
      const detail = statusMessage((error as { body?: unknown }).body) ?? (error as Error).message;
      const options = { status, cause: error };
      switch (status) {
        case 404:
          if (verb === 'create' || /namespaces? "[^"]*" not found/.test(detail)) {
            return new LeaseNotFoundError(
              `cannot ${verb} ${where}: namespace "${this.namespace}" does not exist (${detail}). ` +
                'Create the namespace or set the `namespace` option to an existing one.',
              options,
            );
          }
          return new LeaseNotFoundError(`${where} not found`, options);
        case 409:
          return new LeaseConflictError(`${verb} ${where}: conflict (${detail})`, options);
        case 401:
          return new LeaseUnauthorizedError(unauthorized(`${verb} ${where}`, this.user, status, detail), options);
        case 403: {
          const user = /User "([^"]*)"/.exec(detail)?.[1] ?? this.user;
          if (verb === 'create an Event for') {
            return new LeaseForbiddenError(
              `forbidden: user "${user}" cannot create events in namespace "${this.namespace}" (HTTP ${status}: ` +
                `${detail}). Grant "create" on events (core API group) in that namespace, or set \`kubernetesEvents: false\`.`,
              options,
            );
          }
          return new LeaseForbiddenError(
            `forbidden: user "${user}" cannot ${verb} leases.coordination.k8s.io "${this.name}" in namespace ` +
              `"${this.namespace}" (HTTP ${status}: ${detail}). Grant "${verb}" on leases.coordination.k8s.io ` +
              `${verb === 'create' ? '' : `(resourceNames: ["${this.name}"]) `}in that namespace with a Role and RoleBinding.`,
            options,
          );
        }
        case 400:
        case 422:
          return new LeaseInvalidError(`${verb} ${where} rejected as invalid (HTTP ${status}): ${detail}`, options);
        case 408:
        case 504:
          return new LeaseTimeoutError(
            `${verb} ${where} timed out at the API server (HTTP ${status}): ${detail}`,
            options,
          );
        default:
          if (status === 429 || status >= 500) {
            return new LeaseUnavailableError(
              `${verb} ${where}: API server unavailable (HTTP ${status}): ${detail}`,
              options,
            );
          }
          return new LeaseLockError('other', `${verb} ${where} failed (HTTP ${status}): ${detail}`, options);
      }
    }
    const message = error instanceof Error ? error.message : String(error);
    if (signal.aborted || (error as { name?: unknown }).name === 'AbortError' || isTimeout(error)) {
      return new LeaseTimeoutError(`${verb} ${where}: no answer before the deadline`, { cause: error });
    }
    const code = errorCode(error);
    if ((code && NETWORK_ERROR_CODES.has(code)) || /fetch failed|socket hang up|ECONNREFUSED/i.test(message)) {
      return new LeaseUnavailableError(
        `${verb} ${where}: API server ${this.kubeConfig.getCurrentCluster()?.server ?? '(no server in kubeconfig)'} ` +
          `unreachable (${code ?? message})`,
        { cause: error },
      );
    }
    return new LeaseLockError('other', `${verb} ${where} failed: ${message}`, { cause: error });
  }
}
