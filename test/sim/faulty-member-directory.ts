import {
  asLeaseLockError,
  LeaseConflictError,
  LeaseForbiddenError,
  LeaseLockError,
  LeaseNotFoundError,
  LeaseTimeoutError,
  LeaseUnavailableError,
  sleep,
  type MemberDirectory,
  type MemberDirectoryHandlers,
  type MemberRecord,
  type TimerHandle,
} from '../../lib/elector/internal.js';
import type { FaultRates } from './faulty-lease-lock.js';
import type { DirectoryRates } from './group-scenario.js';
import { between, chance, type Random } from './random.js';
import type { Scheduler, SimClock, SimEvent } from './scheduler.js';

/** What a member Lease says: duration, renewal wall time, and whether the replica's electors run. */
export interface MemberFields {
  durationMs: number;
  renewedAt: Date;
  /** Undefined when the directory does not say (the legacy one). */
  ready?: boolean;
}

/** One member Lease as the server stores it. */
export interface StoredMember extends MemberFields {
  identity: string;
  version: number;
}

type MemberChange = { kind: 'put' | 'delete'; member: StoredMember };

const HISTORY = 256;

/**
 * The member Leases of one group on the server: one revision counter for
 * every write (as etcd), conditional updates and deletes, and a bounded
 * history for watches that resume from a resourceVersion (410 beyond it).
 */
export class MemberStore {
  private revision: number;
  private readonly records = new Map<string, StoredMember>();
  private readonly history: MemberChange[] = [];
  private readonly subscribers = new Set<(change: MemberChange) => void>();

  constructor(firstRevision: number) {
    this.revision = Math.max(1, Math.floor(firstRevision));
  }

  has(identity: string): boolean {
    return this.records.has(identity);
  }

  get(identity: string): StoredMember | LeaseLockError {
    const found = this.records.get(identity);
    return found ? { ...found } : notFound();
  }

  list(): { items: StoredMember[]; version: number } {
    return { items: [...this.records.values()].map((member) => ({ ...member })), version: this.revision };
  }

  create(identity: string, fields: MemberFields): StoredMember | LeaseLockError {
    if (this.records.has(identity)) return new LeaseConflictError('member lease exists', { status: 409 });
    return this.put(identity, fields);
  }

  update(identity: string, version: string, fields: MemberFields): StoredMember | LeaseLockError {
    const found = this.records.get(identity);
    if (!found) return notFound();
    if (String(found.version) !== version) return new LeaseConflictError('member lease was modified', { status: 409 });
    return this.put(identity, fields);
  }

  /** A delete with a resourceVersion precondition. */
  remove(identity: string, version: string): null | LeaseLockError {
    const found = this.records.get(identity);
    if (!found) return notFound();
    if (String(found.version) !== version) return new LeaseConflictError('precondition failed', { status: 409 });
    this.records.delete(identity);
    this.record({ kind: 'delete', member: { ...found, version: ++this.revision } });
    return null;
  }

  /** Changes after `version`, or a 410 when the history no longer reaches back that far. */
  since(version: number): MemberChange[] | LeaseLockError {
    const oldest = this.history[0]?.member.version ?? this.revision + 1;
    if (version < oldest - 1 && this.history.length >= HISTORY) {
      return new LeaseUnavailableError('too old resource version', { status: 410 });
    }
    return this.history.filter((change) => change.member.version > version);
  }

  subscribe(subscriber: (change: MemberChange) => void): () => void {
    this.subscribers.add(subscriber);
    return () => this.subscribers.delete(subscriber);
  }

  private put(identity: string, fields: MemberFields): StoredMember {
    const member = { identity, ...fields, version: ++this.revision };
    this.records.set(identity, member);
    this.record({ kind: 'put', member });
    return { ...member };
  }

  private record(change: MemberChange): void {
    this.history.push(change);
    if (this.history.length > HISTORY) this.history.shift();
    for (const subscriber of [...this.subscribers]) subscriber(change);
  }
}

