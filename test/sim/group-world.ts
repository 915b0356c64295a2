import {
  LeaderElectionGroup,
  LeaseForbiddenError,
  LeaseTimeoutError,
  type ElectorLogger,
  type LeaderElectionEvent,
  type LeadershipTerm,
  type LeaseLock,
  type LeaseReadResult,
  type LeaseRecord,
  type LeaseSnapshot,
  type LeaseWatch,
  type LeaseWatchHandlers,
} from '../../lib/elector/internal.js';
import { FaultyLeaseLock, Network } from './faulty-lease-lock.js';
import { FaultyMemberDirectory, MemberNet, MemberStore, type DirectoryModel } from './faulty-member-directory.js';
import { ElectionView, GroupInvariants, type QuietPlan, type ReplicaView } from './group-invariants.js';
import type { GroupFault, GroupScenario } from './group-scenario.js';
import { LeaseStore } from './lease-store.js';
import { between, seededRandom, type Random } from './random.js';
import { Scheduler, SimClock } from './scheduler.js';
import { Trace } from './trace.js';

/** What one group run did. */
export interface GroupRunResult {
  violation: string | null;
  trace: string;
  simulatedMs: number;
  steps: number;
  terms: number;
  /** Handovers in the quiet phase. */
  handovers: number;
  /** Length of the checked quiet phase, or null if the run ended before it. */
  quietMs: number | null;
}

/** Options of a group world. */
export interface GroupWorldOptions {
  /** Which member directory to model; default `current`. */
  directory?: DirectoryModel;
}

const MAX_STEPS_PER_INSTANT = 50_000;
const MAX_STEPS = 6_000_000;
const MAX_QUIET_MS = 1_500_000;
const SLOTS = 7;

/** A unit of leader work: admitted by `term`, running until its end write. */
interface Unit {
  term: LeadershipTerm;
}

class Replica implements ReplicaView {
  crashed = false;
  stopping = false;
  stopCalledAt: number | null = null;
  stopResolvedAt: number | null = null;
  startSettled = false;
  group!: LeaderElectionGroup;
  readonly views = new Map<string, ElectionView>();
  /** Elections whose elector has touched its Lease (so it has started). */
  readonly started = new Set<string>();
  /** 403s owed per election (a blip), until `blipUntil`. */
  readonly blips = new Map<string, number>();
  blipUntil = 0;
  readonly work = new Map<string, Set<Unit>>();
  readonly drains = new Map<string, Array<() => void>>();

  constructor(
    readonly id: number,
    readonly slot: number,
    readonly identity: string,
    readonly clock: SimClock,
    /** The user's work runs on timers of its own, so the group's timers can be checked after stop. */
    readonly workClock: SimClock,
  ) {}

  get alive(): boolean {
    return !this.crashed && !this.stopping;
  }

  electorStarted(election: string): boolean {
    return this.started.has(election);
  }

  running(election: string): number {
    return this.work.get(election)?.size ?? 0;
  }
}

/**
 * An election's Lease as one replica reaches it: the faulty lock, plus 403
 * blips, a note of the elector's first call (it has started), and the
 * release check.
 */
class SimElectionLock implements LeaseLock {
  readonly namespace = 'default';

  constructor(
    readonly name: string,
    private readonly inner: FaultyLeaseLock,
    private readonly world: GroupWorld,
    private readonly replica: Replica,
  ) {}

  describe(): string {
    return `${this.namespace}/${this.name} (sim)`;
  }

  get(signal: AbortSignal): Promise<LeaseReadResult> {
    return this.forbidden(signal) ?? this.inner.get(signal);
  }

  create(record: LeaseRecord, signal: AbortSignal): Promise<LeaseSnapshot> {
    return this.forbidden(signal) ?? this.inner.create(record, signal);
  }

  update(record: LeaseRecord, resourceVersion: string, signal: AbortSignal): Promise<LeaseSnapshot> {
    if (record.holderIdentity === '') this.world.releaseSent(this.replica, this.name);
    return this.forbidden(signal) ?? this.inner.update(record, resourceVersion, signal);
  }

