import type { LeaderElectionEvent, LeaderElector, LeadershipTerm } from '../../lib/elector/internal.js';
import { NotLeaderError } from '../../lib/errors/not-leader.error.js';
import { LeaderWork } from '../../lib/leader-work.js';
import { tokenOf, type Invariants, type NodeView, type TermRecord } from './invariants.js';
import { between, seededRandom, type Random } from './random.js';
import type { WorkPlan, Timing } from './scenario.js';
import type { Scheduler, SimEvent } from './scheduler.js';
import type { Trace } from './trace.js';

/** A node as its leader work sees it. */
export interface WorkNode extends NodeView {
  readonly elector: LeaderElector;
  readonly alive: boolean;
}

/** What one run's leader work did. */
export interface WorkStats {
  /** Top-level gated calls admitted (jobs and loop jobs), and refused on a follower. */
  jobs: number;
  refused: number;
  /** Loop jobs admitted by a later term than the one whose handler started the loop. */
  laterTermJobs: number;
  /** Nested gated calls admitted, and refused because the term of their outer call was over. */
  nested: number;
  nestedRefused: number;
  /** ... of those, refused while the same node led again under a later term (what issue 25, item 1 is about). */
  refusedUnderLaterTerm: number;
  /** Fenced writes the store accepted, rejected (a higher token came first), and withheld (signal aborted). */
  writes: number;
  rejected: number;
  withheld: number;
  /** Another node's term started while work past its own renew deadline still ran (allowed). */
  lateOverlaps: number;
  /** ... while work ran whose stop() gave up draining (no drain, or it timed out; allowed). */
  abandonedOverlaps: number;
  /** Drains (handover or stop) that saw all work settle, and that timed out. */
  drained: number;
  drainTimeouts: number;
}

/** Work admitted under a term and not yet settled. */
interface Running {
  jobs: NodeJobs;
  record: TermRecord;
  label: string;
  since: number;
}

/**
 * Leader-only work for every node of a world, and the checks on it: per
 * node a real {@link LeaderWork} over that node's elector, jobs whose gated
 * calls nest across simulated awaits, job loops started with `runInTerm`, and
 * one fenced store (a row with a token column) that every write goes to.
 */
export class Jobs {
  readonly stats: WorkStats = {
    jobs: 0,
    refused: 0,
    laterTermJobs: 0,
    nested: 0,
    nestedRefused: 0,
    refusedUnderLaterTerm: 0,
    writes: 0,
    rejected: 0,
    withheld: 0,
    lateOverlaps: 0,
    abandonedOverlaps: 0,
    drained: 0,
    drainTimeouts: 0,
  };
  /** Its own stream, so worlds without work draw the same numbers as before. */
  readonly random: Random;
  private readonly running = new Set<Running>();
  private readonly records = new WeakMap<LeadershipTerm, TermRecord>();
  /** The fenced store: the highest token accepted so far. */
  private highest: bigint | null = null;

  constructor(
    readonly scheduler: Scheduler,
    private readonly invariants: Invariants,
    readonly timing: Timing,
    readonly trace: Trace,
    readonly plan: WorkPlan,
    seed: number,
  ) {
    this.random = seededRandom(seed ^ 0x5eed_1eaf);
  }

  attach(node: WorkNode): NodeJobs {
    return new NodeJobs(this, node);
  }

  fail(message: string): void {
    this.invariants.fail(message);
  }

  /** How long one await of a job lasts: mostly short, sometimes long enough for its term to end meanwhile. */
  duration(): number {
    const { leaseDuration, retryPeriod } = this.timing;
    return this.random() < this.plan.long
      ? between(this.random, 0.3, 1.5) * leaseDuration
      : between(this.random, 0, 0.5) * retryPeriod;
  }

  record(term: LeadershipTerm): TermRecord | null {
    let record = this.records.get(term);
    if (!record) {
      record = this.invariants.terms.findLast((candidate) => candidate.term === term);
      if (record) this.records.set(term, record);
    }
    return record ?? null;
  }