/** The replicas' connections to the member Leases: fault state shared by every replica. */
export class MemberNet {
  /** False once faults have cleared: no new faults, at most {@link quietLatency} per leg. */
  faulty = true;
  readonly quietLatency = 20;
  /** Called when a replica starts an announce (the world stops some replicas right then). */
  onAnnounce: (node: number) => void = () => undefined;
  /** Follow calls per replica whose signal has not aborted. */
  readonly follows = new Map<number, number>();
  private readonly faulted = new Map<number, number[]>();
  private readonly partitionedUntil = new Map<number, number>();
  private readonly crashed = new Set<number>();
  private readonly streams = new Map<number, Set<{ close(): void; silence(): void }>>();

  constructor(
    readonly scheduler: Scheduler,
    readonly store: MemberStore,
    readonly rates: FaultRates,
    readonly directoryRates: DirectoryRates,
    /** Slow answers take up to 1.2 x this. */
    readonly requestTimeout: number,
  ) {}

  partition(node: number, until: number): void {
    this.partitionedUntil.set(node, Math.max(until, this.partitionedUntil.get(node) ?? 0));
  }

  partitioned(node: number): boolean {
    return (this.partitionedUntil.get(node) ?? 0) > this.scheduler.now;
  }

  /** A write-path request (announce, withdraw, evict) of the replica failed on the client side. */
  countFault(node: number): void {
    const times = this.faulted.get(node) ?? [];
    times.push(this.scheduler.now);
    this.faulted.set(node, times);
  }

  faultedSince(node: number, since: number): boolean {
    return (this.faulted.get(node) ?? []).some((at) => at >= since);
  }

  isCrashed(node: number): boolean {
    return this.crashed.has(node);
  }

  crash(node: number): void {
    this.crashed.add(node);
    for (const stream of [...(this.streams.get(node) ?? [])]) stream.close();
  }

  /** The replica's open member watches go silent for good, without ending (a half-open connection). */
  silenceWatches(node: number): void {
    for (const stream of this.streams.get(node) ?? []) stream.silence();
  }

  openWatches(node: number): number {
    return this.streams.get(node)?.size ?? 0;
  }

  trackStream(node: number, stream: { close(): void; silence(): void }): () => void {
    const set = this.streams.get(node) ?? new Set();
    this.streams.set(node, set);
    set.add(stream);
    return () => set.delete(stream);
  }
}

/**
 * Which directory to model: `current` mirrors today's `KubernetesMemberDirectory`
 * (list and watch connect under a deadline, watch reopened when idle for the
 * longest member duration, backoff, `ready` in the record, withdraw deletes
 * whatever version landed); `legacy` mirrors the directory before issue 25
 * (client-node's informer without deadlines, retried only after an error
 * event, and a withdraw that gives up on a 409), whose follow can die silently.
 */
export type DirectoryModel = 'current' | 'legacy';

type Fate = {
  kind: 'ok' | 'lost' | 'drop' | 'error' | 'forbidden';
  up: number;
  down: number;
  applyAfterAbort: boolean;
};

/** A stream as the world reaches it, and the changes it delivers. */
interface Stream {
  /** Delivered changes, in order, each after its own latency. */
  onChange(change: MemberChange): void;
  /** The server ended it (cleanly or with an error). */
  onEnd(error?: LeaseLockError): void;
}

/**
 * One replica's {@link MemberDirectory} through the faulty network, a model
 * of the Kubernetes one (see {@link DirectoryModel}): announce renews its
 * Lease conditionally (after a 404 or 409 it reads, then updates or creates),
 * withdraw and evict are conditional deletes, follow lists and then watches
 * from the list's version.
 */