  resourceVersionsComparable(signal: AbortSignal): Promise<boolean> {
    return this.forbidden(signal) ?? this.inner.resourceVersionsComparable(signal);
  }

  readonly watch = (
    handlers: LeaseWatchHandlers,
    resourceVersion: string | undefined,
    signal: AbortSignal,
  ): Promise<LeaseWatch> => {
    this.replica.started.add(this.name);
    return this.inner.watch(handlers, resourceVersion, signal);
  };

  /** A 403 the replica owes this election (a blip), answered after a leg; else null. */
  private forbidden(signal: AbortSignal): Promise<never> | null {
    const { replica, name } = this;
    replica.started.add(name);
    const owed = replica.blips.get(name) ?? 0;
    if (owed === 0 || this.world.scheduler.now >= replica.blipUntil) return null;
    replica.blips.set(name, owed - 1);
    return this.world.forbid(replica, name, signal);
  }
}

/**
 * N replicas, each a real {@link LeaderElectionGroup} with a clock of its
 * own, spreading E elections (one Lease each) over a faulty API server in
 * virtual time, with a member directory reached through the same faults;
 * driven by a {@link GroupScenario} and checked by {@link GroupInvariants}.
 */
export class GroupWorld {
  readonly scheduler = new Scheduler();
  readonly trace = new Trace(() => this.scheduler.now);
  readonly invariants: GroupInvariants;
  readonly skewBound: number;
  readonly requestTimeout: number;
  private readonly random: Random;
  private readonly elections: string[];
  private readonly nets = new Map<string, Network>();
  private readonly memberStore: MemberStore;
  private readonly memberNet: MemberNet;
  private readonly directory: DirectoryModel;
  private readonly slots: (Replica | null)[] = Array.from({ length: SLOTS }, () => null);
  private readonly used = new Set<number>();
  private readonly replicas: Replica[] = [];
  private readonly incarnations = Array.from({ length: SLOTS }, () => 0);
  private readonly stopOnAnnounce = new Set<number>();
  private nextId = 0;
  private readonly handoverBackoff: number;
  private readonly maxWork: number;
  private readonly maxRetryDelay: number;
  private quiet: QuietPlan | null = null;
  private end = Number.POSITIVE_INFINITY;

  constructor(
    private readonly scenario: GroupScenario,
    options: GroupWorldOptions = {},
  ) {
    const { timing, seed } = scenario;
    this.random = seededRandom(seed);
    this.directory = options.directory ?? 'current';
    this.requestTimeout = timing.requestTimeout ?? timing.renewDeadline / 2;
    const ratio = timing.leaseDuration / timing.renewDeadline;
    this.skewBound = Math.min(0.05, (0.9 * (ratio - 1)) / (ratio + 1));
    this.handoverBackoff = (1.5 + 1.5 * scenario.backoff) * timing.leaseDuration;
    this.maxWork = (scenario.work * timing.leaseDuration) / 2;
    // The directory's longest pause between follow attempts, as a user would set it for these timings.
    this.maxRetryDelay = Math.min(FaultyMemberDirectory.maxRetryDelay, 4 * timing.leaseDuration);
    this.elections = Array.from({ length: scenario.elections }, (_, i) => `e${i}`);
    // Hung watch connects (up to 20 s, ignoring their abort) are the single-elector simulator's concern.
    const rates = { ...scenario.rates, watchHang: 0 };
    this.elections.forEach((election, i) => {
      const store = new LeaseStore(1000 + (seed % 100_000) + 7919 * i);
      const net = new Network(this.scheduler, store, rates, this.requestTimeout, (id, sentAt, epoch) => {
        const view = this.replicas[id].views.get(election)!;
        if (sentAt >= view.lastWriteSentAt) [view.lastWriteSentAt, view.lastWriteEpoch] = [sentAt, epoch];
      });
      net.comparableVersions = seed % 2 === 0;
      this.nets.set(election, net);
    });
    this.memberStore = new MemberStore(500 + (seed % 1000));
    this.memberNet = new MemberNet(this.scheduler, this.memberStore, rates, scenario.directory, this.requestTimeout);
    this.memberNet.onAnnounce = (id) => this.onAnnounce(id);
    this.invariants = new GroupInvariants(
      this.scheduler,
      timing,
      this.nets,
      this.memberStore,
      this.memberNet,
      () => this.replicas,
      this.directory === 'current',
    );
    this.scheduler.onAdvance((from, to) => this.invariants.beforeAdvance(from, to));
    this.scheduler.uncaught = (error, event) =>
      this.invariants.fail(`uncaught exception in ${event.label}: ${(error as Error)?.stack ?? String(error)}`);
  }

