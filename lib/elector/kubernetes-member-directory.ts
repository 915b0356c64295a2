import { createHash } from 'node:crypto';
import type { KubeConfig, V1Lease } from '@kubernetes/client-node';
import { loadClientNode, statusMessage } from './client-node.js';
import { KubeConnections } from './kube-connections.js';
import { KubernetesLeaseLock } from './kubernetes-lease-lock.js';
import {
  asLeaseLockError,
  LeaseForbiddenError,
  LeaseUnavailableError,
  type LeaseLockError,
} from './lease-lock.errors.js';
import { formatMicroTime } from './lease-record.js';
import type { MemberDirectory, MemberDirectoryHandlers, MemberRecord } from './member-directory.js';

/** Label carried by every member Lease of a group; its value names the group. */
export const MEMBER_GROUP_LABEL = 'nestjs-lease-election/group';

/** Options of {@link KubernetesMemberDirectory}. */
export interface KubernetesMemberDirectoryOptions {
  kubeConfig: KubeConfig;
  /** Group name, a DNS-1123 subdomain; member Leases are named `<group>-member-<hash of identity>`. */
  group: string;
  namespace: string;
  /** Pause before following again after the list or watch failed. Default 1000. */
  retryDelay?: number;
  /** Connections shared with the group's election locks. Default: the directory's own. */
  connections?: KubeConnections;
}

/**
 * Members as one small Lease per replica, labelled with the group and
 * followed by client-node's informer (one list, then one watch per replica).
 * A Lease is the cheapest object the API server renews: one PUT per
 * renewal, no controller, the RBAC the elections already need plus `list`,
 * `watch` and `delete`, and `kubectl get lease -l nestjs-lease-election/group=<group>`
 * shows who is live.
 */
export class KubernetesMemberDirectory implements MemberDirectory {
  private readonly options: Required<KubernetesMemberDirectoryOptions>;
  private readonly selector: string;
  private own: { lock: KubernetesLeaseLock; version: string | null } | null = null;

  constructor(options: KubernetesMemberDirectoryOptions) {
    this.options = { retryDelay: 1000, connections: new KubeConnections(options.kubeConfig), ...options };
    this.selector = `${MEMBER_GROUP_LABEL}=${groupLabelValue(options.group)}`;
  }

  describe(): string {
    return `member Leases ${this.options.namespace}/${this.selector}`;
  }

  async announce(identity: string, durationMs: number, signal: AbortSignal): Promise<void> {
    const own = this.ownRecord(identity);
    const now = formatMicroTime(new Date());
    const record = {
      holderIdentity: identity,
      leaseDurationSeconds: Math.max(1, Math.ceil(durationMs / 1000)),
      acquireTime: now,
      renewTime: now,
      leaseTransitions: 0,
    };
    if (own.version !== null) {
      try {
        own.version = (await own.lock.update(record, own.version, signal)).resourceVersion;
        return;
      } catch (error) {
        const reason = asLeaseLockError(error).reason;
        if (reason !== 'conflict' && reason !== 'not_found') throw error;
      }
    }
    try {
      const current = await own.lock.get(signal);
      own.version = (await own.lock.update(record, current.resourceVersion, signal)).resourceVersion;
    } catch (error) {
      if (asLeaseLockError(error).reason !== 'not_found') throw error;
      own.version = (await own.lock.create(record, signal)).resourceVersion;
    }
  }

  async withdraw(identity: string, signal: AbortSignal): Promise<void> {
    const own = this.ownRecord(identity);
    const version = own.version ?? (await own.lock.get(signal).catch(() => null))?.resourceVersion;
    own.version = null;
    if (version) await own.lock.remove(version, signal);
  }

  async evict(record: MemberRecord, signal: AbortSignal): Promise<void> {
    await this.lockFor(record.identity).remove(record.version, signal);
  }