export class FaultyMemberDirectory implements MemberDirectory {
  static readonly retryDelay = 1000;
  /** The real directory's default longest backoff. */
  static readonly maxRetryDelay = 30_000;
  static readonly reopenInterval = 300_000;
  static readonly healthyWatchMs = 10_000;
  private version: string | null = null;
  private longestDuration = 0;

  constructor(
    private readonly net: MemberNet,
    private readonly node: number,
    private readonly clock: SimClock,
    private readonly random: Random,
    private readonly log: (message: string) => void,
    private readonly model: DirectoryModel,
    /**
     * The deadline of a list and of opening a watch (the group's requestTimeout), the longest backoff, and
     * how long the first list takes when it is slow (a loaded API server as the replica starts).
     */
    private readonly limits: { requestTimeout: number; maxRetryDelay: number; firstListMs?: number },
  ) {}

  /** The first list's latency once, then none. */
  private firstList(): number | undefined {
    const ms = this.limits.firstListMs;
    delete this.limits.firstListMs;
    return ms;
  }

  describe(): string {
    return `member Leases (sim, ${this.model})`;
  }

  async announce(identity: string, durationMs: number, signal: AbortSignal, ready = true): Promise<void> {
    const { store } = this.net;
    this.net.onAnnounce(this.node);
    const fields: MemberFields = {
      durationMs: Math.max(1, Math.ceil(durationMs / 1000)) * 1000,
      renewedAt: this.clock.wallNow(),
      ...(this.model === 'current' ? { ready } : {}),
    };
    if (this.version !== null) {
      const known = this.version;
      try {
        this.version = await this.call('announce update', signal, () =>
          versionOf(store.update(identity, known, fields)),
        );
        return;
      } catch (error) {
        const reason = asLeaseLockError(error).reason;
        if (reason !== 'conflict' && reason !== 'not_found') throw error;
      }
    }
    try {
      const current = await this.call('announce get', signal, () => versionOf(store.get(identity)));
      this.version = await this.call('announce update', signal, () =>
        versionOf(store.update(identity, current, fields)),
      );
    } catch (error) {
      if (asLeaseLockError(error).reason !== 'not_found') throw error;
      this.version = await this.call('announce create', signal, () => versionOf(store.create(identity, fields)));
    }
  }

  async withdraw(identity: string, signal: AbortSignal): Promise<void> {
    const { store } = this.net;
    const known = this.version;
    this.version = null;
    if (this.model === 'legacy') {
      const version =
        known ?? (await this.call('withdraw get', signal, () => versionOf(store.get(identity))).catch(() => null));
      if (version) await this.remove('withdraw', identity, version, signal);
      return;
    }
    if (known !== null) {
      try {
        await this.call('withdraw', signal, () => store.remove(identity, known));
        return;
      } catch (error) {
        // An announce cut short may still have landed: delete whatever version is there now.
        const reason = asLeaseLockError(error).reason;
        if (reason === 'not_found') return;
        if (reason !== 'conflict') throw error;
      }
    }
    const current = await this.call('withdraw get', signal, () => versionOf(store.get(identity))).catch(
      (error: unknown) => {
        if (asLeaseLockError(error).reason === 'not_found') return null;
        throw error;
      },
    );
    if (current) await this.remove('withdraw', identity, current, signal);
  }

  evict(record: MemberRecord, signal: AbortSignal): Promise<void> {
    return this.remove('evict', record.identity, record.version, signal);
  }

  follow(handlers: MemberDirectoryHandlers, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(new LeaseTimeoutError('follow members: aborted before starting'));
    const { net, node } = this;
    net.follows.set(node, (net.follows.get(node) ?? 0) + 1);
    signal.addEventListener('abort', () => net.follows.set(node, (net.follows.get(node) ?? 1) - 1), { once: true });
    return this.model === 'legacy' ? this.followLegacy(handlers, signal) : this.followCurrent(handlers, signal);
  }

  // ------------------------------------------------------------- current

