import {
  formatMicroTime,
  LeaderElector,
  LeaseUnavailableError,
  sleep,
  type ElectorLogger,
  type LeaderElectionEvent,
  type LeaderElectionListener,
} from '../../lib/elector/internal.js';
import { Coordinator } from './coordinator.js';
import { FaultyLeaseLock, Network } from './faulty-lease-lock.js';
import { Invariants, type NodeView } from './invariants.js';
import { LeaseStore } from './lease-store.js';
import { between, seededRandom, type Random } from './random.js';
import type { CoordinatedPlan, Fault, QuietCrash, Scenario } from './scenario.js';
import { Scheduler, SimClock } from './scheduler.js';
import { Trace } from './trace.js';
import { Jobs, type NodeJobs, type WorkStats } from './work.js';

/** What one run did. */
export interface RunResult {
  violation: string | null;
  /** The last events before the end (or the violation). */
  trace: string;
  simulatedMs: number;
  steps: number;
  terms: number;
  /** When a leader existed after faults cleared, relative to that moment; null if never. */
  leaderAfterMs: number | null;
  /** When a new leader existed after the quiet-phase crash, relative to it; null if none was staged. */
  failoverMs: number | null;
  /** Its bound, or null. */
  failoverBoundMs: number | null;
  /** Leader work totals, or null without work. */
  work: WorkStats | null;
  /** Coordinated runs: the coordinator's holder assignments and preemptions, or null. */
  coordinator: { assignments: number; preemptions: number } | null;
  /** When the quiet-phase preferred candidate led, relative to its preemption; null if none was staged. */
  preemptMs: number | null;
  /** Its bound, or null. */
  preemptBoundMs: number | null;
}

/** Virtual ms after which a stuck instant is reported as a busy loop. */
const MAX_STEPS_PER_INSTANT = 50_000;
const MAX_STEPS = 4_000_000;
/** Longest quiet phase: settling plus the liveness bound stay far below it. */
const MAX_QUIET_MS = 600_000;
/** Coordinated runs: a crashed candidate's LeaseCandidate goes stale this share of leaseDuration after the crash. */
const CANDIDATE_STALE = 0.5;

class SimNode implements NodeView {
  crashed = false;
  stopping = false;
  lastWriteSentAt = Number.NEGATIVE_INFINITY;
  lastWriteEpoch = 0;
  stopResolvedAt: number | null = null;
  stopOnStart = false;
  rejectNext = false;
  throwingLogger = false;
  /** As the last `follower-mode` event said: changes stream (else it polls). */
  watching = false;
  elector!: LeaderElector;
  /** Its leader work, in runs with work. */
  jobs: NodeJobs | null = null;

  constructor(
    readonly id: number,
    readonly slot: number,
    readonly identity: string,
    readonly clock: SimClock,
  ) {}

  get alive(): boolean {
    return !this.crashed && !this.stopping;
  }
}

/** A rejected promise that notes whether anybody attached a handler (the simulator's own one aside). */
function trackedRejection(error: Error): { promise: Promise<void>; handled: () => boolean } {
  const promise = Promise.reject(error);
  // Ours, so the process never sees it; attached before `then` is wrapped below.
  Promise.prototype.catch.call(promise, () => undefined);
  let handled = false;
  const then = Promise.prototype.then;
  Object.defineProperty(promise, 'then', {
    value(this: Promise<void>, ...args: Parameters<Promise<void>['then']>) {
      handled = true;
      return then.apply(this, args);
    },
  });
  // Not `Promise`, so `await` and `Promise.resolve` go through `then` too.
  Object.defineProperty(promise, 'constructor', { value: undefined });
  return { promise, handled: () => handled };
}

/**
 * N electors over one faulty API server in virtual time, driven by a
 * {@link Scenario}; every step is checked by {@link Invariants}.
 */
export class World {
  readonly scheduler = new Scheduler();
  readonly trace = new Trace(() => this.scheduler.now);
  readonly invariants: Invariants;
  private readonly net: Network;
  private readonly store: LeaseStore;
  private readonly random: Random;
  private readonly slots: (SimNode | null)[];
  private readonly nodes: SimNode[] = [];
  private readonly incarnations: number[];
  private nextId = 0;
  private intruders = 0;
  private readonly jobs: Jobs | null = null;
  private readonly coordinator: Coordinator | null = null;
  /** Coordinated runs: each slot's current version. */
  private readonly versions: number[] = [];
  /** The quiet-phase preemption: who joins, and when the coordinator preferred it. */
  private preemption: { joiner: SimNode; at: number | null; bound: number | null; ledAt: number | null } | null = null;
  /** Largest clock-rate deviation from 1 allowed by the guarantee (with margin). */
  readonly skewBound: number;
  readonly requestTimeout: number;