  /** Why `term` is over for user code on `node` (as the invariants judge terms), or null while it is live. */
  over(node: WorkNode, term: LeadershipTerm): string | null {
    const record = this.record(term);
    if (!record) return 'no such term';
    if (node.crashed) return 'the process crashed';
    if (record.stoppedAt !== null) return `stopped-leading fired at ${record.stoppedAt.toFixed(1)}`;
    if (record.abortedAt !== null) return `its signal aborted at ${record.abortedAt.toFixed(1)}`;
    const late = node.clock.now() - (node.lastWriteSentAt + this.timing.renewDeadline);
    return late >= 0 ? `${late.toFixed(1)}ms past its renew deadline` : null;
  }

  /** (i) A top-level gated call runs under the live term it was called in, and only while that term is live. */
  checkAdmitted(node: WorkNode, term: LeadershipTerm | null, live: LeadershipTerm | null, label: string): boolean {
    if (term === null || term !== live) {
      this.fail(
        `${node.identity}: ${label} admitted under token ${term?.fencingToken}, not the live term's (${live?.fencingToken})`,
      );
      return false;
    }
    const why = this.over(node, term);
    if (why !== null)
      this.fail(`${node.identity}: ${label} admitted under token ${term.fencingToken}, whose term is over: ${why}`);
    return why === null;
  }

  /** (i) and (ii): a nested call runs under its outer call's term, and only while that term is live. */
  checkNested(node: WorkNode, term: LeadershipTerm | null, outer: LeadershipTerm, label: string): void {
    this.stats.nested++;
    if (term !== outer) {
      this.fail(
        `${node.identity}: ${label} runs under token ${term?.fencingToken ?? 'none'}, ` +
          `not the token ${outer.fencingToken} of the term that admitted its outer call (over: ${this.over(node, outer)})`,
      );
      return;
    }
    const why = this.over(node, term);
    if (why !== null)
      this.fail(`${node.identity}: ${label} admitted under token ${term.fencingToken}, whose term is over: ${why}`);
  }

  /** A nested call refused only once its outer call's term is over, the way `onFollower` says. */
  checkRefusal(
    node: WorkNode,
    outer: LeadershipTerm,
    overBefore: string | null,
    outcome: unknown,
    strict: boolean,
    label: string,
  ): void {
    this.stats.nestedRefused++;
    const live = node.elector.term;
    if (live !== null && live !== outer) this.stats.refusedUnderLaterTerm++;
    if (overBefore === null) {
      this.fail(
        `${node.identity}: ${label} refused while the term of its outer call (token ${outer.fencingToken}) is live`,
      );
    }
    const expected = strict ? outcome instanceof NotLeaderError : outcome === undefined;
    if (!expected)
      this.fail(`${node.identity}: ${label} refused with ${String(outcome)} (onFollower ${strict ? 'throw' : 'skip'})`);
    this.trace.add(node.identity, `  ${label} refused: the term of token ${outer.fencingToken} is over`);
  }

  /**
   * (iii) A fenced write carries the token of the term that admitted its outermost gated call, is sent only while
   * that term is live (user code checks the signal first), and the store accepts it unless a higher token came
   * first.
   */
  fencedWrite(node: WorkNode, term: LeadershipTerm | null, admitted: LeadershipTerm, label: string): void {
    if (term !== admitted) {
      this.fail(
        `${node.identity}: ${label} writes with token ${term?.fencingToken ?? 'none'}, not the token ` +
          `${admitted.fencingToken} of the term that admitted its outermost gated call`,
      );
      return;
    }
    if (term.signal.aborted) {
      this.stats.withheld++;
      return;
    }
    const why = this.over(node, term);
    if (why !== null) {
      this.fail(
        `${node.identity}: ${label} wrote with token ${term.fencingToken} whose signal has not aborted, though its term is over: ${why}`,
      );
    }
    const token = tokenOf(term.fencingToken);
    // Mostly prompt; sometimes held up (a slow connection pool) long enough for a later term's writes to land first.
    const { leaseDuration } = this.timing;
    const delay = this.random() < 0.05 ? between(this.random, 0, 1.5) * leaseDuration : between(this.random, 0.2, 30);
    this.scheduler.after(delay, null, 'fenced write', () => {
      if (this.highest !== null && token < this.highest) {
        this.stats.rejected++;
        this.trace.add(node.identity, `  fenced write of token ${token} rejected (store at ${this.highest})`);
        return;
      }
      this.highest = token;
      this.stats.writes++;
    });
  }

  enter(jobs: NodeJobs, term: LeadershipTerm, label: string): Running | null {
    const record = this.record(term);
    if (!record) return null;
    const entry: Running = { jobs, record, label, since: this.scheduler.now };
    this.running.add(entry);
    return entry;
  }

