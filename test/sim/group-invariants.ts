import type {
  LeaderElectionEvent,
  LeaderElectionGroup,
  LeadershipTerm,
  TermEndReason,
} from '../../lib/elector/internal.js';
import type { Network } from './faulty-lease-lock.js';
import type { MemberNet, MemberStore } from './faulty-member-directory.js';
import { Invariants, tokenOf, type NodeView, type TermRecord } from './invariants.js';
import type { Timing } from './scenario.js';
import type { Scheduler, SimClock } from './scheduler.js';

/** One replica process as the checks see it. */
export interface ReplicaView {
  readonly id: number;
  readonly identity: string;
  readonly clock: SimClock;
  readonly group: LeaderElectionGroup;
  readonly crashed: boolean;
  /** Not crashed, and stop() not called. */
  readonly alive: boolean;
  readonly stopResolvedAt: number | null;
  /** Whether the elector of `election` has started (it has touched its Lease). */
  electorStarted(election: string): boolean;
}

/** One elector of a replica, as the per-election {@link Invariants} see it. */
export class ElectionView implements NodeView {
  lastWriteSentAt = Number.NEGATIVE_INFINITY;
  lastWriteEpoch = 0;

  constructor(
    readonly replica: ReplicaView,
    readonly election: string,
  ) {}

  get id(): number {
    return this.replica.id;
  }

  get identity(): string {
    return this.replica.identity;
  }

  get clock(): SimClock {
    return this.replica.clock;
  }

  get crashed(): boolean {
    return this.replica.crashed;
  }

  get stopResolvedAt(): number | null {
    return this.replica.stopResolvedAt;
  }
}

/**
 * The quiet phase, in global virtual ms (see the README for the derivations).
 * From `from`: every election led within `liveness`; once led, a term that
 * ends by handover is followed by the next within `gap`, any other within
 * `loss`. From `viewAt`: every live replica's member view names exactly the
 * live replicas. From `loadAt`: each live replica leads floor(E/N) or
 * ceil(E/N) elections, and every election is led.
 */
export interface QuietPlan {
  from: number;
  liveness: number;
  gap: number;
  loss: number;
  viewAt: number;
  loadAt: number;
}

interface ElectionState {
  invariants: Invariants;
  views: ElectionView[];
  /** The fenced store: highest token accepted, and the term whose write set it. */
  highest: bigint | null;
  lastWriter: TermRecord | null;
  /** How the last term ended (global time), for the gap bounds. */
  lastEnd: { at: number; reason: TermEndReason } | null;
  /** When the current leaderless stretch must end, or null while led. */
  due: number | null;
}

/**
 * The users' view of spreading groups, checked after every event or before
 * virtual time moves on: per election the elector's own checks
 * ({@link Invariants}: terms never overlap, none outlives its deadline,
 * tokens rise, no listener call after stop), leader work and fenced writes,
 * handovers only to running electors, and in the quiet phase ownership,
 * member views and loads; after a clean stop, no member record and no Lease
 * left naming the replica.
 */