  constructor(private readonly scenario: Scenario) {
    const { timing, seed } = scenario;
    this.random = seededRandom(seed);
    this.requestTimeout = timing.requestTimeout ?? timing.renewDeadline / 2;
    const ratio = timing.leaseDuration / timing.renewDeadline;
    // Rates in [1 - s, 1 + s] keep (1 + s) / (1 - s) below 0.9 of leaseDuration / renewDeadline's margin.
    this.skewBound = Math.min(0.05, (0.9 * (ratio - 1)) / (ratio + 1));
    this.store = new LeaseStore(1000 + (seed % 100_000));
    this.net = new Network(this.scheduler, this.store, scenario.rates, this.requestTimeout, (id, sentAt, epoch) => {
      const node = this.nodes[id];
      if (sentAt >= node.lastWriteSentAt) [node.lastWriteSentAt, node.lastWriteEpoch] = [sentAt, epoch];
    });
    // Half the worlds are Kubernetes >= 1.35 (comparable resourceVersions), half older.
    this.net.comparableVersions = seed % 2 === 0;
    this.invariants = new Invariants(this.scheduler, this.net, timing, 5);
    this.slots = Array.from({ length: scenario.nodes }, () => null);
    // One more slot in coordinated runs: the quiet-phase joiner.
    this.incarnations = Array.from({ length: scenario.nodes + 1 }, () => 0);
    const work = scenario.work ?? null;
    if (work) this.jobs = new Jobs(this.scheduler, this.invariants, timing, this.trace, work, seed);
    const coordinated = scenario.coordinated;
    if (coordinated) {
      this.coordinator = new Coordinator(
        this.scheduler,
        this.store,
        this.trace,
        timing.leaseDuration,
        coordinated.reactMs,
      );
      this.coordinator.onPreempt = (_holder, preferred) => this.preempted(preferred);
      this.versions = [...coordinated.versions];
    }
    this.scheduler.onAdvance((from, to) => this.invariants.beforeAdvance(from, to, this.nodes));
    this.scheduler.uncaught = (error, event) =>
      this.invariants.fail(`uncaught exception in ${event.label}: ${(error as Error)?.stack ?? String(error)}`);
  }

  /**
   * The liveness bound counted from the moment faults have cleared and
   * settled: a candidate first observes the last record within one jittered
   * poll (2.2 x retryPeriod), waits leaseDuration by its own clock, and
   * attempts within another jittered poll; clocks run at >= 1 - skew, and
   * each of at most three requests takes <= 2 x 20 ms.
   */
  get livenessBound(): number {
    const { leaseDuration, retryPeriod } = this.scenario.timing;
    const leg = this.net.quietLatency;
    if (this.scenario.coordinated) {
      // Coordinated: a crashed candidate goes stale within CANDIDATE_STALE x leaseDuration, a claim the
      // coordinator gave it just before lapses within leaseDuration by the coordinator's clock, then the best live
      // candidate sees its claim within one jittered poll (or a leaseDuration re-read, 2.2 x retryPeriod more after a
      // 409 with a wedged watch); a GET and a PUT, maybe after an attempt in flight, and the coordinator's delay.
      const stale = CANDIDATE_STALE * leaseDuration;
      const reread = (leaseDuration + 2.2 * retryPeriod) / (1 - this.skewBound);
      return stale + leaseDuration + reread + 10 * leg + this.scenario.coordinated.reactMs + 10;
    }
    return (leaseDuration + 2 * 2.2 * retryPeriod) / (1 - this.skewBound) + 6 * leg + 10;
  }

