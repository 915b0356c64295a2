import { createHash } from 'node:crypto';
import type { KubeConfig, V1Lease } from '@kubernetes/client-node';
import { loadClientNode, requestOptions, statusMessage } from './client-node.js';
import { sleep, systemClock, type Clock, type TimerHandle } from './clock.js';
import { InvalidLeaderElectionOptionError } from './elector-options.js';
import { KubeConnections } from './kube-connections.js';
import { KubernetesLeaseLock } from './kubernetes-lease-lock.js';
import {
  asLeaseLockError,
  LeaseForbiddenError,
  LeaseLockError,
  LeaseTimeoutError,
  LeaseUnauthorizedError,
  LeaseUnavailableError,
  unauthorized,
} from './lease-lock.errors.js';
import { formatMicroTime } from './lease-record.js';
import type {
  MemberDirectory,
  MemberDirectoryHandlers,
  MemberRecord,
  MemberViewDiagnostics,
} from './member-directory.js';
import { positiveMillis } from './option-checks.js';

/** Label carried by every member Lease of a group; its value names the group. */
export const MEMBER_GROUP_LABEL = 'nestjs-lease-election/group';

/** A watch that streamed this long resets the backoff; one the server ends sooner counts as a failure. */
const HEALTHY_WATCH_MS = 10_000;

/** Options of {@link KubernetesMemberDirectory}. Durations are milliseconds. */
export interface KubernetesMemberDirectoryOptions {
  kubeConfig: KubeConfig;
  /** Group name, a DNS-1123 subdomain; member Leases are named `<group>-member-<hash of identity>`. */
  group: string;
  namespace: string;
  /**
   * Deadline of each list, and of opening each watch. Default 5000, the
   * elector's default; pass the group's `requestTimeout`.
   */
  requestTimeout?: number;
  /**
   * First pause after the list or watch failed; it doubles with each failure
   * in a row, up to `maxRetryDelay`, and starts again after a watch streamed
   * for 10 s. Default 1000.
   */
  retryDelay?: number;
  /** Longest pause between attempts. Default 30000. */
  maxRetryDelay?: number;
  /**
   * Every watch is reopened (list, then watch) within this long, so a
   * silently dead one cannot last. Default 300000 (client-go's reflector
   * reopens after 5 to 10 minutes).
   */
  reopenInterval?: number;
  /**
   * A watch that received nothing (no change, no bookmark) for this long is
   * presumed dead and reopened. Default: the longest member duration seen,
   * as live members renew three times within it; `reopenInterval` until a
   * member is seen.
   */
  idleTimeout?: number;
  /** Monotonic clock of the deadlines and of `diagnostics`. Default the process clock. */
  clock?: Clock;
  /** Connections shared with the group's election locks. Default: the directory's own. */
  connections?: KubeConnections;
}

type ResolvedOptions = Required<Omit<KubernetesMemberDirectoryOptions, 'idleTimeout'>> & { idleTimeout?: number };

/**
 * Members as one small Lease per replica, labelled with the group and
 * followed by a list, then a watch from the list's version, each bounded by
 * a deadline, reopened periodically and retried with backoff.
 * A Lease is the cheapest object the API server renews: one PUT per
 * renewal, no controller, the RBAC the elections already need plus `list`,
 * `watch` and `delete`, and `kubectl get lease -l nestjs-lease-election/group=<group>`
 * shows who is live.
 */
export class KubernetesMemberDirectory implements MemberDirectory {
  private readonly options: ResolvedOptions;
  private readonly selector: string;
  private own: { lock: KubernetesLeaseLock; version: string | null } | null = null;
  private view: Omit<MemberViewDiagnostics, 'now'> = {
    state: 'idle',
    following: false,
    lastDeliveryAt: null,
    owedBy: null,
    lastError: null,
    failures: 0,
  };
  private reopenAt = Number.POSITIVE_INFINITY;
  private longestDuration = 0;

