import type { LeaderElectionEvent, LeadershipTerm } from '../../lib/elector/internal.js';
import type { Network } from './faulty-lease-lock.js';
import type { Scheduler, SimClock } from './scheduler.js';
import type { Timing } from './scenario.js';

/** What the checks need to know about one node (one process incarnation). */
export interface NodeView {
  readonly id: number;
  readonly identity: string;
  readonly clock: SimClock;
  readonly crashed: boolean;
  /** Local send time of the last write whose success answer this node received. */
  readonly lastWriteSentAt: number;
  /** Outside deletions before that write reached the server. */
  readonly lastWriteEpoch: number;
  /** Global time at which `stop()` resolved, or null. */
  readonly stopResolvedAt: number | null;
}

/** One term as user code sees it: from `started-leading` until both `stopped-leading` and the signal's abort. */
export interface TermRecord {
  node: NodeView;
  term: LeadershipTerm;
  token: bigint;
  /** Outside deletions before its acquire was applied: a deleted Lease restarts the count for fresh candidates. */
  epoch: number;
  start: number;
  stoppedAt: number | null;
  abortedAt: number | null;
}

/** Accepts numbers and decimal strings alike. */
export function tokenOf(token: unknown): bigint {
  return BigInt(String(token));
}

/** How late (local ms) a term may end after its renew deadline: Node's timers fire on whole ms. */
const DEADLINE_SLACK_MS = 2;
/** More watch opens than this within one second means a watch is reopened without backoff. */
const MAX_WATCH_OPENS_PER_SECOND = 10;

/**
 * The properties checked on every step. Each failure is a sentence naming
 * the node, the term and the times, kept as the run's violation.
 */