  async run(): Promise<RunResult> {
    const { scheduler, invariants, scenario } = this;
    const onRejection = (reason: unknown) =>
      invariants.fail(`unhandled rejection: ${(reason as Error)?.stack ?? String(reason)}`);
    const onException = (error: Error) => invariants.fail(`uncaught exception: ${error.stack ?? String(error)}`);
    process.on('unhandledRejection', onRejection);
    process.on('uncaughtException', onException);
    try {
      for (let slot = 0; slot < scenario.nodes; slot++) {
        scheduler.schedule(between(this.random, 0, 50), null, 'start', () => this.startNode(slot));
      }
      for (const fault of scenario.faults)
        scheduler.schedule(fault.at, null, `fault ${fault.kind}`, () => this.apply(fault));
      scheduler.schedule(scenario.faultMs, null, 'faults clear', () => this.clearFaults());
      let end = Number.POSITIVE_INFINITY;
      let instant = scheduler.now;
      let atInstant = 0;
      while (invariants.violation === null && scheduler.now <= end) {
        if (!(await scheduler.step(end))) {
          scheduler.advanceTo(end + 1);
          break;
        }
        invariants.afterStep();
        if (scheduler.now > instant) [instant, atInstant] = [scheduler.now, 0];
        if (++atInstant > MAX_STEPS_PER_INSTANT) invariants.fail(`busy loop: ${atInstant} events at one instant`);
        if (scheduler.steps > MAX_STEPS) invariants.fail(`more than ${MAX_STEPS} events`);
        if (scheduler.now > scenario.faultMs + MAX_QUIET_MS) invariants.fail('the run did not settle');
        if (scenario.quiet && !this.quietPlanned && invariants.livenessMet !== null) {
          this.quietPlanned = true;
          this.planQuietCrash(scenario.quiet);
        }
        if (scenario.coordinated && !this.quietPlanned && invariants.livenessMet !== null) {
          this.quietPlanned = true;
          this.planQuietPreemption(scenario.coordinated);
        }
        if (this.livenessFrom !== null) {
          end = Math.max(this.livenessFrom + this.livenessBound + scenario.timing.leaseDuration, this.quietUntil);
        }
      }
    } finally {
      process.off('unhandledRejection', onRejection);
      process.off('uncaughtException', onException);
      for (const node of this.nodes) if (!node.crashed) this.crash(node, false);
    }
    const met = invariants.livenessMet;
    return {
      violation: invariants.violation,
      trace: this.trace.tail(),
      simulatedMs: scheduler.now,
      steps: scheduler.steps,
      terms: invariants.terms.length,
      leaderAfterMs: met === null || this.livenessFrom === null ? null : met - this.livenessFrom,
      failoverMs: invariants.failoverAfter,
      failoverBoundMs: this.failoverBoundMs,
      work: this.jobs ? { ...this.jobs.stats } : null,
      coordinator: this.coordinator
        ? { assignments: this.coordinator.assignments, preemptions: this.coordinator.preemptions }
        : null,
      preemptMs:
        this.preemption?.at != null && this.preemption.ledAt !== null
          ? this.preemption.ledAt - this.preemption.at
          : null,
      preemptBoundMs: this.preemption?.bound ?? null,
    };
  }

  /**
   * Coordinated runs, quiet phase: once a leader emerged, it runs a job of its own, and a candidate of version 0
   * (better than any) joins, so the coordinator names it `preferredHolder` at some P. It must lead by
   * P + {@link preemptionBound}.
   */
  private planQuietPreemption(plan: CoordinatedPlan): void {
    const { scheduler, scenario } = this;
    const { leaseDuration, renewDeadline, retryPeriod } = scenario.timing;
    this.quietUntil = Number.POSITIVE_INFINITY;
    let tries = 0;
    const begin = () => {
      const leader = this.nodes.find((node) => node.alive && this.invariants.leading(node));
      if (!leader) {
        if (++tries <= 20) scheduler.after(retryPeriod, null, 'quiet preemption: await a leader', begin);
        else this.quietUntil = 0;
        return;
      }
      for (const node of this.nodes) [node.stopOnStart, node.rejectNext] = [false, false];
      for (let slot = 0; slot < this.slots.length; slot++) {
        const node = this.slots[slot];
        if (!node || node.crashed || node.stopResolvedAt !== null) this.startNode(slot);
      }
      const jobMs = (0.2 + 1.4 * plan.job) * renewDeadline;
      leader.jobs!.longJob(jobMs);
      const joiner = this.startNode(scenario.nodes, 0);
      this.preemption = { joiner, at: null, bound: null, ledAt: null };
      this.trace.add(
        'world',
        `quiet preemption: ${joiner.identity} joins; ${leader.identity} runs a ${jobMs.toFixed(0)}ms job`,
      );
      const joinedAt = scheduler.now;
      scheduler.after(plan.reactMs + 2 * leaseDuration, null, 'quiet preemption: preferred?', () => {
        if (this.preemption?.at === null) {
          this.invariants.fail(
            `the coordinator never preferred ${joiner.identity}, which joined at ${joinedAt.toFixed(1)}`,
          );
        }
      });
    };
    scheduler.after((1 + plan.settle) * leaseDuration, null, 'quiet preemption', begin);
  }