  leave(entry: Running | null): void {
    if (entry) this.running.delete(entry);
  }

  /**
   * Another node's term starts: no work admitted under an earlier term of the same epoch may still run, unless
   * that work outlived its node's renew deadline (user code that ignores its signal), or that node's stop() gave
   * up draining it. The Lease must not change hands while leader work runs under a claim still valid.
   */
  termStarted(node: WorkNode, term: LeadershipTerm): void {
    const started = this.record(term);
    if (!started) return;
    for (const entry of this.running) {
      const other = entry.jobs.node;
      if (other === node || other.crashed || entry.record.epoch !== started.epoch) continue;
      const late = other.clock.now() - (other.lastWriteSentAt + this.timing.renewDeadline);
      if (late >= 0) this.stats.lateOverlaps++;
      else if (entry.jobs.stopDrained === false) this.stats.abandonedOverlaps++;
      else {
        this.fail(
          `${node.identity} started a term (token ${started.token}) while ${other.identity}'s ${entry.label} ` +
            `(admitted under token ${entry.record.token} at ${entry.since.toFixed(1)}, term ended ` +
            `${entry.record.abortedAt === null ? 'not yet' : `at ${entry.record.abortedAt.toFixed(1)}`}) still runs, ` +
            `${(-late).toFixed(1)}ms before the renew deadline of ${other.identity}'s last answered write`,
        );
      }
    }
  }

  /** The process died: its work dies with it. */
  crashed(node: WorkNode): void {
    for (const entry of this.running) if (entry.jobs.node === node) this.running.delete(entry);
  }
}

/** One node's leader work: a {@link LeaderWork} over its elector, its jobs, its job loop and its drain. */
export class NodeJobs {
  readonly work: LeaderWork;
  /** Null until stop() begins; then whether its drain saw all work settle (false: none, or timed out). */
  stopDrained: boolean | null = null;
  private readonly calls = new Set<Promise<unknown>>();
  private readonly loops: boolean;
  private looping = false;

  constructor(
    private readonly jobs: Jobs,
    readonly node: WorkNode,
  ) {
    const { elector, identity } = node;
    this.work = new LeaderWork(
      {
        election: 'sim',
        lease: 'sim-lease',
        namespace: 'default',
        identity,
        get leader() {
          return elector.leader;
        },
        get term() {
          return elector.term;
        },
      },
      () => undefined,
    );
    elector.subscribe((event) => this.onEvent(event));
    this.loops = jobs.random() < jobs.plan.loops;
    this.next();
  }

  /** Work the drain waits for. */
  get size(): number {
    return this.calls.size;
  }

  /** Waits up to `timeoutMs` (virtual) for every admitted call, including ones that start meanwhile; true if all settled. */
  async drain(timeoutMs: number, what: string): Promise<boolean> {
    const { scheduler, trace, stats } = this.jobs;
    const until = scheduler.now + timeoutMs;
    trace.add(this.node.identity, `${what} drain: ${this.calls.size} call(s) running`);
    while (this.calls.size > 0) {
      let timer: SimEvent | null = null;
      const timedOut = new Promise<false>((resolve) => {
        timer = scheduler.schedule(until, this.node.id, `${what} drain timeout`, () => resolve(false));
      });
      const settled = await Promise.race([Promise.allSettled([...this.calls]).then(() => true), timedOut]);
      timer!.cancelled = true;
      if (!settled) {
        stats.drainTimeouts++;
        trace.add(this.node.identity, `${what} drain timed out with ${this.calls.size} call(s) running`);
        return false;
      }
    }
    stats.drained++;
    trace.add(this.node.identity, `${what} drain done`);
    return true;
  }

  /** A job of `ms` that the world starts on the leader (the quiet-phase preemption), with one nested write. */
  longJob(ms: number): void {
    this.gated('long job', async (term) => {
      await this.wait(ms);
      await this.nested(term, 1);
    });
  }

  private wait(ms: number): Promise<void> {
    // Scheduler events owned by the node (not its clock's timers): stalls defer them, a crash drops them.
    return new Promise((resolve) => this.jobs.scheduler.after(ms, this.node.id, 'work', resolve));
  }

