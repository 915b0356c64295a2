import {
  LeaseConflictError,
  LeaseForbiddenError,
  LeaseLockError,
  LeaseNotFoundError,
  LeaseTimeoutError,
  LeaseUnavailableError,
  normalizeLeaseSpec,
  type LeaseLock,
  type LeaseReadResult,
  type LeaseRecord,
  type LeaseSnapshot,
  type LeaseWatch,
  type LeaseWatchHandlers,
} from '../../lib/elector/internal.js';
import type { LeaseStore, StoredVersion } from './lease-store.js';
import { between, chance, type Random } from './random.js';
import type { Scheduler, SimClock, SimEvent } from './scheduler.js';

/** Per-request fault probabilities while faults are on. */
export interface FaultRates {
  /** The write is applied but the answer never arrives (the client times out). */
  lost: number;
  /** The request never reaches the server. */
  drop: number;
  /** The server answers 503. */
  error: number;
  /** A slow answer, up to 1.2 x requestTimeout. */
  slow: number;
  /** An open watch is closed by the server some time later. */
  watchDrop: number;
  /** A watched change is followed by an older record. */
  watchStale: number;
  /** A watch connect hangs, ignoring its abort signal, for up to 20 s. */
  watchHang: number;
}

/** Conditions shared by every node's connection to the API server. */
export class Network {
  /** False once faults have cleared: no new faults, latency at most {@link quietLatency} per leg. */
  faulty = true;
  readonly quietLatency = 20;
  /** Until then every watch the server opens is closed at once. */
  closeWatchesUntil = 0;
  private readonly forbiddenUntil = new Map<number, number>();
  private readonly partitionedUntil = new Map<number, number>();
  /** Outside deletions so far; a write remembers how many preceded it at the server. */
  epoch = 0;
  /** Whether the server declares its resourceVersions comparable (Kubernetes >= 1.35). */
  comparableVersions = true;
  /** Open watches per node. */
  readonly openWatches = new Map<number, number>();
  /** Global times of watch opens per node, for the backoff check. */
  readonly watchOpens = new Map<number, number[]>();
  /** Requests per node whose answer was not a clean one (fault, abort, timeout). */
  readonly faulted = new Map<number, number>();
  private readonly crashed = new Set<number>();
  /** A GC pause of this length hits the node right when its next successful write answer arrives. */
  readonly pauseOnAnswer = new Map<number, number>();
  private readonly closers = new Map<number, Set<() => void>>();
  /**
   * A quiet-phase watch outage (see `QuietCrash`): until `until`, watch connects fail with 503 (`error`) or 403
   * (`forbidden`), or take up to 1.2 x requestTimeout (`slow`, honouring their abort).
   */
  watchOutage: { kind: 'error' | 'forbidden' | 'slow'; until: number } | null = null;
  /** Per node, until when a watch connect of it hangs ignoring its abort (a wedge the health check reports). */
  readonly hungUntil = new Map<number, number>();
  /** Nodes whose next watch connect hangs, ignoring its abort. */
  readonly hangNextConnect = new Set<number>();
  /** Open watch streams per node: end one (with an error or cleanly), or make it deliver a given record. */
  private readonly streams = new Map<number, Set<OpenStream>>();

  constructor(
    readonly scheduler: Scheduler,
    readonly store: LeaseStore,
    readonly rates: FaultRates,
    readonly requestTimeout: number,
    /** Called when a node receives the success answer of a write it sent at local time `sentAt`. */
    readonly onWriteAnswered: (node: number, sentAt: number, epoch: number) => void,
  ) {}

  forbidWatch(node: number, until: number): void {
    this.forbiddenUntil.set(node, Math.max(until, this.forbiddenUntil.get(node) ?? 0));
  }

  /** The node cannot reach the server: its requests and watch connects are lost. */
  partition(node: number, until: number): void {
    this.partitionedUntil.set(node, Math.max(until, this.partitionedUntil.get(node) ?? 0));
  }

  partitioned(node: number): boolean {
    return (this.partitionedUntil.get(node) ?? 0) > this.scheduler.now;
  }

  watchForbidden(node: number): boolean {
    return (this.forbiddenUntil.get(node) ?? 0) > this.scheduler.now;
  }

  countFault(node: number): void {
    this.faulted.set(node, (this.faulted.get(node) ?? 0) + 1);
  }