  async follow(handlers: MemberDirectoryHandlers, signal: AbortSignal): Promise<void> {
    const { kubeConfig, namespace, retryDelay, connections } = this.options;
    const { makeInformer, CoordinationV1Api } = await loadClientNode();
    const api = await connections.api(CoordinationV1Api);
    const path = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases`;
    const informer = makeInformer<V1Lease>(
      kubeConfig,
      path,
      () => api.listNamespacedLease({ namespace, labelSelector: this.selector }),
      this.selector,
    );
    const deliver = (lease: V1Lease) => {
      const identity = lease.spec?.holderIdentity ?? '';
      if (identity === '') return;
      const durationMs = (lease.spec?.leaseDurationSeconds ?? 0) * 1000;
      const renewTime = lease.spec?.renewTime ? new Date(lease.spec.renewTime as unknown as string) : undefined;
      handlers.onRecord({
        identity,
        durationMs,
        version: lease.metadata?.resourceVersion ?? '',
        ...(renewTime && !Number.isNaN(renewTime.getTime()) ? { renewedAt: renewTime } : {}),
      });
    };
    let firstError: LeaseLockError | null = null;
    let retry: NodeJS.Timeout | null = null;
    informer.on('add', deliver);
    informer.on('update', deliver);
    informer.on('delete', (lease) => {
      const identity = lease.spec?.holderIdentity ?? '';
      if (identity !== '') handlers.onGone(identity);
    });
    informer.on('error', (error) => {
      if (signal.aborted) return;
      const failure = this.translate(error);
      firstError ??= failure;
      handlers.onError(failure);
      retry = setTimeout(() => void informer.start().catch(() => undefined), retryDelay);
      retry.unref?.();
    });
    signal.addEventListener(
      'abort',
      () => {
        if (retry) clearTimeout(retry);
        void informer.stop();
      },
      { once: true },
    );
    await informer.start();
    if (firstError) throw firstError;
  }

  private ownRecord(identity: string): { lock: KubernetesLeaseLock; version: string | null } {
    if (this.own?.lock.name !== memberLeaseName(this.options.group, identity)) {
      this.own = { lock: this.lockFor(identity), version: null };
    }
    return this.own;
  }

  private lockFor(identity: string): KubernetesLeaseLock {
    const { kubeConfig, namespace, group, connections } = this.options;
    return new KubernetesLeaseLock({
      kubeConfig,
      connections,
      namespace,
      name: memberLeaseName(group, identity),
      labels: { [MEMBER_GROUP_LABEL]: groupLabelValue(group) },
      events: false,
    });
  }

  private translate(error: unknown): LeaseLockError {
    const status =
      (error as { code?: unknown; statusCode?: unknown })?.statusCode ?? (error as { code?: unknown })?.code;
    const detail = statusMessage((error as { body?: unknown })?.body) ?? (error as Error)?.message ?? String(error);
    const where = `leases.coordination.k8s.io in namespace "${this.options.namespace}" (selector ${this.selector})`;
    if (status === 401 || status === 403) {
      return new LeaseForbiddenError(
        `forbidden: cannot list or watch ${where} (HTTP ${status}: ${detail}). Grant "list" and "watch" on ` +
          'leases.coordination.k8s.io in that namespace; until then elections are not spread.',
        { status, cause: error },
      );
    }
    return new LeaseUnavailableError(`following ${where} failed: ${detail}`, {
      ...(typeof status === 'number' ? { status } : {}),
      cause: error,
    });
  }
}

/** `<group>-member-<10 hex of SHA-256(identity)>`, within the 253 characters of a Lease name. */
export function memberLeaseName(group: string, identity: string): string {
  const hash = createHash('sha256').update(identity).digest('hex').slice(0, 10);
  const base = group.slice(0, 253 - '-member-'.length - hash.length).replace(/[-.]+$/, '');
  return `${base}-member-${hash}`;
}

/** The group name when it fits a label value (63 characters), else `g-` and a hash of it. */
function groupLabelValue(group: string): string {
  return group.length <= 63 ? group : `g-${createHash('sha256').update(group).digest('hex').slice(0, 40)}`;
}