  private followCurrent(handlers: MemberDirectoryHandlers, signal: AbortSignal): Promise<void> {
    let settled = false;
    let resolveFirst!: () => void;
    let rejectFirst!: (error: unknown) => void;
    const listed = new Promise<void>((resolve, reject) => {
      resolveFirst = () => ((settled = true), resolve());
      rejectFirst = (error) => ((settled = true), reject(error));
    });
    const stopped = () => {
      if (!settled) rejectFirst(new LeaseTimeoutError('follow members: stopped before the list'));
    };
    signal.addEventListener('abort', stopped, { once: true });
    void this.followLoop(handlers, signal, {
      resolve: () => !settled && resolveFirst(),
      reject: (error) => !settled && rejectFirst(error),
    }).finally(() => {
      signal.removeEventListener('abort', stopped);
      stopped();
    });
    return listed;
  }

  /** List, then watch until the watch ends; again (after a backoff on failure) until `signal` aborts. */
  private async followLoop(
    handlers: MemberDirectoryHandlers,
    signal: AbortSignal,
    first: { resolve(): void; reject(error: unknown): void },
  ): Promise<void> {
    const known = new Set<string>();
    let failures = 0;
    while (!signal.aborted) {
      let failure: LeaseLockError | null;
      try {
        const listed = await this.deadlined('list', signal, (call) =>
          request(this.net, this.node, this.random, this.log, 'list', call, () => this.net.store.list(), {
            list: true,
            count: false,
            total: this.firstList(),
          }),
        );
        if (signal.aborted) return;
        const now = new Set(listed.items.map((item) => item.identity));
        for (const item of listed.items) this.deliver(item, handlers);
        for (const identity of known) if (!now.has(identity)) handlers.onGone(identity);
        known.clear();
        for (const identity of now) known.add(identity);
        first.resolve();
        const outcome = await this.watchOnce(listed.version, handlers, known, signal);
        if (outcome.healthy) failures = 0;
        failure = outcome.failure;
      } catch (error) {
        failure = signal.aborted ? null : asLeaseLockError(error);
      }
      if (signal.aborted) return;
      if (failure === null) continue;
      failures++;
      first.reject(failure);
      this.log(`members: follow failed (${failure.message})`);
      handlers.onError(failure);
      const delay = Math.min(
        FaultyMemberDirectory.retryDelay * 2 ** Math.min(failures - 1, 30),
        this.limits.maxRetryDelay,
      );
      await sleep(this.clock, delay * (1 - 0.2 * this.random()), signal);
    }
  }

  /** `send` under the list/connect deadline; a missed deadline rejects with a timeout. */
  private async deadlined<T>(verb: string, signal: AbortSignal, send: (call: AbortSignal) => Promise<T>): Promise<T> {
    const call = new AbortController();
    const abort = () => call.abort();
    signal.addEventListener('abort', abort, { once: true });
    const deadline = this.clock.setTimeout(abort, this.limits.requestTimeout);
    try {
      return await send(call.signal);
    } catch (error) {
      if (call.signal.aborted && !signal.aborted) {
        throw new LeaseTimeoutError(`${verb} members: no answer within ${this.limits.requestTimeout}ms`);
      }
      throw error;
    } finally {
      this.clock.clearTimeout(deadline);
      signal.removeEventListener('abort', abort);
    }
  }