  /** Validates the durations; throws `InvalidLeaderElectionOptionError` naming the field. */
  constructor(options: KubernetesMemberDirectoryOptions) {
    const retryDelay = positiveMillis(options, 'retryDelay', 1000);
    const maxRetryDelay = positiveMillis(options, 'maxRetryDelay', Math.max(30_000, retryDelay));
    if (maxRetryDelay < retryDelay) {
      throw new InvalidLeaderElectionOptionError('maxRetryDelay', `must be at least retryDelay (${retryDelay}).`);
    }
    this.options = {
      ...options,
      requestTimeout: positiveMillis(options, 'requestTimeout', 5000),
      retryDelay,
      maxRetryDelay,
      reopenInterval: positiveMillis(options, 'reopenInterval', 300_000),
      ...(options.idleTimeout === undefined ? {} : { idleTimeout: positiveMillis(options, 'idleTimeout', 0) }),
      clock: options.clock ?? systemClock,
      connections: options.connections ?? new KubeConnections(options.kubeConfig),
    };
    this.selector = `${MEMBER_GROUP_LABEL}=${groupLabelValue(options.group)}`;
  }

  describe(): string {
    return `member Leases ${this.options.namespace}/${this.selector}`;
  }

  async announce(identity: string, durationMs: number, signal: AbortSignal, ready = true): Promise<void> {
    const own = this.ownRecord(identity);
    const now = formatMicroTime(new Date());
    const record = {
      holderIdentity: identity,
      leaseDurationSeconds: Math.max(1, Math.ceil(durationMs / 1000)),
      acquireTime: now,
      renewTime: now,
      // A member Lease has no transitions: the count says whether the replica's electors run (1) or not yet (0).
      leaseTransitions: ready ? 1 : 0,
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
    const known = own.version;
    own.version = null;
    if (known !== null) {
      try {
        await own.lock.remove(known, signal);
        return;
      } catch (error) {
        // An announce cut short by the stop may still have landed: delete whatever version is there now.
        const reason = asLeaseLockError(error).reason;
        if (reason === 'not_found') return;
        if (reason !== 'conflict') throw error;
      }
    }
    const current = await own.lock.get(signal).catch((error: unknown) => {
      if (asLeaseLockError(error).reason === 'not_found') return null;
      throw error;
    });
    if (current) await own.lock.remove(current.resourceVersion, signal);
  }

  async evict(record: MemberRecord, signal: AbortSignal): Promise<void> {
    await this.lockFor(record.identity).remove(record.version, signal);
  }

  /** How following goes; see {@link MemberViewDiagnostics}. */
  get diagnostics(): MemberViewDiagnostics {
    return { ...this.view, now: this.options.clock.now() };
  }

  async follow(handlers: MemberDirectoryHandlers, signal: AbortSignal): Promise<void> {
    if (signal.aborted) throw new LeaseTimeoutError(`follow ${this.describe()}: aborted before starting`);
    let first!: { resolve(): void; reject(error: unknown): void; settled: boolean };
    const listed = new Promise<void>((resolve, reject) => {
      first = {
        resolve: () => ((first.settled = true), resolve()),
        reject: (error) => ((first.settled = true), reject(error)),
        settled: false,
      };
    });
    const stopped = () => {
      if (!first.settled) first.reject(new LeaseTimeoutError(`follow ${this.describe()}: stopped before the list`));
    };
    signal.addEventListener('abort', stopped, { once: true });
    void this.followLoop(handlers, signal, first).finally(() => {
      signal.removeEventListener('abort', stopped);
      stopped();
      this.setView('stopped', null);
    });
    return listed;
  }

  /** List, then watch from the list's version until the watch ends; again until `signal` aborts. Never rejects. */
  private async followLoop(
    handlers: MemberDirectoryHandlers,
    signal: AbortSignal,
    first: { resolve(): void; reject(error: unknown): void },
  ): Promise<void> {
    const { clock, retryDelay, maxRetryDelay } = this.options;
    const known = new Set<string>();
    while (!signal.aborted) {
      let failure: LeaseLockError | null;
      try {
        const { items, resourceVersion } = await this.list(signal);
        if (signal.aborted) return;
        const listedNow = new Set<string>();
        for (const lease of items) {
          const identity = this.deliver(lease, handlers);
          if (identity) listedNow.add(identity);
        }
        // Deletions missed while not watching.
        for (const identity of known) if (!listedNow.has(identity)) handlers.onGone(identity);
        known.clear();
        for (const identity of listedNow) known.add(identity);
        this.view.lastDeliveryAt = clock.now();
        first.resolve();
        const outcome = await this.watch(resourceVersion, handlers, known, signal);
        if (outcome.healthy) this.view.failures = 0;
        failure = outcome.failure;
      } catch (error) {
        failure = signal.aborted ? null : this.translate(error);
      }
      if (signal.aborted) return;
      if (failure === null) continue;
      this.view.failures++;
      this.view.lastError = { reason: failure.reason, message: failure.message, at: clock.now() };
      first.reject(failure);
      handlers.onError(failure);
      // Exponential backoff, up to 20 % shorter at random so that replicas that failed together spread out.
      const delay = Math.min(retryDelay * 2 ** Math.min(this.view.failures - 1, 30), maxRetryDelay);
      const jittered = delay * (1 - 0.2 * Math.random());
      this.setView('retrying', clock.now() + jittered);
      await sleep(clock, jittered, signal);
    }
  }

  /** One list of the group's member Leases, cut at requestTimeout. */
  private async list(signal: AbortSignal): Promise<{ items: V1Lease[]; resourceVersion: string }> {
    const { namespace, connections, clock, requestTimeout } = this.options;
    const { CoordinationV1Api } = await loadClientNode();
    const api = await connections.api(CoordinationV1Api);
    if (signal.aborted) throw new LeaseTimeoutError('aborted');
    this.setView('listing', clock.now() + requestTimeout);
    const call = linkedController(signal);
    const deadline = clock.setTimeout(() => call.abort(), requestTimeout);
    try {
      const request = api.listNamespacedLease({ namespace, labelSelector: this.selector }, requestOptions(call.signal));
      // Whatever the client does with the signal, stop waiting at the deadline.
      const list = await raceAbort(request, call.signal);
      return { items: list.items ?? [], resourceVersion: list.metadata?.resourceVersion ?? '' };
    } catch (error) {
      if (call.signal.aborted && !signal.aborted) {
        throw new LeaseTimeoutError(`listing ${this.where()}: no answer within ${requestTimeout}ms`, { cause: error });
      }
      throw error;
    } finally {
      clock.clearTimeout(deadline);
      call.dispose();
    }
  }

  /**
   * Watches from `from` with bookmarks until it ends, is reopened (after
   * about `reopenInterval`, or after the idle timeout with nothing received),
   * or `signal` aborts. Opening is cut at requestTimeout.
   */
  private async watch(
    from: string,
    handlers: MemberDirectoryHandlers,
    known: Set<string>,
    signal: AbortSignal,
  ): Promise<{ healthy: boolean; failure: LeaseLockError | null }> {
    const { kubeConfig, namespace, clock, requestTimeout, reopenInterval } = this.options;
    const { Watch } = await loadClientNode();
    if (signal.aborted) return { healthy: false, failure: null };
    const round = linkedController(signal);
    const state: { ended: { error: unknown } | null; reopen: 'lifetime' | 'idle' | null } = {
      ended: null,
      reopen: null,
    };
    let settle!: () => void;
    const ended = new Promise<void>((resolve) => (settle = resolve));
    const end = (error: unknown) => {
      state.ended ??= { error };
      settle();
    };
    const reopen = (why: 'lifetime' | 'idle') => {
      state.reopen ??= why;
      round.abort();
    };
    const timers: TimerHandle[] = [];
    let idle: TimerHandle | undefined;
    const armIdle = () => {
      if (idle !== undefined) clock.clearTimeout(idle);
      const after = this.idleTimeout();
      idle = clock.setTimeout(() => reopen('idle'), after);
      if (this.view.state === 'watching') this.view.owedBy = Math.min(this.reopenAt, clock.now() + after);
    };
    const onEvent = (type: string, object: V1Lease & { code?: number; message?: string }) => {
      if (state.ended || round.signal.aborted) return;
      if (type === 'ADDED' || type === 'MODIFIED') {
        const identity = this.deliver(object, handlers);
        if (identity) known.add(identity);
      } else if (type === 'DELETED') {
        const identity = object.spec?.holderIdentity ?? '';
        if (identity !== '') {
          known.delete(identity);
          handlers.onGone(identity);
        }
      } else if (type === 'ERROR') {
        // A Status, such as 410 Gone: list again.
        end(Object.assign(new Error(object.message ?? 'watch error'), { code: object.code, body: object }));
        round.abort();
        return;
      } else if (type !== 'BOOKMARK') {
        return;
      }
      this.view.lastDeliveryAt = clock.now();
      armIdle();
    };
    // The transport client-node builds for this watch, to drop it if the watch is abandoned while connecting.
    const built: { transport?: { destroy?(): unknown } } = {};
    const config = new Proxy(kubeConfig, {
      get(target, key) {
        if (key === 'applyToFetchOptions') {
          return async (options: Parameters<KubeConfig['applyToFetchOptions']>[0]) => {
            const applied = await target.applyToFetchOptions(options);
            const fields = applied as unknown as { agent?: object; dispatcher?: object };
            built.transport = fields.agent ?? fields.dispatcher;
            return applied;
          };
        }
        const value: unknown = Reflect.get(target, key, target);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    this.setView('connecting', clock.now() + requestTimeout);
    const connectDeadline = clock.setTimeout(() => round.abort(), requestTimeout);
    const path = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases`;
    const opening = new Watch(config).watch(
      path,
      { labelSelector: this.selector, allowWatchBookmarks: true, ...(from ? { resourceVersion: from } : {}) },
      onEvent,
      (error) => end(error ?? null),
    );
    try {
      let controller: AbortController;
      try {
        controller = await raceAbort(opening, round.signal);
      } catch (error) {
        // client-node cannot abort a watch still connecting: drop its connection, and close it if it connects.
        void opening.then(
          (late) => late.abort(),
          () => undefined,
        );
        built.transport?.destroy?.();
        if (!round.signal.aborted) throw error;
        if (signal.aborted || state.ended) return { healthy: false, failure: this.watchFailure(state.ended, signal) };
        throw new LeaseTimeoutError(`watching ${this.where()}: not open within ${requestTimeout}ms`, { cause: error });
      } finally {
        clock.clearTimeout(connectDeadline);
      }
      const close = () => controller.abort();
      if (round.signal.aborted) close();
      else round.signal.addEventListener('abort', close, { once: true });
      const openedAt = clock.now();
      // Reopened after 3/4 to all of reopenInterval, spread so that replicas do not reopen together.
      const lifetime = reopenInterval * (0.75 + 0.25 * Math.random());
      this.reopenAt = openedAt + lifetime;
      timers.push(clock.setTimeout(() => reopen('lifetime'), lifetime));
      if (!state.ended) {
        this.setView('watching', this.reopenAt);
        armIdle();
      }
      // Once aborted (stopped, reopened), waiting for client-node to report the end is not needed.
      await raceAbort(ended, round.signal).catch(() => undefined);
      const healthy = clock.now() - openedAt >= HEALTHY_WATCH_MS;
      if (signal.aborted) return { healthy: false, failure: null };
      if (state.reopen === 'lifetime') return { healthy: true, failure: null };
      if (state.reopen === 'idle') return { healthy, failure: null };
      // Ended by the server: normal after a healthy stretch (its own timeout), a failure when soon.
      const failure =
        this.watchFailure(state.ended, signal) ??
        (healthy ? null : new LeaseUnavailableError(`watching ${this.where()}: the server ended the watch early`));
      return { healthy, failure };
    } finally {
      for (const timer of timers) clock.clearTimeout(timer);
      if (idle !== undefined) clock.clearTimeout(idle);
      round.abort();
      round.dispose();
      if (this.view.state === 'watching') this.view.following = false;
    }
  }

  private watchFailure(ending: { error: unknown } | null, signal: AbortSignal): LeaseLockError | null {
    if (signal.aborted || !ending?.error) return null;
    // Our own abort; or client-node 2.x closing a watch idle for 30 s, which is just reopened.
    const name = (ending.error as { name?: unknown }).name;
    if (name === 'AbortError' || name === 'TimeoutError') return null;
    return this.translate(ending.error);
  }

  /** No event nor bookmark for this long means the watch is presumed dead. */
  private idleTimeout(): number {
    return this.options.idleTimeout ?? (this.longestDuration > 0 ? this.longestDuration : this.options.reopenInterval);
  }

  /** Calls `onRecord` for a member Lease; returns its identity, or null for one without a holder. */
  private deliver(lease: V1Lease, handlers: MemberDirectoryHandlers): string | null {
    const identity = lease.spec?.holderIdentity ?? '';
    if (identity === '') return null;
    const durationMs = (lease.spec?.leaseDurationSeconds ?? 0) * 1000;
    this.longestDuration = Math.max(this.longestDuration, durationMs);
    const renewTime = lease.spec?.renewTime ? new Date(lease.spec.renewTime as unknown as string) : undefined;
    handlers.onRecord({
      identity,
      durationMs,
      version: lease.metadata?.resourceVersion ?? '',
      ready: (lease.spec?.leaseTransitions ?? 0) >= 1,
      ...(renewTime && !Number.isNaN(renewTime.getTime()) ? { renewedAt: renewTime } : {}),
    });
    return identity;
  }

  private setView(state: MemberViewDiagnostics['state'], owedBy: number | null): void {
    this.view.state = state;
    this.view.following = state === 'watching';
    this.view.owedBy = owedBy;
  }

  private where(): string {
    return `leases.coordination.k8s.io in namespace "${this.options.namespace}" (selector ${this.selector})`;
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
      kubernetesEvents: false,
    });
  }

  private translate(error: unknown): LeaseLockError {
    if (error instanceof LeaseLockError) return error;
    const status =
      (error as { code?: unknown; statusCode?: unknown })?.statusCode ?? (error as { code?: unknown })?.code;
    const detail = statusMessage((error as { body?: unknown })?.body) ?? (error as Error)?.message ?? String(error);
    const where = `leases.coordination.k8s.io in namespace "${this.options.namespace}" (selector ${this.selector})`;
    if (status === 401) {
      const user = this.options.kubeConfig.getCurrentUser()?.name ?? 'the current kubeconfig user';
      return new LeaseUnauthorizedError(unauthorized(`following ${where}`, user, status, detail), {
        status,
        cause: error,
      });
    }
    if (status === 403) {
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

/** An AbortController that also aborts with `parent`; `dispose()` detaches it. */
function linkedController(parent: AbortSignal): AbortController & { dispose(): void } {
  const controller = new AbortController();
  const abort = () => controller.abort();
  if (parent.aborted) controller.abort();
  else parent.addEventListener('abort', abort, { once: true });
  return Object.assign(controller, { dispose: () => parent.removeEventListener('abort', abort) });
}

/** `promise`, or a rejection as soon as `signal` aborts, whichever comes first. */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => undefined);
    return Promise.reject(new LeaseTimeoutError('aborted'));
  }
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(new LeaseTimeoutError('aborted'));
    signal.addEventListener('abort', abort, { once: true });
    promise.then(
      (value) => (signal.removeEventListener('abort', abort), resolve(value)),
      (error: unknown) => (signal.removeEventListener('abort', abort), reject(error)),
    );
  });
}
