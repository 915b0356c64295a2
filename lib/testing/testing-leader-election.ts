import type { LeadershipTerm, TermEndReason } from '../elector/internal.js';
import { DEFAULT_ELECTION, DEFAULT_SHUTDOWN_DRAIN_TIMEOUT } from '../leader-election.constants.js';
import { LeaderElectionService } from '../leader-election.service.js';
import { LEADER_WORK } from '../leader-work.js';
import { TestingElector } from './testing-elector.js';

/** Options of {@link TestingLeaderElection} and `LeaderElectionTestingModule.forRoot()`. */
export interface TestingLeaderElectionOptions {
  /** Lead from bootstrap on. Default false: a follower until `becomeLeader()`. */
  leader?: boolean;
  /** Name of the election, as `LeaderElectionModule.forRoot({ election })`. Default `default`. */
  election?: string;
  /** This replica's identity. Default `test-replica`. */
  identity?: string;
  /** Lease name. Default `test-lease`. */
  leaseName?: string;
  /** Lease namespace. Default `default`. */
  namespace?: string;
  /** Fencing token of the first term; each later term gets a greater one. Default 1. */
  firstFencingToken?: number;
}

const silentLogger = { debug: () => undefined, log: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * An election you drive from a test: a follower or the leader at will, with
 * the same events, terms (signal, fencing token), `admittedTerm()` and
 * `runIfLeader()` as `LeaderElectionService`, which it is (a subclass), and no
 * Kubernetes. Pass it where a `LeaderElectionService` is expected
 * (`new ReportJob(new TestingLeaderElection())`): the job's `@OnlyWhenLeader`
 * methods gate on it. `LeaderElectionTestingModule` provides it under the
 * tokens of the real module, so the leadership decorators and `LeaderGuard`
 * use it too.
 */
export class TestingLeaderElection extends LeaderElectionService {
  private readonly testing: TestingElector;
  private readonly leadOnBootstrap: boolean;

  constructor(options: TestingLeaderElectionOptions = {}) {
    const leaseName = options.leaseName ?? 'test-lease';
    const elector = new TestingElector(
      options.identity ?? 'test-replica',
      leaseName,
      options.namespace ?? 'default',
      options.firstFencingToken ?? 1,
    );
    super(options.election ?? DEFAULT_ELECTION, elector, { leaseName, standalone: true }, silentLogger);
    this.testing = elector;
    this.leadOnBootstrap = options.leader === true;
  }

  /**
   * Starts a term with a fencing token greater than every earlier one and
   * fires `leader-changed` and `acquired`. Resolves once the acquire handlers
   * (sync or async) have settled. A no-op while already leading.
   */
  async becomeLeader(): Promise<LeadershipTerm> {
    if (this.testing.state === 'stopped') {
      throw new Error(`election ${this.election} has stopped; create a new testing module`);
    }
    const term = this.testing.startTestTerm();
    await this.settled();
    return term;
  }

  /**
   * Ends the term for `reason` (default `stolen`): aborts its signal with a
   * `LeadershipEndedError`, fires `lost`, then `leader-changed` when the
   * holder changes to `newLeader`. Resolves once the loss handlers have
   * settled. A no-op on a follower (only the holder changes).
   */
  async loseLeadership(
    reason: TermEndReason = 'stolen',
    newLeader: string | null = reason === 'stolen' ? 'another-replica' : null,
  ): Promise<void> {
    this.testing.endTestTerm(reason, newLeader);
    await this.settled();
  }

  /** `becomeLeader()` or `loseLeadership()`. */
  async setLeader(leader: boolean): Promise<void> {
    if (leader) await this.becomeLeader();
    else await this.loseLeadership();
  }

  /** Makes another replica the leader, as a follower would observe it. */
  async observeLeader(holder: string | null): Promise<void> {
    await this.loseLeadership('stolen', holder);
  }

  /** Resolves once the leader-only calls and async leadership handlers running now have settled. */
  async settled(timeout = DEFAULT_SHUTDOWN_DRAIN_TIMEOUT): Promise<void> {
    // Handlers run synchronously inside the event; a handler queued behind another joins within a tick.
    await Promise.resolve();
    if (!(await this[LEADER_WORK].drain(timeout))) {
      throw new Error(`leader-only work of election ${this.election} still running after ${timeout}ms`);
    }
  }

  /** Leads from bootstrap on with `leader: true`. */
  override async onApplicationBootstrap(): Promise<void> {
    if (this.leadOnBootstrap) await this.becomeLeader();
  }

  /** Ends a running term with `shutdown` and drains, as the real service does before releasing. */
  override async beforeApplicationShutdown(): Promise<void> {
    await this.testing.stop({ drain: () => this.settled() });
    this.close();
  }
}