  async run(): Promise<GroupRunResult> {
    const { scheduler, invariants, scenario } = this;
    const onRejection = (reason: unknown) =>
      invariants.fail(`unhandled rejection: ${(reason as Error)?.stack ?? String(reason)}`);
    const onException = (error: Error) => invariants.fail(`uncaught exception: ${error.stack ?? String(error)}`);
    process.on('unhandledRejection', onRejection);
    process.on('uncaughtException', onException);
    const openWatches = (replica: ReplicaView) => {
      let open = 0;
      for (const net of this.nets.values()) open += net.openWatches.get(replica.id) ?? 0;
      return open;
    };
    try {
      for (let slot = 0; slot < scenario.replicas; slot++) {
        scheduler.schedule(between(this.random, 0, 50), null, 'start', () => this.startReplica(slot));
      }
      for (const fault of scenario.faults) {
        scheduler.schedule(fault.at, null, `fault ${fault.kind}`, () => this.apply(fault));
      }
      scheduler.schedule(scenario.faultMs, null, 'faults clear', () => this.clearFaults());
      let instant = scheduler.now;
      let atInstant = 0;
      while (invariants.violation === null && scheduler.now <= this.end) {
        if (!(await scheduler.step(this.end))) {
          scheduler.advanceTo(this.end + 1);
          break;
        }
        invariants.afterStep(openWatches);
        if (scheduler.now > instant) [instant, atInstant] = [scheduler.now, 0];
        if (++atInstant > MAX_STEPS_PER_INSTANT) invariants.fail(`busy loop: ${atInstant} events at one instant`);
        if (scheduler.steps > MAX_STEPS) invariants.fail(`more than ${MAX_STEPS} events`);
        if (scheduler.now > scenario.faultMs + MAX_QUIET_MS) invariants.fail('the run did not settle');
      }
    } finally {
      process.off('unhandledRejection', onRejection);
      process.off('uncaughtException', onException);
      for (const replica of this.replicas) if (!replica.crashed) this.crash(replica, false);
    }
    return {
      violation: invariants.violation,
      trace: this.trace.tail(),
      simulatedMs: scheduler.now,
      steps: scheduler.steps,
      terms: invariants.terms,
      handovers: invariants.handovers,
      quietMs: this.quiet === null ? null : Math.min(scheduler.now, this.end) - this.quiet.from,
    };
  }

  // ------------------------------------------------------------ replicas