  /**
   * From the preemption P: the holder's claim lapses by P + leaseDuration on the coordinator's clock (its last
   * renewal reached the server before P; after a drain that ended in time it releases earlier), the coordinator
   * acts within its delay, the preferred candidate's watch delivers the claim within one leg, it tries within
   * 5 ms of spread and 1 ms of timer truncation, with a GET and a PUT, after at most one attempt in flight.
   */
  private get preemptionBound(): number {
    const leg = this.net.quietLatency;
    return this.scenario.timing.leaseDuration + this.scenario.coordinated!.reactMs + 6 + 9 * leg + 10;
  }

  /** The coordinator prefers `identity`: if it is the quiet-phase joiner, it must lead in time. */
  private preempted(identity: string): void {
    const preemption = this.preemption;
    if (preemption === null || preemption.at !== null || preemption.joiner.identity !== identity) return;
    const { scheduler } = this;
    const bound = this.preemptionBound;
    [preemption.at, preemption.bound] = [scheduler.now, bound];
    this.trace.add('world', `${identity} preferred: it must lead within ${bound.toFixed(0)}ms`);
    this.quietUntil = scheduler.now + bound + this.scenario.timing.leaseDuration;
    scheduler.after(bound, null, 'preemption check', () => {
      const led = this.invariants.terms.find((record) => record.node === preemption.joiner);
      if (led) preemption.ledAt = led.start;
      else
        this.invariants.fail(
          `${identity} did not lead within ${bound.toFixed(0)}ms of its preemption at ${preemption.at!.toFixed(1)}`,
        );
    });
  }

  private livenessFrom: number | null = null;
  private quietPlanned = false;
  private failoverBoundMs: number | null = null;
  /** The run goes on at least until then: infinite while a quiet-phase crash is still to come. */
  private quietUntil = 0;

  /**
   * The failover bound after a quiet-phase crash, from the crash: the dead leader's last write reaches the
   * server within one leg; a watching follower sees it within another and tries exactly at its expiry
   * (leaseDuration by its own clock, plus <= 5 ms of spread and 1 ms of timer truncation), then GET and PUT,
   * one more GET if an attempt was in flight at the expiry, and a reopened watch's round trip. Without a
   * watching follower, a polling one first sees the last write within one jittered poll (2.2 x retryPeriod)
   * and still tries exactly at the expiry. A watch that ended cleanly counts as down while it reconnects, so
   * a `slow` reconnect adds nothing: the follower polls meanwhile.
   */
  failoverBound(variant: QuietCrash['watch'], watchingFollower: boolean): number {
    const { leaseDuration, retryPeriod } = this.scenario.timing;
    const leg = this.net.quietLatency;
    const local = (ms: number) => ms / (1 - this.skewBound);
    if (watchingFollower && (variant === 'healthy' || variant === 'replay')) {
      return leg + local(leaseDuration + 10) + 8 * leg + 10;
    }
    return leg + local(leaseDuration + 2.2 * retryPeriod + 10) + 10 * leg + 10;
  }