  /** One watch from `from`: until the server ends it, it idles for the longest duration, or its lifetime ends. */
  private async watchOnce(
    from: number,
    handlers: MemberDirectoryHandlers,
    known: Set<string>,
    signal: AbortSignal,
  ): Promise<{ healthy: boolean; failure: LeaseLockError | null }> {
    const { clock } = this;
    const round = new AbortController();
    const abortRound = () => round.abort();
    signal.addEventListener('abort', abortRound, { once: true });
    let ended: { error?: LeaseLockError } | null = null;
    let reopen: 'lifetime' | 'idle' | null = null;
    let settle!: () => void;
    const over = new Promise<void>((resolve) => (settle = resolve));
    round.signal.addEventListener('abort', () => settle(), { once: true });
    const timers: TimerHandle[] = [];
    let idle: TimerHandle | null = null;
    const armIdle = () => {
      if (idle !== null) clock.clearTimeout(idle);
      const after = this.longestDuration > 0 ? this.longestDuration : FaultyMemberDirectory.reopenInterval;
      idle = clock.setTimeout(() => {
        reopen ??= 'idle';
        round.abort();
      }, after);
    };
    try {
      const backlog = await this.deadlined('watch', round.signal, (call) =>
        request(
          this.net,
          this.node,
          this.random,
          this.log,
          `watch from ${from}`,
          call,
          () => this.net.store.since(from),
          {
            list: false,
            count: false,
          },
        ),
      ).catch((error: unknown) => {
        if (signal.aborted) return null;
        throw error;
      });
      if (backlog === null || signal.aborted) return { healthy: false, failure: null };
      const openedAt = clock.now();
      const lifetime = FaultyMemberDirectory.reopenInterval * (0.75 + 0.25 * this.random());
      timers.push(
        clock.setTimeout(() => {
          reopen ??= 'lifetime';
          round.abort();
        }, lifetime),
      );
      armIdle();
      const close = this.openStream(round.signal, backlog, {
        onChange: (change) => {
          if (change.kind === 'put') {
            known.add(change.member.identity);
            this.deliver(change.member, handlers);
          } else if (known.delete(change.member.identity)) handlers.onGone(change.member.identity);
          armIdle();
        },
        onEnd: (error) => {
          ended ??= error ? { error } : {};
          settle();
        },
      });
      await over;
      close();
      const healthy = clock.now() - openedAt >= FaultyMemberDirectory.healthyWatchMs;
      if (signal.aborted) return { healthy: false, failure: null };
      if (reopen === 'lifetime') return { healthy: true, failure: null };
      if (reopen === 'idle') return { healthy, failure: null };
      const endedWith = (ended as { error?: LeaseLockError } | null)?.error ?? null;
      const failure =
        endedWith ?? (healthy ? null : new LeaseUnavailableError('members: the server ended the watch early'));
      return { healthy, failure };
    } finally {
      for (const timer of timers) clock.clearTimeout(timer);
      if (idle !== null) clock.clearTimeout(idle);
      signal.removeEventListener('abort', abortRound);
      round.abort();
    }
  }

  private deliver(member: StoredMember, handlers: MemberDirectoryHandlers): void {
    this.longestDuration = Math.max(this.longestDuration, member.durationMs);
    handlers.onRecord(toRecord(member));
  }

  // -------------------------------------------------------------- legacy