export class Invariants {
  violation: string | null = null;
  readonly terms: TermRecord[] = [];
  private readonly live = new Map<NodeView, TermRecord>();
  private readonly highestInEpoch = new Map<number, bigint>();
  private readonly highestOfNode = new Map<NodeView, bigint>();
  private readonly eventIds = new WeakMap<object, number>();
  private nextEventId = 1;
  private readonly logs = new Map<NodeView, number[][]>();
  private readonly openTerms = new Map<NodeView, (LeadershipTerm | null)[]>();
  private readonly electorStopped = new Map<NodeView, number>();
  private readonly unhandled: Array<{ node: NodeView; handled: () => boolean }> = [];
  private readonly waitsAfterStop: Array<{ node: NodeView; settled: () => boolean }> = [];
  private readonly afterStop: NodeView[] = [];
  /** Liveness: from `from`, some node must lead within `bound` ms. */
  private liveness: { from: number; bound: number; metAt: number | null } | null = null;
  /** Failover after a quiet-phase crash: from `from`, some node must lead within `bound` ms. */
  private failover: { from: number; bound: number; what: string; metAt: number | null } | null = null;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly net: Network,
    private readonly timing: Timing,
    private readonly listenerCount: number,
  ) {}

  fail(message: string): void {
    this.violation ??= `t=${this.scheduler.now.toFixed(3)}: ${message}`;
  }

  /** A listener (index `listener` in subscription order) received `event`. */
  onListener(node: NodeView, listener: number, event: LeaderElectionEvent): void {
    const now = this.scheduler.now;
    if (node.stopResolvedAt !== null) {
      this.fail(
        `${node.identity}: listener ${listener} got ${event.type} after stop() resolved at ${node.stopResolvedAt}`,
      );
    }
    let id = this.eventIds.get(event);
    if (id === undefined) this.eventIds.set(event, (id = this.nextEventId++));
    const logs = this.logs.get(node) ?? Array.from({ length: this.listenerCount }, () => []);
    this.logs.set(node, logs);
    logs[listener].push(id);
    const open = this.openTerms.get(node) ?? Array.from({ length: this.listenerCount }, () => null);
    this.openTerms.set(node, open);
    if (event.type === 'started-leading') {
      if (open[listener] !== null) this.fail(`${node.identity}: listener ${listener} got started-leading twice`);
      open[listener] = event.term;
      if (listener === 0) this.termStarted(node, event.term);
    } else if (event.type === 'stopped-leading') {
      if (open[listener] !== event.term) {
        this.fail(
          `${node.identity}: listener ${listener} got stopped-leading (${event.reason}) without its started-leading`,
        );
      }
      open[listener] = null;
      if (listener === this.listenerCount - 1) {
        const record = this.terms.find((t) => t.term === event.term);
        if (record && record.stoppedAt === null) record.stoppedAt = now;
      }
    } else if (event.type === 'elector-stopped' && listener === 0) {
      const count = (this.electorStopped.get(node) ?? 0) + 1;
      this.electorStopped.set(node, count);
      if (count > 1) this.fail(`${node.identity}: elector-stopped emitted ${count} times`);
      this.afterStop.push(node);
    }
  }

  private termStarted(node: NodeView, term: LeadershipTerm): void {
    const now = this.scheduler.now;
    const { renewDeadline } = this.timing;
    const deadline = node.lastWriteSentAt + renewDeadline;
    if (node.clock.now() >= deadline) {
      this.fail(
        `${node.identity}: started-leading for a dead term: ${(node.clock.now() - deadline).toFixed(1)}ms past ` +
          `its renew deadline (acquire sent at local ${node.lastWriteSentAt.toFixed(1)})`,
      );
    }
    const token = tokenOf(term.fencingToken);
    const epoch = node.lastWriteEpoch;
    const highest = this.highestInEpoch.get(epoch);
    if (highest !== undefined && token <= highest) {
      this.fail(`${node.identity}: fencing token ${token} not above ${highest} of an earlier term`);
    }
    const own = this.highestOfNode.get(node);
    if (own !== undefined && token <= own)
      this.fail(`${node.identity}: fencing token ${token} not above its own ${own}`);
    if (highest === undefined || token > highest) this.highestInEpoch.set(epoch, token);
    this.highestOfNode.set(node, token);
    const record: TermRecord = { node, term, token, epoch, start: now, stoppedAt: null, abortedAt: null };
    this.terms.push(record);
    this.live.set(node, record);
    // As user code would: take the signal at the start and stop work when it aborts.
    const signal = term.signal;
    if (signal.aborted) record.abortedAt = now;
    else signal.addEventListener('abort', () => (record.abortedAt = this.scheduler.now), { once: true });
  }

  /** The node has a term user code still sees. */
  leading(node: NodeView): boolean {
    const record = this.live.get(node);
    return record !== undefined && !this.ended(record);
  }

  /** The process died: its user code stops with it. */
  crashed(node: NodeView): void {
    const record = this.live.get(node);
    if (!record) return;
    record.stoppedAt ??= this.scheduler.now;
    record.abortedAt ??= this.scheduler.now;
  }

  /** A sampled `isLeader` read by user code on `node`. */
  onProbe(node: NodeView, isLeader: boolean): void {
    if (!isLeader) return;
    const record = this.live.get(node);
    if (!record || this.ended(record)) this.fail(`${node.identity}: isLeader read true outside a started term`);
    const late = node.clock.now() - (node.lastWriteSentAt + this.timing.renewDeadline);
    if (late >= 0) this.fail(`${node.identity}: isLeader read true ${late.toFixed(1)}ms after the renew deadline`);
  }

  /** A rejected promise returned by an async listener; the elector must attach a handler. */
  trackRejection(node: NodeView, handled: () => boolean): void {
    this.unhandled.push({ node, handled });
  }

  /** `waitForLeadership()` called after stop; it must settle at once. */
  trackWaitAfterStop(node: NodeView, settled: () => boolean): void {
    this.waitsAfterStop.push({ node, settled });
  }

  stopResolved(node: NodeView, releaseExpected: boolean): void {
    this.afterStop.push(node);
    if (!releaseExpected) return;
    const stored = this.net.store.read();
    const holder = (stored?.spec as { holderIdentity?: unknown } | null)?.holderIdentity;
    if (holder === node.identity) {
      this.fail(`${node.identity}: stop() resolved without releasing the Lease although none of its requests failed`);
    }
  }

  startLiveness(bound: number): void {
    this.liveness = { from: this.scheduler.now, bound, metAt: null };
  }

  /** Some node must lead within `bound` ms from now, after `what` (a leader crash in the quiet phase). */
  startFailover(bound: number, what: string): void {
    this.failover = { from: this.scheduler.now, bound, what, metAt: null };
  }

  /** When a new leader existed after the quiet-phase crash, relative to it; null if none (yet). */
  get failoverAfter(): number | null {
    const failover = this.failover;
    return failover?.metAt == null ? null : failover.metAt - failover.from;
  }

  get livenessMet(): number | null {
    return this.liveness?.metAt ?? null;
  }

  /** After every event (its promise chains settled). */
  afterStep(): void {
    for (const [node, logs] of this.logs) {
      const first = logs[0].join(',');
      for (let i = 1; i < logs.length; i++) {
        if (logs[i].join(',') !== first) {
          const at = logs[i].findIndex((id, k) => id !== logs[0][k]);
          this.fail(`${node.identity}: listener ${i} saw events in another order than listener 0 (from #${at})`);
          break;
        }
      }
      if (logs[0].length > 200) for (const log of logs) log.splice(0, 100);
    }
    for (const { node, handled } of this.unhandled.splice(0)) {
      if (!handled()) this.fail(`${node.identity}: a rejected async listener promise was left unhandled`);
    }
    for (const node of this.afterStop.splice(0)) {
      if (node.crashed) continue;
      if (node.clock.pending > 0)
        this.fail(`${node.identity}: ${node.clock.pending} timer(s) pending after it stopped`);
      const watches = this.net.openWatches.get(node.id) ?? 0;
      if (watches > 0) this.fail(`${node.identity}: ${watches} watch(es) open after it stopped`);
    }
  }

  /** Before virtual time moves from `from` to `to`: every event at `from` has run. */
  beforeAdvance(from: number, to: number, nodes: readonly NodeView[]): void {
    for (const { node, settled } of this.waitsAfterStop.splice(0)) {
      if (!settled()) this.fail(`${node.identity}: waitForLeadership() called after stop() did not settle`);
    }
    const { renewDeadline } = this.timing;
    const counted: TermRecord[] = [];
    for (const record of this.live.values()) {
      if (this.ended(record)) continue;
      const { node } = record;
      const deadline = node.lastWriteSentAt + renewDeadline;
      if (this.scheduler.isStalled(node.id, from)) {
        // A frozen process does nothing, but its claim still counts until its deadline.
        if (from < node.clock.globalAt(deadline)) counted.push(record);
        continue;
      }
      counted.push(record);
      const late = node.clock.now() - deadline;
      if (late > DEADLINE_SLACK_MS) {
        this.fail(
          `${node.identity}: term (token ${record.token}) still live ${late.toFixed(1)}ms after its renew deadline ` +
            `(stopped-leading ${record.stoppedAt === null ? 'not fired' : 'fired'}, signal ${record.abortedAt === null ? 'not aborted' : 'aborted'})`,
        );
      }
    }
    for (let i = 0; i < counted.length; i++) {
      for (let j = i + 1; j < counted.length; j++) {
        const [a, b] = [counted[i], counted[j]];
        if (a.epoch !== b.epoch) continue;
        this.fail(
          `terms overlap: ${a.node.identity} (token ${a.token}, since ${a.start.toFixed(1)}) and ` +
            `${b.node.identity} (token ${b.token}, since ${b.start.toFixed(1)})`,
        );
      }
    }
    const liveness = this.liveness;
    if (liveness && liveness.metAt === null) {
      if (counted.length > 0) liveness.metAt = from;
      else if (to > liveness.from + liveness.bound) {
        this.fail(
          `no leader within ${liveness.bound.toFixed(0)}ms after faults cleared at ${liveness.from.toFixed(1)}`,
        );
      }
    }
    const failover = this.failover;
    if (failover && failover.metAt === null) {
      if (counted.length > 0) failover.metAt = from;
      else if (to > failover.from + failover.bound) {
        this.fail(
          `no leader within ${failover.bound.toFixed(0)}ms after ${failover.what} at ${failover.from.toFixed(1)}`,
        );
      }
    }
    for (const node of nodes) {
      const opens = this.net.watchOpens.get(node.id) ?? [];
      const recent = opens.filter((at) => at > from - 1000).length;
      if (recent > MAX_WATCH_OPENS_PER_SECOND)
        this.fail(`${node.identity}: ${recent} watch opens within 1s (no backoff)`);
    }
    for (const [node, record] of this.live) if (this.ended(record) || node.crashed) this.live.delete(node);
  }

  private ended(record: TermRecord): boolean {
    return record.stoppedAt !== null && record.abortedAt !== null;
  }
}