  /** Stages the quiet-phase crash: watches go down (or replay), then the leader crashes; see {@link QuietCrash}. */
  private planQuietCrash(quiet: QuietCrash): void {
    const { scheduler, net, store, trace } = this;
    const { leaseDuration } = this.scenario.timing;
    this.quietUntil = Number.POSITIVE_INFINITY;
    const leader = () => this.nodes.find((node) => node.alive && this.invariants.leading(node)) ?? null;
    let tries = 0;
    const begin = () => {
      if (leader() === null) {
        // A leader is being replaced (say a stop-on-start left over from the faults): try again shortly.
        if (++tries <= 20)
          scheduler.after(this.scenario.timing.retryPeriod, null, 'quiet crash: await a leader', begin);
        else this.quietUntil = 0;
        return;
      }
      for (const node of this.nodes) [node.stopOnStart, node.rejectNext] = [false, false];
      // Slots left empty by stops that resolved after the faults cleared get a fresh process, as a Deployment would.
      for (let slot = 0; slot < this.slots.length; slot++) {
        const node = this.slots[slot];
        if (!node || node.crashed || node.stopResolvedAt !== null) this.startNode(slot);
      }
      // At least two renewals after the watch fault: what the followers saw last is then stale.
      const crashAt = scheduler.now + (2 + 2 * quiet.offset) * this.scenario.timing.retryPeriod;
      if (quiet.watch === 'broken' || quiet.watch === 'forbidden' || quiet.watch === 'slow') {
        const kind = quiet.watch === 'broken' ? 'error' : quiet.watch;
        net.watchOutage = { kind, until: crashAt + (0.5 + 2 * quiet.span) * leaseDuration };
        trace.add('world', `watch outage (${kind}) until ${net.watchOutage.until.toFixed(1)}`);
        for (const node of this.nodes) {
          for (const stream of net.streamsOf(node.id)) {
            stream.end(kind === 'slow' ? undefined : new LeaseUnavailableError('watch stream broke', { status: 503 }));
          }
        }
      }
      scheduler.schedule(crashAt, null, 'quiet crash', () => {
        const victim = leader();
        const wedged = (node: SimNode) => (net.hungUntil.get(node.id) ?? 0) > scheduler.now;
        if (victim === null || !this.nodes.some((node) => node !== victim && node.alive && !wedged(node))) {
          trace.add('world', 'quiet crash: nobody leads or nobody follows, skipped');
          this.quietUntil = 0;
          return;
        }
        // A follower whose watch connect hangs ignoring its abort (left over from the faults) is wedged: it counts
        // as watching and does not poll, and the health check reports it. It is held to no bound of its own.
        const followers = this.nodes.filter((node) => node !== victim && node.alive && !wedged(node));
        const watchingAtCrash = followers.map((node) => node.watching);
        const bounds = followers.map((node, i) => this.failoverBound(quiet.watch, watchingAtCrash[i]));
        this.crash(victim);
        const bound = Math.min(...bounds);
        this.failoverBoundMs = bound;
        trace.add('world', `quiet crash of ${victim.identity}: a new leader due within ${bound.toFixed(0)}ms`);
        const what = `the quiet crash of ${victim.identity} (${quiet.watch} watches)`;
        this.invariants.startFailover(bound, what);
        // Each follower on its own must be ready to take over by its bound: by then it no longer names the dead
        // leader (so one that is slow to notice cannot hide behind a faster one).
        const crashedAt = scheduler.now;
        followers.forEach((node, i) =>
          scheduler.after(bounds[i], null, 'failover: follower check', () => {
            if (!node.alive) return;
            const named = node.elector.leader;
            // Naming a live node is fine: its winning write may be seen before its answer arrives.
            if (named !== null && !this.nodes.some((other) => other.identity === named && other.alive)) {
              this.invariants.fail(
                `${node.identity} still names ${named} as leader ${bounds[i].toFixed(0)}ms after ${what} at ` +
                  `${crashedAt.toFixed(1)} (its bound, ${watchingAtCrash[i] ? 'watching' : 'polling'} at the crash)`,
              );
            }
          }),
        );
        this.quietUntil = scheduler.now + Math.max(...bounds) + leaseDuration;
        if (quiet.watch !== 'replay') return;
        scheduler.after((0.1 + 0.5 * quiet.replayAt) * leaseDuration, null, 'quiet replay', () => {
          for (const node of this.nodes) {
            if (!node.alive) continue;
            for (const stream of net.streamsOf(node.id)) {
              const old = store.older(this.random());
              if (old) stream.inject(old);
            }
          }
          trace.add('world', 'open watches replay an older record');
        });
      });
    };
    scheduler.after((1 + quiet.settle) * leaseDuration, null, 'quiet crash: watches', begin);
  }