  /** The node's process died: its connections drop with it. */
  crash(node: number): void {
    this.crashed.add(node);
    for (const close of [...(this.closers.get(node) ?? [])]) close();
  }

  isCrashed(node: number): boolean {
    return this.crashed.has(node);
  }

  outage(at = this.scheduler.now): 'error' | 'forbidden' | 'slow' | null {
    const outage = this.watchOutage;
    return outage !== null && at < outage.until ? outage.kind : null;
  }

  /** Registers an open stream of `node`; returns its unregistration. */
  trackStream(node: number, stream: OpenStream): () => void {
    const set = this.streams.get(node) ?? new Set();
    this.streams.set(node, set);
    set.add(stream);
    return () => set.delete(stream);
  }

  /** The node's open streams. */
  streamsOf(node: number): OpenStream[] {
    return [...(this.streams.get(node) ?? [])];
  }

  /** Tracks an open watch; returns its closer, which is idempotent. */
  trackWatch(node: number, close: () => void): () => void {
    let open = true;
    const set = this.closers.get(node) ?? new Set();
    this.closers.set(node, set);
    const closer = () => {
      if (!open) return;
      open = false;
      set.delete(closer);
      this.openWatches.set(node, (this.openWatches.get(node) ?? 1) - 1);
      close();
    };
    set.add(closer);
    this.openWatches.set(node, (this.openWatches.get(node) ?? 0) + 1);
    return closer;
  }
}

/** An open watch stream as the world can reach it. */
export interface OpenStream {
  /** The server ends the stream: with an error (the stream broke) or cleanly (a timeout). */
  end(error?: LeaseLockError): void;
  /** The stream delivers `entry` next, as a replay or a lagging cache would. */
  inject(entry: StoredVersion): void;
}

type Fate = { kind: 'ok' | 'lost' | 'drop' | 'error'; up: number; down: number; applyAfterAbort: boolean };
type Served<T> = { value: T } | { error: LeaseLockError };

/**
 * One node's view of the Lease through a faulty network: every call takes
 * time in the scheduler, may be lost either way, answered 503 or slowly, and
 * honours its AbortSignal (a request already on the wire may still be
 * applied). Watches may be closed by the server, replay older history,
 * deliver stale records, be forbidden, be closed at once, or hang on connect.
 */
export class FaultyLeaseLock implements LeaseLock {
  readonly name = 'sim-lease';
  readonly namespace = 'default';

  constructor(
    private readonly net: Network,
    private readonly node: number,
    private readonly clock: SimClock,
    private readonly random: Random,
    private readonly log: (message: string) => void,
  ) {}

  describe(): string {
    return `${this.namespace}/${this.name} (sim)`;
  }

  get(signal: AbortSignal): Promise<LeaseReadResult> {
    return this.request<LeaseReadResult>('get', signal, () => {
      const current = this.net.store.read();
      if (current === null) return { error: new LeaseNotFoundError('lease not found', { status: 404 }) };
      return { value: this.toRead(current) };
    });
  }

  create(record: LeaseRecord, signal: AbortSignal): Promise<LeaseSnapshot> {
    const sentAt = this.clock.now();
    return this.write(sentAt, 'create', signal, () => {
      const written = this.net.store.create(record);
      if (written === null) return { error: new LeaseConflictError('lease already exists', { status: 409 }) };
      return { value: this.toRead(written) };
    });
  }

  update(record: LeaseRecord, resourceVersion: string, signal: AbortSignal): Promise<LeaseSnapshot> {
    const sentAt = this.clock.now();
    return this.write(sentAt, `update@${resourceVersion}`, signal, () => {
      const written = this.net.store.update(record, resourceVersion);
      if (written === 'not-found') return { error: new LeaseNotFoundError('lease not found', { status: 404 }) };
      if (written === 'conflict') return { error: new LeaseConflictError('lease was modified', { status: 409 }) };
      return { value: this.toRead(written) };
    });
  }

  resourceVersionsComparable(signal: AbortSignal): Promise<boolean> {
    return this.request('discovery', signal, () => ({ value: this.net.comparableVersions }));
  }