  private startReplica(slot: number): Replica {
    const { scheduler, scenario, random } = this;
    const { timing } = scenario;
    const id = this.nextId++;
    const identity = `r${slot}.${this.incarnations[slot]++}`;
    const rate = 1 + scenario.skew[slot] * this.skewBound;
    const offset = between(random, 0, 1000) - rate * scheduler.now;
    const wallOrigin = Date.UTC(2026, 0, 1) + between(random, -2000, 2000);
    const clock = new SimClock(scheduler, id, rate, offset, wallOrigin);
    const replica = new Replica(id, slot, identity, clock, new SimClock(scheduler, id, rate, offset, wallOrigin));
    this.replicas.push(replica);
    this.slots[slot] = replica;
    this.used.add(slot);
    const say = (who: string) => (message: string) => this.trace.add(who, message);
    const logger = (who: string): ElectorLogger => ({
      log: say(who),
      warn: (message) => say(who)(`WARN ${message}`),
      error: (message) => say(who)(`ERROR ${message.split('\n')[0]}`),
    });
    const directory = new FaultyMemberDirectory(
      this.memberNet,
      id,
      clock,
      seededRandom(random() * 2 ** 32),
      say(identity),
      this.directory,
      {
        requestTimeout: this.requestTimeout,
        maxRetryDelay: this.maxRetryDelay,
        ...(scheduler.now > 50 && random() < scenario.slowStarts
          ? { firstListMs: between(random, 0.5, 0.95) * this.requestTimeout }
          : {}),
      },
    );
    replica.group = new LeaderElectionGroup({
      identity,
      elections: this.elections,
      lockFor: (election) =>
        new SimElectionLock(
          election,
          new FaultyLeaseLock(
            this.nets.get(election)!,
            id,
            clock,
            seededRandom(random() * 2 ** 32),
            // Each watched change would be E x N lines: keep the trace to what the electors did.
            (message) => !message.startsWith('watch event') && say(`${identity}/${election}`)(message),
          ),
          this,
          replica,
        ),
      members: directory,
      electorOptions: (election) => ({
        logger: logger(`${identity}/${election}`),
        handoverDrain: () => this.drained(replica, election),
      }),
      leaseDuration: timing.leaseDuration,
      renewDeadline: timing.renewDeadline,
      retryPeriod: timing.retryPeriod,
      ...(timing.requestTimeout === undefined ? {} : { requestTimeout: timing.requestTimeout }),
      handoverBackoff: this.handoverBackoff,
      clock,
      logger: logger(identity),
      random: seededRandom(random() * 2 ** 32),
    });
    for (const [election, elector] of replica.group.electors) {
      const view = new ElectionView(replica, election);
      replica.views.set(election, view);
      this.invariants.addView(view);
      elector.subscribe((event) => this.onEvent(replica, view, event));
    }
    this.trace.add(identity, `start (clock rate ${rate.toFixed(4)})`);
    replica.group.start().then(
      () => (replica.startSettled = true),
      (error: unknown) => {
        replica.startSettled = true;
        this.invariants.fail(`${identity}: start() rejected: ${(error as Error)?.stack ?? String(error)}`);
      },
    );
    this.probe(replica);
    return replica;
  }

  private onEvent(replica: Replica, view: ElectionView, event: LeaderElectionEvent): void {
    if (event.type === 'started-leading') {
      this.trace.add(`${replica.identity}/${view.election}`, `started-leading token ${event.term.fencingToken}`);
    } else if (event.type === 'stopped-leading') {
      this.trace.add(`${replica.identity}/${view.election}`, `stopped-leading (${event.reason})`);
    }
    this.invariants.onEvent(view, event);
    if (event.type === 'started-leading') this.startWork(replica, view, event.term);
  }

  /** Sampled `isLeader` reads by user code, on a random election. */
  private probe(replica: Replica): void {
    const { retryPeriod } = this.scenario.timing;
    this.scheduler.after(between(this.random, 2, 8) * retryPeriod, replica.id, 'probe', () => {
      if (replica.crashed || replica.stopResolvedAt !== null) return;
      const election = this.elections[Math.floor(this.random() * this.elections.length)];
      this.invariants.probe(replica.views.get(election)!, replica.group.electors.get(election)!.isLeader);
      this.probe(replica);
    });
  }

  // ---------------------------------------------------------- leader work

  /**
   * Leader-only work while `term` lasts: every 0.1 to 1 retryPeriod a unit
   * checks `term.signal`, and if the term is live, runs for up to maxWork
   * with a fenced write at its start and at its end.
   */
  private startWork(replica: Replica, view: ElectionView, term: LeadershipTerm): void {
    const { random } = this;
    const { retryPeriod } = this.scenario.timing;
    const units = replica.work.get(view.election) ?? new Set<Unit>();
    replica.work.set(view.election, units);
    const tick = () => {
      if (replica.crashed || term.signal.aborted) return;
      this.invariants.workStarted(view, term);
      const unit: Unit = { term };
      units.add(unit);
      this.invariants.fencedWrite(view, term);
      replica.workClock.setTimeout(() => {
        this.invariants.fencedWrite(view, term);
        units.delete(unit);
        if (units.size > 0) return;
        for (const done of replica.drains.get(view.election)?.splice(0) ?? []) done();
      }, random() * this.maxWork);
      replica.workClock.setTimeout(tick, between(random, 0.1, 1) * retryPeriod);
    };
    replica.workClock.setTimeout(tick, between(random, 0, 0.5) * retryPeriod);
  }