  /** Starts a process in `slot` (the slot past the last is the quiet-phase joiner, of `version`). */
  private startNode(slot: number, version?: number): SimNode {
    const { scheduler, scenario, random } = this;
    const { timing } = scenario;
    const id = this.nextId++;
    const incarnation = this.incarnations[slot]++;
    const identity = `n${slot}.${incarnation}`;
    const rate = 1 + (scenario.skew[slot] ?? 0) * this.skewBound;
    // A new process: its monotonic clock starts near zero, at a fractional ms.
    const offset = between(random, 0, 1000) - rate * scheduler.now;
    const wallOrigin = Date.UTC(2026, 0, 1) + between(random, -2000, 2000);
    const clock = new SimClock(scheduler, id, rate, offset, wallOrigin);
    const node = new SimNode(id, slot, identity, clock);
    this.nodes.push(node);
    if (slot < scenario.nodes) this.slots[slot] = node;
    const say = (message: string) => this.trace.add(identity, message);
    const logger: ElectorLogger = {
      log: say,
      warn: (message) => {
        if (node.throwingLogger) {
          node.throwingLogger = false;
          throw new Error('logger failed');
        }
        say(`WARN ${message}`);
      },
      error: (message) => say(`ERROR ${message.split('\n')[0]}`),
    };
    const lock = new FaultyLeaseLock(this.net, id, clock, seededRandom(random() * 2 ** 32), say);
    node.elector = new LeaderElector({
      lock,
      clock,
      identity,
      logger,
      random: seededRandom(random() * 2 ** 32),
      leaseDuration: timing.leaseDuration,
      renewDeadline: timing.renewDeadline,
      retryPeriod: timing.retryPeriod,
      ...(timing.requestTimeout === undefined ? {} : { requestTimeout: timing.requestTimeout }),
      ...(scenario.coordinated
        ? {
            coordinated: true,
            // Waits for the node's leader work; longer than any renew deadline, so a drain that times out lets
            // the Lease lapse rather than hand it over under running work.
            handoverDrain: async () => void (await node.jobs?.drain(3 * timing.leaseDuration, 'handover')),
          }
        : {}),
    });
    for (const listener of this.listeners(node)) node.elector.subscribe(listener);
    if (this.jobs) node.jobs = this.jobs.attach(node);
    if (this.coordinator) {
      // A restart may come back as another version (an upgrade or a rollback).
      if (version === undefined && incarnation > 0 && this.jobs!.random() < scenario.coordinated!.upgrade) {
        this.versions[slot] = 1 + Math.floor(this.jobs!.random() * 3);
      }
      version ??= this.versions[slot];
      this.coordinator.join(identity, version);
    }
    say(`start (clock rate ${rate.toFixed(4)}${this.coordinator ? `, version ${version}` : ''})`);
    node.elector.start();
    this.probe(node);
    return node;
  }

  /** Five listeners per node, as user code registers them; the checks compare what each saw. */
  private listeners(node: SimNode): LeaderElectionListener[] {
    const { invariants } = this;
    const describe = (event: LeaderElectionEvent): string => {
      switch (event.type) {
        case 'started-leading':
          return `started-leading token ${event.term.fencingToken}`;
        case 'stopped-leading':
          return `stopped-leading (${event.reason})`;
        case 'new-leader':
          return `new-leader ${event.identity}`;
        case 'error':
          return `error ${event.operation} ${event.error.reason}`;
        case 'follower-mode':
          return `follower-mode ${event.mode}`;
        default:
          return event.type;
      }
    };
    return [
      (event) => {
        if (event.type !== 'renewed') this.trace.add(node.identity, describe(event));
        if (event.type === 'follower-mode') node.watching = event.mode === 'watch';
        invariants.onListener(node, 0, event);
      },
      (event) => {
        invariants.onListener(node, 1, event);
        // Reads from inside handlers, as leader-only code does; they re-check the deadline.
        if (event.type === 'started-leading' || event.type === 'stopped-leading') {
          const leading = node.elector.isLeader;
          const aborted = event.term.signal.aborted;
          this.trace.add(node.identity, `  handler reads isLeader=${leading} signal.aborted=${aborted}`);
        }
      },
      (event) => {
        invariants.onListener(node, 2, event);
        if (event.type === 'started-leading' && node.stopOnStart) {
          node.stopOnStart = false;
          this.stop(node, 0);
        }
      },
      // An async listener: a rejection must be caught by the elector.
      (event) => {
        invariants.onListener(node, 3, event);
        if (!node.rejectNext || event.type !== 'started-leading') return;
        node.rejectNext = false;
        const { promise, handled } = trackedRejection(new Error('async listener failed'));
        invariants.trackRejection(node, handled);
        return promise as unknown as void;
      },
      (event) => invariants.onListener(node, 4, event),
    ];
  }

  /** Sampled `isLeader` reads by user code running on the node. */
  private probe(node: SimNode): void {
    const { retryPeriod } = this.scenario.timing;
    this.scheduler.after(between(this.random, 2, 8) * retryPeriod, node.id, 'probe', () => {
      if (node.crashed || node.stopResolvedAt !== null) return;
      this.invariants.onProbe(node, node.elector.isLeader);
      this.probe(node);
    });
  }