export class GroupInvariants {
  violation: string | null = null;
  private readonly states = new Map<string, ElectionState>();
  private readonly records = new WeakMap<LeadershipTerm, TermRecord>();
  private readonly starts = new WeakMap<TermRecord, number>();
  private sequence = 0;
  private quiet: QuietPlan | null = null;
  /** Handovers during the quiet phase, for the report. */
  handovers = 0;
  /** Replicas stopped cleanly: their member record must never exist again. */
  private readonly gone: ReplicaView[] = [];
  /** Replicas whose stop resolved and whose timers and connections are checked once start() settled too. */
  private readonly stopped: Array<{ replica: ReplicaView; settled: () => boolean }> = [];
  private lastViewCheck = Number.NEGATIVE_INFINITY;
  private lastLoadCheck = Number.NEGATIVE_INFINITY;
  private steps = 0;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly timing: Timing,
    private readonly nets: ReadonlyMap<string, Network>,
    private readonly members: MemberStore,
    private readonly memberNet: MemberNet,
    private readonly replicas: () => readonly ReplicaView[],
    /** Whether handovers are checked outside the quiet phase too (the directory says when electors run). */
    private readonly readyFlag: boolean,
  ) {
    for (const [election, net] of nets) {
      this.states.set(election, {
        invariants: new Invariants(scheduler, net, timing, 1),
        views: [],
        highest: null,
        lastWriter: null,
        lastEnd: null,
        due: null,
      });
    }
  }

  fail(message: string): void {
    this.violation ??= `t=${this.scheduler.now.toFixed(3)}: ${message}`;
  }

  get terms(): number {
    let count = 0;
    for (const state of this.states.values()) count += state.invariants.terms.length;
    return count;
  }

  addView(view: ElectionView): void {
    this.states.get(view.election)!.views.push(view);
  }

  /** An event of one elector of a group (its only listener). */
  onEvent(view: ElectionView, event: LeaderElectionEvent): void {
    const state = this.states.get(view.election)!;
    if (event.type === 'elector-stopped') return;
    state.invariants.onListener(view, 0, event);
    if (event.type === 'started-leading') {
      const record = state.invariants.terms[state.invariants.terms.length - 1];
      if (record?.term === event.term) {
        this.records.set(event.term, record);
        this.starts.set(record, this.sequence++);
      }
    } else if (event.type === 'stopped-leading') {
      state.lastEnd = { at: this.scheduler.now, reason: event.reason };
      if (event.reason === 'handed-over') this.handedOver(view);
    }
  }

  /**
   * A handover goes only to a replica whose elector for it runs: one that
   * has not started yet leaves the released Lease to the next ranks, and the
   * election moves twice. Checked in the quiet phase, and always when the
   * directory's records say whether a replica's electors run.
   */
  private handedOver(view: ElectionView): void {
    const quiet = this.quiet !== null;
    if (quiet) this.handovers++;
    if (!quiet && !this.readyFlag) return;
    const target = view.replica.group.assignments.find((state) => state.election === view.election)?.preferred;
    const replica = this.replicas().find((candidate) => candidate.identity === target);
    if (!replica || !replica.alive || replica.electorStarted(view.election)) return;
    this.fail(
      `${view.identity} handed ${view.election} over to ${target}, whose elector for it has not started ` +
        '(the released Lease waits for the next ranks)',
    );
  }

  /** A unit of leader work passed its `term.signal` check and starts under `term`. */
  workStarted(view: ElectionView, term: LeadershipTerm): void {
    const record = this.records.get(term);
    if (!record) return this.fail(`${view.identity}: work on ${view.election} started under an unknown term`);
    const late = view.clock.now() - (view.lastWriteSentAt + this.timing.renewDeadline);
    if (record.stoppedAt !== null || late >= 0) {
      this.fail(
        `${view.identity}: work on ${view.election} started under a term that is over (token ${record.token}, ` +
          `${record.stoppedAt !== null ? `stopped-leading at ${record.stoppedAt.toFixed(1)}` : `${late.toFixed(1)}ms past its renew deadline`})`,
      );
    }
  }

  /**
   * A fenced write of work admitted by `term`, to the election's store, which
   * accepts tokens at least as high as the highest it has seen. An accepted
   * write must not come from a term older than one that already wrote: a
   * deposed leader's write never lands after its successor's.
   */
  fencedWrite(view: ElectionView, term: LeadershipTerm): boolean {
    const state = this.states.get(view.election)!;
    const record = this.records.get(term);
    if (!record) return false;
    const token = tokenOf(term.fencingToken);
    if (state.highest !== null && token < state.highest) return false;
    const last = state.lastWriter;
    if (last !== null && last !== record && this.starts.get(last)! > this.starts.get(record)!) {
      this.fail(
        `${view.election}: the fenced store accepted a write of ${view.identity} (token ${token}) after one of the ` +
          `newer term of ${last.node.identity} (token ${last.token})`,
      );
    }
    state.highest = token;
    state.lastWriter = record;
    return true;
  }

  /**
   * The elector sends a release while its work has not drained: a graceful
   * handover or stop must drain first, unless its hold had lapsed already
   * (renewals failed past the renew deadline), when the Lease is lost anyway.
   */
  releaseSent(view: ElectionView, running: number): void {
    if (running === 0) return;
    const lapsed = view.clock.now() >= view.lastWriteSentAt + this.timing.renewDeadline;
    if (lapsed) return;
    this.fail(`${view.identity}: released ${view.election} with ${running} unit(s) of its work still running`);
  }

  /** A sampled `isLeader` read by user code. */
  probe(view: ElectionView, isLeader: boolean): void {
    this.states.get(view.election)!.invariants.onProbe(view, isLeader);
  }

  crashed(replica: ReplicaView): void {
    for (const state of this.states.values()) {
      for (const view of state.views) if (view.replica === replica) state.invariants.crashed(view);
    }
  }

  /**
   * `group.stop()` resolved. With no failed member request around the stop,
   * no member record of the replica may exist now or later; an election
   * whose Lease requests did not fail during the stop must not name it.
   * Timers and connections are checked once `start()` has settled as well.
   */
  stopResolved(
    replica: ReplicaView,
    cleanMembers: boolean,
    cleanLeases: readonly string[],
    settled: () => boolean,
  ): void {
    if (cleanMembers) this.gone.push(replica);
    for (const election of cleanLeases) {
      const holder = this.holderOf(election);
      if (holder === replica.identity) {
        this.fail(`${replica.identity}: stop() resolved while the Lease of ${election} still names it`);
      }
    }
    this.stopped.push({ replica, settled });
  }

  private holderOf(election: string): string | null {
    const spec = this.nets.get(election)!.store.read()?.spec as { holderIdentity?: unknown } | undefined;
    return typeof spec?.holderIdentity === 'string' ? spec.holderIdentity : null;
  }

  startQuiet(plan: QuietPlan): void {
    this.quiet = plan;
  }

  /** After every event (its promise chains settled). */
  afterStep(openWatches: (replica: ReplicaView) => number): void {
    for (const replica of this.gone) {
      if (this.members.has(replica.identity)) {
        this.fail(
          `${replica.identity}: its member record is in the directory after its clean stop resolved at ` +
            `${replica.stopResolvedAt!.toFixed(1)} (a ghost member)`,
        );
      }
    }
    for (let i = this.stopped.length - 1; i >= 0; i--) {
      const { replica, settled } = this.stopped[i];
      if (replica.crashed) {
        this.stopped.splice(i, 1);
        continue;
      }
      if (!settled()) continue;
      this.stopped.splice(i, 1);
      const timers = replica.clock.pending;
      if (timers > 0) this.fail(`${replica.identity}: ${timers} timer(s) pending after stop() and start() settled`);
      const watches = openWatches(replica) + this.memberNet.openWatches(replica.id);
      if (watches > 0) this.fail(`${replica.identity}: ${watches} watch(es) open after stop() and start() settled`);
      const follows = this.memberNet.follows.get(replica.id) ?? 0;
      if (follows > 0) this.fail(`${replica.identity}: ${follows} member follow(s) not ended after stop()`);
    }
    // The per-election checks trim their event logs here; every event is still checked as it comes.
    if (++this.steps % 256 === 0) for (const state of this.states.values()) state.invariants.afterStep();
    for (const [election, state] of this.states) {
      if (state.invariants.violation !== null) this.fail(`${election}: ${state.invariants.violation}`);
    }
  }

  /** Before virtual time moves from `from` to `to`: every event at `from` has run. */
  beforeAdvance(from: number, to: number): void {
    // The watch backoff check looks at each second's opens; sampling it every 250 ms keeps it cheap.
    const sample = Math.floor(to / 250) !== Math.floor(from / 250);
    for (const [election, state] of this.states) {
      state.invariants.beforeAdvance(from, to, sample ? state.views : []);
      if (state.invariants.violation !== null) this.fail(`${election}: ${state.invariants.violation}`);
    }
    const quiet = this.quiet;
    if (quiet === null || from < quiet.from) return;
    this.checkOwnership(quiet, from, to);
    if (from >= quiet.viewAt && to - this.lastViewCheck >= 5) {
      this.lastViewCheck = to;
      this.checkViews();
    }
    if (from >= quiet.loadAt && to - this.lastLoadCheck >= 1) {
      this.lastLoadCheck = to;
      this.checkLoads();
    }
  }

  private led(state: ElectionState): boolean {
    return state.views.some((view) => !view.crashed && state.invariants.leading(view));
  }

  /** No election left unowned: each leaderless stretch ends within its bound (README, invariant 3). */
  private checkOwnership(quiet: QuietPlan, from: number, to: number): void {
    for (const [election, state] of this.states) {
      if (this.led(state)) {
        state.due = null;
        continue;
      }
      if (state.due === null) {
        const end = state.lastEnd;
        state.due =
          end === null || end.at < quiet.from
            ? quiet.from + quiet.liveness
            : end.at + (end.reason === 'handed-over' ? quiet.gap : quiet.loss);
      }
      if (to > state.due) {
        const end = state.lastEnd;
        const since =
          end === null || end.at < quiet.from
            ? `since the quiet phase began at ${quiet.from.toFixed(1)}`
            : `since its term ended (${end.reason}) at ${end.at.toFixed(1)}`;
        this.fail(`${election} has had no leader ${since}: over its bound, due by ${state.due.toFixed(1)}`);
        return;
      }
    }
  }

  private live(): ReplicaView[] {
    return this.replicas().filter((replica) => replica.alive);
  }

  /** Every live replica's member view names exactly the live replicas (README, invariant 4). */
  private checkViews(): void {
    const live = this.live();
    const expected = live.map((replica) => replica.identity).sort();
    for (const replica of live) {
      const seen = replica.group.members.sort();
      if (seen.join(',') !== expected.join(',')) {
        this.fail(
          `${replica.identity} sees members [${seen.join(', ')}], but the live ones are [${expected.join(', ')}]`,
        );
        return;
      }
    }
  }

  /** Each live replica leads floor(E/N) or ceil(E/N) elections, and every election is led (README, invariant 4). */
  private checkLoads(): void {
    const live = this.live();
    if (live.length === 0) return;
    const loads = new Map(live.map((replica) => [replica, 0]));
    let led = 0;
    for (const state of this.states.values()) {
      for (const view of state.views) {
        if (!loads.has(view.replica) || !state.invariants.leading(view)) continue;
        loads.set(view.replica, loads.get(view.replica)! + 1);
        led++;
      }
    }
    const elections = this.states.size;
    const low = Math.floor(elections / live.length);
    const high = Math.ceil(elections / live.length);
    const uneven = [...loads.values()].some((load) => load < low || load > high);
    if (!uneven && led === elections) return;
    const shares = [...loads].map(([replica, load]) => `${replica.identity}:${load}`).join(' ');
    this.fail(
      `loads not within one of even: ${led} of ${elections} elections led on ${live.length} live replicas ` +
        `(each should lead ${low}${high === low ? '' : ` or ${high}`}): ${shares}`,
    );
  }
}