  private next(): void {
    const { retryPeriod } = this.jobs.timing;
    const pause = between(this.jobs.random, 0.5, 0.5 + 4 * this.jobs.plan.every) * retryPeriod;
    this.jobs.scheduler.after(pause, this.node.id, 'job', () => {
      if (!this.node.alive) return;
      this.next();
      const steps = 1 + Math.floor(this.jobs.random() * 3);
      this.gated('job', async (term) => {
        for (let i = 0; i < steps; i++) {
          await this.wait(this.jobs.duration());
          await this.nested(term, 1);
        }
      });
    });
  }

  private onEvent(event: LeaderElectionEvent): void {
    if (event.type !== 'started-leading') return;
    this.jobs.termStarted(this.node, event.term);
    if (!this.loops || this.looping) return;
    // A queue worker an acquire handler starts: it outlives the term, each job admitted by the live term.
    this.looping = true;
    const count = 2 + Math.floor(this.jobs.random() * 10);
    void this.work.runInTerm(event.term, () => this.loop(event.term, count)).finally(() => (this.looping = false));
  }

  private async loop(first: LeadershipTerm, count: number): Promise<void> {
    const { retryPeriod } = this.jobs.timing;
    for (let i = 0; i < count && this.node.stopResolvedAt === null; i++) {
      await this.wait(between(this.jobs.random, 0.2, 3) * retryPeriod);
      const call = this.gated('loop job', async (term) => {
        if (term !== first) this.jobs.stats.laterTermJobs++;
        await this.wait(this.jobs.duration());
        if (this.jobs.random() < 0.5) await this.nested(term, 1);
        this.jobs.fencedWrite(this.node, this.work.admittedTerm(), term, 'loop job');
      });
      await call;
    }
  }

  /** A top-level gated call: admitted by the live term, or refused exactly when there is none. */
  private gated(label: string, body: (term: LeadershipTerm) => Promise<void>): Promise<void> {
    const { jobs, node, work } = this;
    const live = node.elector.term;
    let ran = false;
    const call = work.run(
      async () => {
        ran = true;
        const term = work.admittedTerm();
        if (!jobs.checkAdmitted(node, term, live, label)) return;
        const entry = jobs.enter(this, term!, label);
        try {
          await body(term!);
        } finally {
          jobs.leave(entry);
        }
      },
      true,
      label,
      'skip',
    ) as Promise<void>;
    if (!ran) {
      jobs.stats.refused++;
      if (live !== null)
        jobs.fail(`${node.identity}: ${label} refused while the node leads (token ${live.fencingToken})`);
      return call;
    }
    jobs.stats.jobs++;
    const settled = call.catch((error: unknown) =>
      jobs.fail(`${node.identity}: ${label} failed: ${(error as Error)?.stack ?? String(error)}`),
    );
    this.calls.add(settled);
    void settled.finally(() => this.calls.delete(settled));
    return settled;
  }

  /** A gated call inside a gated call (deeper at times), sync or async, skipping or throwing on refusal. */
  private async nested(outer: LeadershipTerm, depth: number): Promise<void> {
    const { jobs, node, work } = this;
    const strict = jobs.random() < jobs.plan.strict;
    const label = `nested call (depth ${depth})`;
    const overBefore = jobs.over(node, outer);
    let ran = false;
    let outcome: unknown;
    if (jobs.random() < 0.2) {
      try {
        outcome = work.run(
          () => {
            ran = true;
            jobs.checkNested(node, work.admittedTerm(), outer, `sync ${label}`);
            return 'ran';
          },
          false,
          label,
          strict ? 'throw' : 'skip',
        );
      } catch (error) {
        outcome = error;
      }
    } else {
      const call = work.run(
        async () => {
          ran = true;
          jobs.checkNested(node, work.admittedTerm(), outer, label);
          await this.wait(jobs.duration());
          if (depth < 3 && jobs.random() < 0.3) await this.nested(outer, depth + 1);
          jobs.fencedWrite(node, work.admittedTerm(), outer, label);
          return 'ran';
        },
        true,
        label,
        strict ? 'throw' : 'skip',
      );
      try {
        outcome = await call;
      } catch (error) {
        outcome = error;
      }
    }
    if (!ran) jobs.checkRefusal(node, outer, overBefore, outcome, strict, label);
    else if (outcome !== 'ran') jobs.fail(`${node.identity}: ${label} failed: ${String(outcome)}`);
  }
}