  private stop(node: SimNode, drainMs: number): void {
    if (!node.alive) return;
    node.stopping = true;
    const faultsBefore = this.net.faulted.get(node.id) ?? 0;
    this.trace.add(node.identity, `stop()${drainMs > 0 ? ` with a ${drainMs}ms drain` : ''}`);
    // Its LeaseCandidate goes with the shutdown.
    this.coordinator?.leave(node.identity);
    const jobs = node.jobs;
    if (jobs) jobs.stopDrained = false;
    // With leader work, the drain waits for it (as the Nest module's shutdown does), at most drainMs.
    const drain =
      drainMs <= 0
        ? undefined
        : jobs
          ? async () => void (jobs.stopDrained = await jobs.drain(drainMs, 'stop'))
          : () => sleep(node.clock, drainMs);
    // drain, then at most 3 x requestTimeout waiting for the loop, then the release (its last request may
    // overrun the release timeout by one requestTimeout), in local ms.
    const { renewDeadline } = this.scenario.timing;
    const bound = (drainMs + 4 * this.requestTimeout + renewDeadline + 100) / (1 - this.skewBound);
    this.scheduler.schedule(this.scheduler.resumesAt(node.id) + bound, null, 'stop bound', () => {
      if (!node.crashed && node.stopResolvedAt === null) {
        this.invariants.fail(`${node.identity}: stop() did not resolve within ${bound.toFixed(0)}ms`);
      }
    });
    node.elector.stop(drain ? { drain } : {}).then(
      () => {
        if (node.crashed) return;
        node.stopResolvedAt = this.scheduler.now;
        this.trace.add(node.identity, 'stop() resolved');
        const clean = (this.net.faulted.get(node.id) ?? 0) === faultsBefore;
        // Coordinated: a claim the coordinator gave a node that never led is not its to release (client-go
        // releases only as leader); the coordinator lets it lapse.
        const held = !this.coordinator || this.invariants.terms.some((record) => record.node === node);
        this.invariants.stopResolved(node, clean && held && node.elector.options.releaseOnStop);
        let settled = false;
        node.elector.waitForLeadership().then(
          () => (settled = true),
          () => (settled = true),
        );
        this.invariants.trackWaitAfterStop(node, () => settled);
      },
      (error: unknown) => this.invariants.fail(`${node.identity}: stop() rejected: ${String(error)}`),
    );
  }

  private crash(node: SimNode, trace = true): void {
    if (node.crashed) return;
    if (trace) this.trace.add(node.identity, 'CRASH');
    node.crashed = true;
    this.scheduler.kill(node.id);
    node.clock.killAll();
    this.net.crash(node.id);
    this.invariants.crashed(node);
    this.jobs?.crashed(node);
    this.coordinator?.leave(node.identity, CANDIDATE_STALE * this.scenario.timing.leaseDuration);
  }