  /** client-node's informer as the legacy directory drove it: retried only after an error event. */
  private async followLegacy(handlers: MemberDirectoryHandlers, signal: AbortSignal): Promise<void> {
    let firstError: LeaseLockError | null = null;
    let version: number | null = null;
    const cache = new Map<string, StoredMember>();
    let retry: TimerHandle | null = null;
    let close: (() => void) | null = null;
    signal.addEventListener(
      'abort',
      () => {
        if (retry !== null) this.clock.clearTimeout(retry);
        close?.();
      },
      { once: true },
    );
    const put = (member: StoredMember) => {
      if (cache.get(member.identity)?.version === member.version) return;
      cache.set(member.identity, member);
      handlers.onRecord(toRecord(member));
    };
    const error = (failure: LeaseLockError) => {
      if (signal.aborted) return;
      firstError ??= failure;
      this.log(`members: informer error (${failure.message}); start again in ${FaultyMemberDirectory.retryDelay}ms`);
      handlers.onError(failure);
      retry = this.clock.setTimeout(() => void start(), FaultyMemberDirectory.retryDelay);
    };
    // No deadlines: a dropped list or watch connect hangs until the follow ends.
    const send = <T>(verb: string, serve: () => T | LeaseLockError) =>
      request(this.net, this.node, this.random, this.log, verb, signal, serve, {
        list: verb === 'list',
        count: false,
        total: verb === 'list' ? this.firstList() : undefined,
      });
    const start = async (): Promise<void> => {
      if (signal.aborted) return;
      if (version === null) {
        let listed: { items: StoredMember[]; version: number };
        try {
          listed = await send('list', () => this.net.store.list());
        } catch (failure) {
          return error(asLeaseLockError(failure));
        }
        if (signal.aborted) return;
        const names = new Set(listed.items.map((item) => item.identity));
        for (const [identity] of [...cache]) {
          if (names.has(identity)) continue;
          cache.delete(identity);
          handlers.onGone(identity);
        }
        for (const item of listed.items) put(item);
        version = listed.version;
      }
      const from = version;
      let backlog: MemberChange[];
      try {
        backlog = await send(`watch from ${from}`, () => this.net.store.since(from));
      } catch (failure) {
        const lockError = asLeaseLockError(failure);
        if (lockError.status === 410) {
          version = null;
          return start();
        }
        return error(lockError);
      }
      if (signal.aborted) return;
      close = this.openStream(signal, backlog, {
        onChange: (change) => {
          version = Math.max(version ?? 0, change.member.version);
          if (change.kind === 'put') put(change.member);
          else if (cache.delete(change.member.identity)) handlers.onGone(change.member.identity);
        },
        onEnd: (failure) => {
          close?.();
          if (failure) error(failure);
          else void start();
        },
      });
    };
    await start();
    if (firstError) throw firstError;
  }

  // -------------------------------------------------------------- shared

  /**
   * An open member watch: replays `backlog` at once, then delivers changes in
   * order, each after its own latency; may be ended by the server while
   * faults are on, or silenced by the world. Returns its closer.
   */
  private openStream(signal: AbortSignal, backlog: MemberChange[], stream: Stream): () => void {
    const { net, node, random } = this;
    const { scheduler } = net;
    let lastAt = scheduler.now;
    const pending = new Set<SimEvent>();
    let unsubscribe: () => void = () => undefined;
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      unsubscribe();
      untrack();
      for (const event of pending) event.cancelled = true;
      signal.removeEventListener('abort', close);
    };
    const deliver = (change: MemberChange) => {
      lastAt = Math.max(lastAt, scheduler.now + latency(net, random));
      const event = scheduler.schedule(lastAt, node, 'member watch event', () => {
        pending.delete(event);
        if (!closed) stream.onChange(change);
      });
      pending.add(event);
    };
    unsubscribe = net.store.subscribe(deliver);
    const untrack = net.trackStream(node, {
      close,
      silence: () => {
        unsubscribe();
        for (const event of pending) event.cancelled = true;
        this.log('member watch went silent');
      },
    });
    signal.addEventListener('abort', close, { once: true });
    for (const change of backlog) stream.onChange(change);
    if (net.faulty && chance(random, net.directoryRates.watchDrop)) {
      const failed = chance(random, 0.4);
      const end = scheduler.after(between(random, 50, 30_000), node, 'member watch closed by server', () => {
        if (closed) return;
        close();
        stream.onEnd(failed ? new LeaseUnavailableError('member watch broke', { status: 503 }) : undefined);
      });
      pending.add(end);
    }
    return close;
  }

  private async remove(verb: string, identity: string, version: string, signal: AbortSignal): Promise<void> {
    try {
      await this.call(verb, signal, () => this.net.store.remove(identity, version));
    } catch (error) {
      if (asLeaseLockError(error).reason !== 'not_found') throw error;
    }
  }

  /** A write-path request under the caller's deadline (`signal`); its client-side failures count as faults. */
  private call<T>(verb: string, signal: AbortSignal, serve: () => T | LeaseLockError): Promise<T> {
    return request(this.net, this.node, this.random, this.log, verb, signal, serve, { list: false, count: true });
  }
}