  readonly watch = (
    handlers: LeaseWatchHandlers,
    resourceVersion: string | undefined,
    signal: AbortSignal,
  ): Promise<LeaseWatch> => {
    const { net, node, random } = this;
    const { scheduler } = net;
    const opens = net.watchOpens.get(node) ?? [];
    opens.push(scheduler.now);
    if (opens.length > 64) opens.shift();
    net.watchOpens.set(node, opens);
    if (signal.aborted) return Promise.reject(new LeaseTimeoutError('watch aborted'));
    const hang =
      net.hangNextConnect.delete(node) || (net.faulty && chance(random, net.rates.watchHang))
        ? between(random, 1000, 20_000)
        : 0;
    const up = this.latency();
    const down = this.latency();
    if (hang) net.hungUntil.set(node, Math.max(net.hungUntil.get(node) ?? 0, scheduler.now + up + hang));
    this.log(`watch from ${resourceVersion ?? 'now'}${hang ? ` (connect hangs ${hang.toFixed(0)}ms)` : ''}`);
    return new Promise<LeaseWatch>((resolve, reject) => {
      let settled = false;
      const answer = (deliver: () => void) => {
        scheduler.after(down, node, 'watch answer', () => {
          if (settled) return;
          settled = true;
          signal.removeEventListener('abort', onAbort);
          deliver();
        });
      };
      const onAbort = () => {
        if (hang || settled) return;
        settled = true;
        reject(new LeaseTimeoutError('watch connect aborted'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const outage = net.outage();
      // A slow connect in a quiet-phase outage: it honours its abort, unlike `hang`.
      const slow = outage === 'slow' ? between(random, 0, 1.2 * net.requestTimeout) : 0;
      scheduler.after(up + hang + slow, null, 'watch@server', () => {
        if (net.isCrashed(node) || net.partitioned(node)) return;
        if (outage === 'error') {
          answer(() => reject(new LeaseUnavailableError('watch: service unavailable', { status: 503 })));
          return;
        }
        if (net.watchForbidden(node) || outage === 'forbidden') {
          answer(() => reject(new LeaseForbiddenError('watch on leases is forbidden', { status: 403 })));
          return;
        }
        const replay = resourceVersion === undefined ? null : net.store.since(resourceVersion);
        if (replay === 'gone') {
          answer(() => reject(new LeaseLockError('other', 'too old resource version', { status: 410 })));
          return;
        }
        if (scheduler.now < net.closeWatchesUntil) {
          answer(() => resolve({ done: Promise.resolve() }));
          return;
        }
        const current = net.store.read();
        const initial = replay ?? (current ? [current] : []);
        answer(() => {
          if (signal.aborted) return reject(new LeaseTimeoutError('watch aborted while connecting'));
          resolve(this.stream(handlers, initial, signal));
        });
      });
    });
  };

  /** An established watch: delivers changes in order, each after its own latency. */
  private stream(handlers: LeaseWatchHandlers, initial: StoredVersion[], signal: AbortSignal): LeaseWatch {
    const { net, node, random } = this;
    const { scheduler, store } = net;
    let lastAt = scheduler.now;
    let finish: (error?: LeaseLockError) => void = () => undefined;
    const done = new Promise<void>((resolve, reject) => {
      finish = (error) => (error ? reject(error) : resolve());
    });
    const pending = new Set<SimEvent>();
    const deliver = (entry: StoredVersion, label: string) => {
      lastAt = Math.max(lastAt, scheduler.now + this.latency());
      const event = scheduler.schedule(lastAt, node, label, () => {
        pending.delete(event);
        this.log(`watch ${label} v${entry.version}${entry.spec === null ? ' (deleted)' : ''}`);
        if (entry.spec === null) handlers.onChange(null);
        else handlers.onChange(this.toRead(entry));
      });
      pending.add(event);
    };
    const unsubscribe = store.subscribe((entry) => {
      deliver(entry, 'event');
      if (net.faulty && chance(random, net.rates.watchStale)) {
        const old = store.older(random());
        if (old) deliver(old, 'stale event');
      }
    });
    const untrack = net.trackStream(node, {
      end: (error) => {
        close();
        finish(error);
      },
      inject: (entry) => deliver(entry, 'replayed event'),
    });
    const close = net.trackWatch(node, () => {
      unsubscribe();
      untrack();
      for (const event of pending) event.cancelled = true;
      signal.removeEventListener('abort', onAbort);
    });
    const onAbort = () => {
      close();
      finish();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    for (const entry of initial) {
      if (entry.spec === null) handlers.onChange(null);
      else handlers.onChange(this.toRead(entry));
    }
    if (net.faulty && chance(random, net.rates.watchDrop)) {
      const failed = chance(random, 0.4);
      scheduler.after(between(random, 50, 30_000), node, 'watch closed by server', () => {
        close();
        finish(failed ? new LeaseUnavailableError('watch stream broke', { status: 503 }) : undefined);
      });
    }
    return { done };
  }

  private write(
    sentAt: number,
    verb: string,
    signal: AbortSignal,
    serve: () => Served<LeaseSnapshot>,
  ): Promise<LeaseSnapshot> {
    // Deletions are counted when the write reaches the server, not when it was sent.
    let epoch = this.net.epoch;
    const served = () => {
      epoch = this.net.epoch;
      return serve();
    };
    return this.request(verb, signal, served).then((written) => {
      this.net.onWriteAnswered(this.node, sentAt, epoch);
      return written;
    });
  }

  private request<T>(verb: string, signal: AbortSignal, serve: () => Served<T>): Promise<T> {
    const { net, node } = this;
    const { scheduler } = net;
    if (signal.aborted) {
      net.countFault(node);
      return Promise.reject(new LeaseTimeoutError(`${verb} aborted before it was sent`));
    }
    const fate = this.fate();
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      let served = false;
      let serverSide: SimEvent | null = null;
      const onAbort = () => {
        if (settled) return;
        settled = true;
        net.countFault(node);
        this.log(`${verb} timed out (${fate.kind}${served ? ', served' : ''})`);
        if (!served && serverSide && !fate.applyAfterAbort) serverSide.cancelled = true;
        reject(new LeaseTimeoutError(`${verb} of lease timed out`));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      if (fate.kind === 'drop') return;
      serverSide = scheduler.after(fate.up, null, `${verb}@server`, () => {
        served = true;
        const result: Served<T> =
          fate.kind === 'error'
            ? { error: new LeaseUnavailableError('service unavailable', { status: 503 }) }
            : serve();
        if (fate.kind === 'lost') return;
        scheduler.after(fate.down, node, `${verb} answer`, () => {
          if (settled) return;
          settled = true;
          signal.removeEventListener('abort', onAbort);
          if ('error' in result) {
            if (fate.kind === 'error') net.countFault(node);
            reject(result.error);
            return;
          }
          const pause = verb === 'get' || !net.faulty ? undefined : net.pauseOnAnswer.get(node);
          if (pause === undefined) return resolve(result.value);
          // The answer is in, but the process freezes before its continuation runs.
          net.pauseOnAnswer.delete(node);
          this.log(`GC pause of ${pause.toFixed(0)}ms as the ${verb} answer arrives`);
          scheduler.stall(node, scheduler.now + pause);
          scheduler.after(0, node, `${verb} answer after pause`, () => resolve(result.value));
        });
      });
    });
  }

  private fate(): Fate {
    const { net, random } = this;
    const applyAfterAbort = chance(random, 0.5);
    if (!net.faulty) return { kind: 'ok', up: this.latency(), down: this.latency(), applyAfterAbort };
    const { rates, requestTimeout } = net;
    if (net.partitioned(this.node)) return { kind: 'drop', up: 0, down: 0, applyAfterAbort };
    const roll = random();
    const kind =
      roll < rates.lost
        ? 'lost'
        : roll < rates.lost + rates.drop
          ? 'drop'
          : roll < rates.lost + rates.drop + rates.error
            ? 'error'
            : 'ok';
    if (chance(random, rates.slow)) {
      const total = between(random, 0.3, 1.2) * requestTimeout;
      const up = between(random, 0, total);
      return { kind, up, down: total - up, applyAfterAbort };
    }
    return { kind, up: this.latency(), down: this.latency(), applyAfterAbort };
  }

  /** One leg: mostly fast, sometimes a few hundred ms while faults are on. */
  private latency(): number {
    const { net, random } = this;
    if (!net.faulty) return between(random, 0.2, net.quietLatency);
    return chance(random, 0.9) ? between(random, 0.2, 20) : between(random, 20, 300);
  }

  private toRead(entry: StoredVersion): LeaseReadResult {
    const normalized = normalizeLeaseSpec(entry.spec, this.clock.wallNow());
    return {
      record: normalized.record,
      resourceVersion: String(entry.version),
      ...(normalized.problems.length > 0 ? { normalized } : {}),
    };
  }
}