  private apply(fault: Fault): void {
    const { scheduler, net, scenario } = this;
    const { leaseDuration } = scenario.timing;
    const node = 'slot' in fault ? this.target(fault.slot) : null;
    const until = (ms: number) => Math.min(scheduler.now + ms, scenario.faultMs);
    switch (fault.kind) {
      case 'crash':
        if (node) this.crash(node);
        return;
      case 'restart':
        if (node && node.alive) this.crash(node);
        if (!node || node.crashed || node.stopResolvedAt !== null)
          this.startNode(node?.slot ?? fault.slot % scenario.nodes);
        return;
      case 'stop':
        if (node) this.stop(node, fault.drainMs);
        return;
      case 'stop-during-hung-connect':
        if (!node || !node.alive) return;
        this.trace.add(node.identity, 'watch ends; its reconnect will hang');
        net.hangNextConnect.add(node.id);
        for (const stream of net.streamsOf(node.id)) stream.end();
        scheduler.after(100, null, 'stop during a hung connect', () => this.stop(node, 0));
        return;
      case 'stall':
        if (!node || !node.alive) return;
        // Mostly short pauses (GC), sometimes longer than a lease.
        this.trace.add(node.identity, `STALL until ${until(fault.span ** 2 * 2.5 * leaseDuration).toFixed(1)}`);
        scheduler.stall(node.id, until(fault.span ** 2 * 2.5 * leaseDuration));
        return;
      case 'pause-on-answer':
        if (node) net.pauseOnAnswer.set(node.id, Math.min(fault.span * 2 * leaseDuration, scenario.faultMs));
        return;
      case 'partition':
        if (!node) return;
        this.trace.add(node.identity, `PARTITION until ${until(fault.span * 1.5 * leaseDuration).toFixed(1)}`);
        net.partition(node.id, until(fault.span * 1.5 * leaseDuration));
        return;
      case 'forbid-watch':
        if (!node) return;
        // Some nodes lack the watch verb for good (RBAC); they must poll even after faults clear.
        net.forbidWatch(node.id, fault.span > 0.9 ? Number.POSITIVE_INFINITY : until(fault.span * 3 * leaseDuration));
        this.trace.add(node.identity, `watch forbidden${fault.span > 0.9 ? ' for good' : ''}`);
        return;
      case 'close-watches':
        net.closeWatchesUntil = until(fault.span * leaseDuration);
        this.trace.add('world', `server closes new watches at once until ${net.closeWatchesUntil.toFixed(1)}`);
        return;
      case 'outside-write':
        this.outsideWrite(fault.variant);
        return;
      case 'delete':
        this.trace.add('world', 'Lease DELETED by an outside writer');
        this.store.delete();
        this.net.epoch++;
        return;
      case 'stop-on-start':
        if (node) node.stopOnStart = true;
        return;
      case 'reject-listener':
        if (node) node.rejectNext = true;
        return;
      case 'throwing-logger':
        if (node) node.throwingLogger = true;
        return;
    }
  }

  private target(slot: number): SimNode | null {
    if (slot >= 7) {
      const leader = this.slots.find((node) => node !== null && node.alive && this.invariants.leading(node));
      if (leader) return leader;
    }
    return this.slots[slot % this.scenario.nodes];
  }

  /**
   * Writes that kubectl or another tool could make. None names a live
   * candidate or unholds a held Lease: those would give two leaders under
   * any algorithm.
   */
  private outsideWrite(variant: 'touch' | 'intruder' | 'malformed'): void {
    const current = this.store.read();
    const spec = (current?.spec ?? {}) as Record<string, unknown>;
    const now = formatMicroTime(new Date(Date.UTC(2026, 0, 1) + this.scheduler.now));
    const transitions = typeof spec.leaseTransitions === 'number' ? spec.leaseTransitions : 0;
    let next: Record<string, unknown>;
    if (variant === 'intruder') {
      next = {
        holderIdentity: `intruder-${this.intruders++}`,
        leaseDurationSeconds: this.scenario.timing.leaseDuration / 1000,
        acquireTime: now,
        renewTime: now,
        leaseTransitions: transitions + 1,
      };
    } else {
      if (current === null) return;
      next =
        variant === 'touch' ? { ...spec, renewTime: now } : { ...spec, renewTime: 'not-a-time', acquireTime: null };
    }
    this.trace.add('world', `outside write (${variant}): holder ${String(next.holderIdentity)}`);
    this.store.overwrite(next);
  }

  private clearFaults(): void {
    const { scheduler, net } = this;
    net.faulty = false;
    this.trace.add('world', 'faults clear');
    for (let slot = 0; slot < this.slots.length; slot++) {
      const node = this.slots[slot];
      if (!node || node.crashed || node.stopResolvedAt !== null) this.startNode(slot);
    }
    // Requests sent while faulty settle within 1.2 x requestTimeout; stops and drains must be over too.
    const settle = () => {
      if (this.nodes.some((node) => node.stopping && !node.crashed && node.stopResolvedAt === null)) {
        scheduler.after(100, null, 'await stops', settle);
        return;
      }
      // Stops that resolved after the faults cleared left their slots empty: a Deployment would replace them.
      for (let slot = 0; slot < this.slots.length; slot++) {
        const node = this.slots[slot];
        if (!node || node.crashed || node.stopResolvedAt !== null) this.startNode(slot);
      }
      this.livenessFrom = scheduler.now;
      this.trace.add('world', `liveness: a leader due within ${this.livenessBound.toFixed(0)}ms`);
      this.invariants.startLiveness(this.livenessBound);
    };
    scheduler.after(1.2 * this.requestTimeout, null, 'faults settled', settle);
  }
}

/** Runs one scenario to its end or first violation. */
export function runScenario(scenario: Scenario): Promise<RunResult> {
  return new World(scenario).run();
}