  /** The drain of an election (handover or stop): resolves once none of its work runs. */
  private drained(replica: Replica, election: string): Promise<void> {
    if (replica.running(election) === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const waiting = replica.drains.get(election) ?? [];
      replica.drains.set(election, waiting);
      waiting.push(resolve);
    });
  }

  releaseSent(replica: Replica, election: string): void {
    this.invariants.releaseSent(replica.views.get(election)!, replica.running(election));
  }

  /** A 403 answer to a blipped request, after one leg; honours the abort. Counts as a failed request. */
  forbid(replica: Replica, election: string, signal: AbortSignal): Promise<never> {
    const net = this.nets.get(election)!;
    net.countFault(replica.id);
    this.trace.add(`${replica.identity}/${election}`, 'blip: 403');
    return new Promise<never>((_, reject) => {
      if (signal.aborted) return reject(new LeaseTimeoutError('aborted before it was sent'));
      const onAbort = () => {
        event.cancelled = true;
        reject(new LeaseTimeoutError('aborted'));
      };
      const event = this.scheduler.after(between(this.random, 0.4, 40), replica.id, 'forbidden answer', () => {
        signal.removeEventListener('abort', onAbort);
        reject(new LeaseForbiddenError('leases.coordination.k8s.io is forbidden (sim blip)', { status: 403 }));
      });
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  // -------------------------------------------------------------- faults

  private stop(replica: Replica): void {
    if (!replica.alive) return;
    const { scheduler, scenario } = this;
    const { renewDeadline } = scenario.timing;
    const rt = this.requestTimeout;
    replica.stopping = true;
    replica.stopCalledAt = scheduler.now;
    const leaseFaults = this.elections.map((election) => this.nets.get(election)!.faulted.get(replica.id) ?? 0);
    this.trace.add(replica.identity, 'stop()');
    // Each elector: drain, then up to 4 x requestTimeout for its loop and release; the group's own announce
    // and evictions run one request at a time, each within requestTimeout.
    const records = this.replicas.length + 2;
    const bound =
      (Math.max(this.maxWork + 4 * rt + renewDeadline + 100, (records + 3) * rt) + 100) / (1 - this.skewBound);
    scheduler.schedule(scheduler.resumesAt(replica.id) + bound, null, 'stop bound', () => {
      if (!replica.crashed && replica.stopResolvedAt === null) {
        this.invariants.fail(`${replica.identity}: stop() did not resolve within ${bound.toFixed(0)}ms`);
      }
    });
    replica.group.stop({ drain: (election) => this.drained(replica, election) }).then(
      () => {
        if (replica.crashed) return;
        replica.stopResolvedAt = scheduler.now;
        this.trace.add(replica.identity, 'stop() resolved');
        // A member request that failed around the stop may land (or not) on its own: no claim on the record then.
        const cleanMembers = !this.memberNet.faultedSince(replica.id, replica.stopCalledAt! - 2 * rt);
        const cleanLeases = this.elections.filter(
          (election, i) => (this.nets.get(election)!.faulted.get(replica.id) ?? 0) === leaseFaults[i],
        );
        this.invariants.stopResolved(replica, cleanMembers, cleanLeases, () => replica.startSettled);
      },
      (error: unknown) => this.invariants.fail(`${replica.identity}: stop() rejected: ${String(error)}`),
    );
  }

  private crash(replica: Replica, trace = true): void {
    if (replica.crashed) return;
    if (trace) this.trace.add(replica.identity, 'CRASH');
    replica.crashed = true;
    this.scheduler.kill(replica.id);
    replica.clock.killAll();
    replica.workClock.killAll();
    for (const net of this.nets.values()) net.crash(replica.id);
    this.memberNet.crash(replica.id);
    this.invariants.crashed(replica);
    replica.work.clear();
    replica.drains.clear();
  }

  private onAnnounce(id: number): void {
    if (!this.stopOnAnnounce.delete(id)) return;
    const replica = this.replicas[id];
    // The announce's first request is on its way: stop within its first leg or so.
    this.scheduler.after(between(this.random, 0, 30), null, 'stop during an announce', () => this.stop(replica));
  }

  /** A live replica by index (`slot` modulo the live count), or null. */
  private target(slot: number): Replica | null {
    const live = this.slots.filter((replica): replica is Replica => replica !== null && replica.alive);
    return live.length === 0 ? null : live[slot % live.length];
  }

  /** The first slot without a live or stopping process, or null. */
  private emptySlot(): number | null {
    const slot = this.slots.findIndex((replica) => this.vacant(replica));
    return slot < 0 ? null : slot;
  }

  private vacant(replica: Replica | null): boolean {
    return replica === null || replica.crashed || replica.stopResolvedAt !== null;
  }

  private apply(fault: GroupFault): void {
    const { scheduler, scenario } = this;
    const { leaseDuration } = scenario.timing;
    const until = (ms: number) => Math.min(scheduler.now + ms, scenario.faultMs);
    switch (fault.kind) {
      case 'crash': {
        const replica = this.target(fault.slot);
        if (replica) this.crash(replica);
        return;
      }
      case 'restart': {
        const replica = this.target(fault.slot);
        if (!replica) return;
        this.crash(replica);
        this.startReplica(replica.slot);
        return;
      }
      case 'leave': {
        const replica = this.target(fault.slot);
        if (replica) this.stop(replica);
        return;
      }
      case 'join': {
        const slot = this.emptySlot();
        if (slot !== null) this.startReplica(slot);
        return;
      }
      case 'stop-during-announce': {
        const replica = this.target(fault.slot);
        if (replica) this.stopOnAnnounce.add(replica.id);
        return;
      }
      case 'stop-during-start': {
        const slot = this.emptySlot();
        if (slot === null) return;
        const replica = this.startReplica(slot);
        const delay = fault.delay * (this.requestTimeout + scenario.timing.retryPeriod);
        scheduler.after(delay, null, 'stop during start', () => this.stop(replica));
        return;
      }
      case 'stall': {
        const replica = this.target(fault.slot);
        if (!replica) return;
        const end = until(fault.span ** 2 * 2.5 * leaseDuration);
        this.trace.add(replica.identity, `STALL until ${end.toFixed(1)}`);
        scheduler.stall(replica.id, end);
        return;
      }
      case 'partition': {
        const replica = this.target(fault.slot);
        if (!replica) return;
        const end = until(fault.span * 1.5 * leaseDuration);
        this.trace.add(replica.identity, `PARTITION until ${end.toFixed(1)}`);
        for (const net of this.nets.values()) net.partition(replica.id, end);
        this.memberNet.partition(replica.id, end);
        return;
      }
      case 'forbid-blip': {
        const replica = this.target(fault.slot);
        if (!replica) return;
        for (const election of this.elections) replica.blips.set(election, fault.span < 0.5 ? 1 : 2);
        replica.blipUntil = until(leaseDuration / 2);
        this.trace.add(replica.identity, `403 blip until ${replica.blipUntil.toFixed(1)}`);
        return;
      }
      case 'member-watch-stall': {
        const replica = this.target(fault.slot);
        if (!replica) return;
        this.trace.add(replica.identity, 'member watch goes silent');
        this.memberNet.silenceWatches(replica.id);
        return;
      }
    }
  }

  // --------------------------------------------------------- quiet phase

  /** Slots used so far and now empty get a fresh process, as a Deployment would. */
  private refill(): void {
    for (const slot of this.used) if (this.vacant(this.slots[slot])) this.startReplica(slot);
  }

  private clearFaults(): void {
    const { scheduler } = this;
    for (const net of this.nets.values()) net.faulty = false;
    this.memberNet.faulty = false;
    this.stopOnAnnounce.clear();
    this.trace.add('world', 'faults clear');
    this.refill();
    const settle = () => {
      if (this.replicas.some((replica) => replica.stopping && !replica.crashed && replica.stopResolvedAt === null)) {
        scheduler.after(100, null, 'await stops', settle);
        return;
      }
      this.refill();
      this.beginQuiet();
    };
    // Requests sent while faulty settle within 1.2 x requestTimeout.
    scheduler.after(1.2 * this.requestTimeout, null, 'faults settled', settle);
  }

  /**
   * The quiet phase's bounds, derived in the README (global ms; local
   * durations divided by 1 - skew, 20 ms per request leg).
   */
  private beginQuiet(): void {
    const { scheduler, scenario } = this;
    const { leaseDuration: L, renewDeadline: D, retryPeriod: R } = scenario.timing;
    const rt = this.requestTimeout;
    const leg = this.memberNet.quietLatency;
    const local = (ms: number) => ms / (1 - this.skewBound);
    // The group's defaults: rankStep min(100, R / 2), memberSettle R, minTermHold L / 2.
    const rankStep = Math.min(100, R / 2);
    // Every identity ever started may still be in some view, ranked ahead; the one that handed over stands
    // back (members + ceil(2 R / rankStep)) ranks.
    const standBack = (this.replicas.length + 1) * rankStep + 2 * R;
    const bootstrap = local(rt + R) + 8 * leg;
    const core = local(L + 2 * 2.2 * R + standBack + 10) + 6 * leg + 10;
    const gap = local(this.maxWork + 2.2 * R + standBack + 10) + 12 * leg + 10;
    const from = scheduler.now;
    const recovery = Math.max(this.maxRetryDelay, L) + 2.4 * rt + 1000;
    const viewAt = from + local(Math.max(recovery + 1.5 * L, this.handoverBackoff + L)) + 20 * leg;
    const blipAt = viewAt + local(0.25 * L * (scenario.quietBlip ?? 0));
    const afterBlip = local(0.25 * L + D) + core;
    const rebalance = local(L / 2 + 2 * R) + gap;
    const loadAt = viewAt + Math.max(local(this.handoverBackoff), afterBlip) + rebalance;
    this.quiet = { from, liveness: bootstrap + core, gap, loss: core, viewAt, loadAt };
    this.end = loadAt + local(L + 2 * R);
    this.trace.add(
      'world',
      `quiet: led within ${(bootstrap + core).toFixed(0)}ms, gaps ${gap.toFixed(0)}ms, views at ` +
        `${viewAt.toFixed(0)}, loads at ${loadAt.toFixed(0)}, end ${this.end.toFixed(0)}`,
    );
    this.invariants.startQuiet(this.quiet);
    if (scenario.quietBlip !== null) scheduler.schedule(blipAt, null, 'quiet blip', () => this.quietBlip());
  }

  /**
   * One transient 403: the slow-path read of one renewal of the busiest
   * replica (its optimistic PUT fails too, which the elector does not count).
   * A replica must not withdraw over it.
   */
  private quietBlip(): void {
    let busiest: Replica | null = null;
    let most = -1;
    for (const replica of this.replicas) {
      if (!replica.alive) continue;
      const leading = replica.group.leading.length;
      if (leading > most) [busiest, most] = [replica, leading];
    }
    const election = busiest?.group.leading[0];
    if (!busiest || election === undefined) return;
    busiest.blips.set(election, 2);
    busiest.blipUntil = this.scheduler.now + 2 * this.scenario.timing.retryPeriod;
    this.trace.add(busiest.identity, `quiet 403 blip on ${election}`);
  }
}

/** Runs one group scenario to its end or first violation. */
export function runGroupScenario(scenario: GroupScenario, options: GroupWorldOptions = {}): Promise<GroupRunResult> {
  return new GroupWorld(scenario, options).run();
}