function notFound(): LeaseLockError {
  return new LeaseNotFoundError('member lease not found', { status: 404 });
}

function versionOf(result: StoredMember | LeaseLockError): string | LeaseLockError {
  return result instanceof LeaseLockError ? result : String(result.version);
}

function toRecord(member: StoredMember): MemberRecord {
  return {
    identity: member.identity,
    durationMs: member.durationMs,
    version: String(member.version),
    renewedAt: member.renewedAt,
    ...(member.ready === undefined ? {} : { ready: member.ready }),
  };
}

function latency(net: MemberNet, random: Random): number {
  if (!net.faulty) return between(random, 0.2, net.quietLatency);
  return chance(random, 0.9) ? between(random, 0.2, 20) : between(random, 20, 300);
}

function fate(net: MemberNet, node: number, random: Random, list: boolean): Fate {
  const applyAfterAbort = chance(random, 0.5);
  const slow = net.faulty && ((list && chance(random, net.directoryRates.slowList)) || chance(random, net.rates.slow));
  const total = between(random, 0.3, 1.2) * net.requestTimeout;
  const up = slow ? between(random, 0, total) : latency(net, random);
  const down = slow ? total - up : latency(net, random);
  if (!net.faulty) return { kind: 'ok', up, down, applyAfterAbort };
  if (net.partitioned(node)) return { kind: 'drop', up, down, applyAfterAbort };
  const { lost, drop, error } = net.rates;
  const forbidden = net.directoryRates.forbidden;
  const roll = random();
  const kind =
    roll < lost
      ? 'lost'
      : roll < lost + drop
        ? 'drop'
        : roll < lost + drop + error
          ? 'error'
          : roll < lost + drop + error + forbidden
            ? 'forbidden'
            : 'ok';
  return { kind, up, down, applyAfterAbort };
}

/**
 * A request through the network. `serve` runs at the server; a lost answer
 * or a drop is noticed only when `signal` aborts (never, for a legacy
 * informer's list, whose signal is the follow's).
 */
function request<T>(
  net: MemberNet,
  node: number,
  random: Random,
  log: (message: string) => void,
  verb: string,
  signal: AbortSignal,
  serve: () => T | LeaseLockError,
  options: { list: boolean; count: boolean; total?: number },
): Promise<T> {
  const { scheduler } = net;
  const fault = () => options.count && net.countFault(node);
  if (signal.aborted) {
    fault();
    return Promise.reject(new LeaseTimeoutError(`${verb} aborted before it was sent`));
  }
  const { total } = options;
  const planned: Fate =
    total === undefined
      ? fate(net, node, random, options.list)
      : { kind: 'ok', up: total / 2, down: total / 2, applyAfterAbort: true };
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    let served = false;
    let serverSide: SimEvent | null = null;
    const onAbort = () => {
      if (settled) return;
      settled = true;
      fault();
      log(`members: ${verb} timed out (${planned.kind}${served ? ', served' : ''})`);
      if (!served && serverSide && !planned.applyAfterAbort) serverSide.cancelled = true;
      reject(new LeaseTimeoutError(`${verb} of member leases timed out`));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    if (planned.kind === 'drop') return;
    serverSide = scheduler.after(planned.up, null, `members ${verb}@server`, () => {
      served = true;
      const result: T | LeaseLockError =
        planned.kind === 'error'
          ? new LeaseUnavailableError('members: service unavailable', { status: 503 })
          : planned.kind === 'forbidden'
            ? new LeaseForbiddenError('members: forbidden', { status: 403 })
            : serve();
      if (planned.kind === 'lost') return;
      scheduler.after(planned.down, node, `members ${verb} answer`, () => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        if (result instanceof LeaseLockError) {
          if (planned.kind !== 'ok') fault();
          reject(result);
        } else resolve(result);
      });
    });
  });
}
