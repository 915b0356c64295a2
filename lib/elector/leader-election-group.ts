import type { Candidacy } from './candidacy.js';
import { sleep, systemClock, timeoutSignal, type Clock } from './clock.js';
import {
  defaultIdentity,
  InvalidLeaderElectionOptionError,
  resolveElectorOptions,
  type ElectorLogger,
  type LeaderElectorOptions,
} from './elector-options.js';
import { persistentConfigurationError } from './elector-diagnostics.js';
import { LeaderElector, type StopOptions } from './leader-elector.js';
import { asLeaseLockError, type LeaseLockError } from './lease-lock.errors.js';
import { positiveMillis } from './option-checks.js';
import type { LeaseLock } from './lease-lock.js';
import type { MemberDirectory, MemberRecord } from './member-directory.js';
import { rendezvousOrder, spreadEvenly } from './rendezvous.js';

/** Handovers of one election to one replica that it did not take, before that replica is passed over. */
const DECLINED_HANDOVERS = 2;

/** Options of {@link LeaderElectionGroup}. Durations are milliseconds. */
export interface LeaderElectionGroupOptions extends Pick<
  LeaderElectorOptions,
  | 'identity'
  | 'leaseDuration'
  | 'renewDeadline'
  | 'retryPeriod'
  | 'requestTimeout'
  | 'releaseTimeout'
  | 'watch'
  | 'releaseOnStop'
  | 'clock'
  | 'logger'
  | 'random'
> {
  /** The elections, each on its own Lease. At least one; names unique. */
  elections: readonly string[];
  /** The Lease of each election. */
  lockFor(election: string): LeaseLock;
  /** Where the replicas announce themselves. */
  members: MemberDirectory;
  /** Per-election elector options (a logger, a handover drain). */
  electorOptions?(election: string): Pick<LeaderElectorOptions, 'logger' | 'handoverDrain'>;
  /** A term runs at least this long before it is handed over. Default leaseDuration / 2. */
  minTermHold?: number;
  /**
   * A replica waits this long after announcing itself before its electors start, and must have been live this
   * long plus a retryPeriod before elections are handed to it. Default retryPeriod.
   */
  memberSettle?: number;
  /** How long each rank stands back behind the one before it. Default min(100, retryPeriod / 2). */
  rankStep?: number;
  /**
   * A replica that twice did not take an election handed to it is passed over for this long; a replica whose
   * writes fail with a configuration error withdraws for this long. Default 10 x leaseDuration.
   */
  handoverBackoff?: number;
}

/** A failed call on the member records (counted in the errors metric under the group). */
export interface MemberErrorEvent {
  type: 'member-error';
  operation: 'announce' | 'withdraw' | 'evict';
  error: LeaseLockError;
}

/** One election of a group, as this replica sees it. */
export interface GroupElectionState {
  election: string;
  /** The live member rendezvous hashing prefers for it. */
  preferred: string | null;
  /** The holder this replica believes valid, or null. */
  leader: string | null;
  isLeader: boolean;
}

interface Sighting {
  record: MemberRecord;
  /** When the record last changed, by our clock. */
  seenAt: number;
  /** When it became live after being absent. */
  liveSince: number;
  /** When we first saw it say its electors run, or null while they have not started. */
  readySince: number | null;
}

/**
 * Many elections whose leadership spreads evenly over the live replicas.
 *
 * Each election is a plain {@link LeaderElector} on its own Lease, so it keeps
 * the elector's guarantee: at most one live term at a time while clock rates
 * differ by less than leaseDuration / renewDeadline. The group only advises:
 * rendezvous hashing over the live members names a preferred replica per
 * election; it campaigns first and the others stand back by rank, and a
 * holder that is not preferred drains its work, then releases to it. When
 * the preferred replica does not take an election (wedged, forbidden) the
 * next ranks campaign after their stand-back, so no election stays unled.
 * Without a member view (list or watch denied) every election campaigns
 * plainly.
 */
export class LeaderElectionGroup {
  /** This replica's identity, the holder identity of all its elections. */
  readonly identity: string;
  /** The electors, by election name. */
  readonly electors: ReadonlyMap<string, LeaderElector>;

  private readonly clock: Clock;
  private readonly logger: ElectorLogger;
  private readonly leaseDuration: number;
  private readonly retryPeriod: number;
  private readonly requestTimeout: number;
  private readonly minTermHold: number;
  private readonly memberSettle: number;
  private readonly rankStep: number;
  private readonly handoverBackoff: number;
  private readonly sightings = new Map<string, Sighting>();
  private readonly handovers = new Map<string, { target: string; at: number; failures: number }>();
  /** Replicas that did not take an election handed to them, and when we noticed. */
  private readonly declined = new Map<string, number>();
  private readonly stopController = new AbortController();
  private following = false;
  private leaving = false;
  private started = false;
  private stopping: Promise<void> | null = null;
  private announcing: Promise<void> | null = null;
  /** The announce in flight, if any: a stop waits for it before withdrawing, so it cannot re-create the record. */
  private announcement: Promise<void> | null = null;
  private announceFailing = false;
  /** Our electors have started: the record says so, and only then are elections handed to us. */
  private ready = false;
  /** Evictions denied (RBAC): when the next may be tried, and the pause after another denial. */
  private evictions = { notBefore: 0, pause: 0 };
  private readonly listeners = new Set<(event: MemberErrorEvent) => void>();
  private placement: { key: string; orders: Map<string, string[]> } | null = null;
  /** Set while our own elections keep failing: we withdraw so that others are preferred. */
  private unreadySince: number | null = null;

  /** Validates options; throws `InvalidLeaderElectionOptionError` naming the field. Does not start. */
  constructor(private readonly options: LeaderElectionGroupOptions) {
    const elections = options?.elections;
    if (!Array.isArray(elections) || elections.length === 0) {
      throw new InvalidLeaderElectionOptionError('elections', 'list at least one election name.');
    }
    const duplicate = elections.find((name, index) => elections.indexOf(name) !== index);
    if (duplicate !== undefined) {
      throw new InvalidLeaderElectionOptionError('elections', `${JSON.stringify(duplicate)} is listed twice.`);
    }
    if (!options.members) throw new InvalidLeaderElectionOptionError('members', 'a MemberDirectory is required.');
    this.identity = options.identity ?? defaultIdentity();
    const timing = pickTiming(options);
    const locks = new Map(elections.map((election) => [election, options.lockFor(election)]));
    const resolved = resolveElectorOptions({ ...timing, identity: this.identity, lock: locks.get(elections[0]!)! });
    this.clock = resolved.clock;
    this.logger = resolved.logger;
    this.leaseDuration = resolved.leaseDuration;
    this.retryPeriod = resolved.retryPeriod;
    this.requestTimeout = resolved.requestTimeout;
    this.minTermHold = positiveMillis(options, 'minTermHold', this.leaseDuration / 2);
    this.memberSettle = positiveMillis(options, 'memberSettle', this.retryPeriod);
    this.rankStep = positiveMillis(options, 'rankStep', Math.min(100, this.retryPeriod / 2));
    this.handoverBackoff = positiveMillis(options, 'handoverBackoff', 10 * this.leaseDuration);
    const electors = new Map<string, LeaderElector>();
    for (const election of elections) {
      electors.set(
        election,
        new LeaderElector({
          ...timing,
          ...options.electorOptions?.(election),
          identity: this.identity,
          lock: locks.get(election)!,
          candidacy: this.candidacyFor(election),
        }),
      );
    }
    this.electors = electors;
  }

  /**
   * Announces this replica, follows the others, waits `memberSettle` so a
   * cold start sees its peers, then starts every elector.
   */
  async start(): Promise<void> {
    if (this.started) throw new Error(`LeaderElectionGroup ${this.identity} was already started.`);
    this.started = true;
    const { members } = this.options;
    const signal = this.stopController.signal;
    this.logger.log(
      `member ${this.identity} of ${members.describe()}: spreading ${this.electors.size} elections ` +
        `(${[...this.electors.keys()].join(', ')})`,
    );
    await this.announce();
    const handlers = {
      onRecord: (record: MemberRecord) => this.onRecord(record),
      onGone: (identity: string) => this.onGone(identity),
      onError: (error: Error) => {
        if (this.following) this.logger.warn(`lost the member view (${error.message}); campaigning plainly`);
        this.following = false;
      },
    };
    // The directory keeps trying in the background; bootstrap waits for the first list at most requestTimeout.
    const following = members.follow(handlers, signal).then(
      () => {
        this.following = true;
        return null;
      },
      (error: unknown) => error,
    );
    const gaveUp = timeoutSignal(this.clock, this.requestTimeout);
    const failure = await Promise.race([
      following,
      new Promise((resolve) => gaveUp.signal.addEventListener('abort', () => resolve('no answer in time'))),
    ]);
    gaveUp.clear();
    if (failure !== null && !this.following) {
      this.logger.warn(
        `cannot follow ${members.describe()} (${(failure as Error)?.message ?? String(failure)}); campaigning ` +
          'plainly until it works',
      );
    }
    this.announcing = this.announceLoop();
    await sleep(this.clock, this.memberSettle, signal);
    if (signal.aborted) return;
    for (const elector of this.electors.values()) elector.start();
    // Say at once that our electors run, so the others may hand elections to us.
    this.ready = true;
    await this.announce();
  }

  /** Failed calls on the member records; returns the function that unsubscribes. */
  subscribe(listener: (event: MemberErrorEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Leaves: withdraws the member record (so the others rank without us at
   * once) while every elector stops, each with its own drain before its
   * release. Idempotent.
   */
  stop(options: { drain?: (election: string) => Promise<void> } = {}): Promise<void> {
    this.stopping ??= this.doStop(options);
    return this.stopping;
  }

  /** The live members, this replica included, in no particular order. */
  get members(): string[] {
    const now = this.clock.now();
    const live = [...this.sightings.values()]
      .filter((sighting) => now < sighting.seenAt + sighting.record.durationMs)
      .map(({ record }) => record.identity);
    const self = !this.leaving && this.unreadySince === null;
    return live.includes(this.identity) || !self ? live : [...live, this.identity];
  }

  /** The elections this replica leads now. */
  get leading(): string[] {
    return [...this.electors].filter(([, elector]) => elector.isLeader).map(([election]) => election);
  }

  /** Every election: its preferred member, the holder we see, and whether it is us. */
  get assignments(): GroupElectionState[] {
    const members = this.following ? this.members : null;
    return [...this.electors].map(([election, elector]) => ({
      election,
      preferred: members ? (this.orderFor(election)[0] ?? null) : null,
      leader: elector.leader,
      isLeader: elector.isLeader,
    }));
  }

  /** True while the member view is current, so elections are spread rather than campaigned for plainly. */
  get spreading(): boolean {
    return this.following;
  }

  private async doStop(options: { drain?: (election: string) => Promise<void> }): Promise<void> {
    this.leaving = true;
    // Aborts an announce in flight; it is awaited, so a late answer cannot re-create the record after the withdrawal.
    this.stopController.abort();
    const withdrawn = timeoutSignal(this.clock, this.requestTimeout);
    const withdraw = Promise.resolve(this.announcement)
      .then(() => this.options.members.withdraw(this.identity, withdrawn.signal))
      .catch((error: unknown) => {
        this.emit('withdraw', error);
        this.logger.warn(`could not withdraw member ${this.identity}: ${(error as Error)?.message ?? String(error)}`);
      });
    await Promise.all([
      withdraw.finally(() => withdrawn.clear()),
      ...[...this.electors].map(([election, elector]) => {
        const stopOptions: StopOptions = options.drain ? { drain: () => options.drain!(election) } : {};
        return elector.stop(stopOptions);
      }),
      this.announcing,
    ]);
  }

  private candidacyFor(election: string): Candidacy {
    return {
      rank: (previousHolder) => this.rank(election, previousHolder),
      handoverTarget: (heldFor) => this.handoverTarget(election, heldFor),
      rankStep: this.rankStep,
    };
  }

  private rank(election: string, previousHolder: string | null): number | null {
    if (!this.following || this.leaving) return null;
    // The holder that just handed the Lease over campaigns last, and a few retry periods late, so the replica it
    // handed to (or the next in line) takes it first; it takes it back only when nobody else does.
    if (previousHolder === this.identity)
      return this.members.length + Math.ceil((2 * this.retryPeriod) / this.rankStep);
    const order = this.orderFor(election).filter((member) => member !== previousHolder);
    const rank = order.indexOf(this.identity);
    return rank < 0 ? order.length : rank;
  }

  private handoverTarget(election: string, heldFor: number): string | null {
    if (!this.following || this.leaving || heldFor < this.minTermHold) return null;
    const preferred = this.orderFor(election)[0];
    if (preferred === undefined || preferred === this.identity) return null;
    const now = this.clock.now();
    // Only to a member whose electors run (its record says so), and a retry period after, so its watch is open.
    const sighting = this.sightings.get(preferred);
    if (!sighting || sighting.readySince === null || now - sighting.readySince < this.retryPeriod) return null;
    const declinedAt = this.declined.get(preferred);
    if (declinedAt !== undefined && now - declinedAt < this.handoverBackoff) return null;
    // Leading again what we handed to the same replica means it did not take it. Twice in a row: stop offering
    // it anything for a while (it is wedged, or cannot write), so the election is not bounced in a loop.
    const last = this.handovers.get(election);
    const failures = last && last.target === preferred && now - last.at < this.handoverBackoff ? last.failures + 1 : 0;
    if (failures >= DECLINED_HANDOVERS) {
      this.declined.set(preferred, now);
      this.handovers.delete(election);
      this.logger.warn(`${preferred} did not take ${election} when handed over ${failures} times; keeping it for now`);
      return null;
    }
    this.handovers.set(election, { target: preferred, at: now, failures });
    return preferred;
  }

  /** The balanced preference order of an election over the live members; cached per member set. */
  private orderFor(election: string): string[] {
    const members = this.members.sort();
    const key = members.join('\n');
    if (this.placement?.key !== key) this.placement = { key, orders: spreadEvenly([...this.electors.keys()], members) };
    return this.placement.orders.get(election) ?? [];
  }

  private onRecord(record: MemberRecord): void {
    const now = this.clock.now();
    const previous = this.sightings.get(record.identity);
    if (previous?.record.version === record.version) return;
    const wasLive = previous !== undefined && now < previous.seenAt + previous.record.durationMs;
    // First sight of a record last renewed longer than its duration ago (by its writer's wall clock): a leftover
    // of a replica that died. It counts once we see it renewed, not from now.
    const age =
      previous === undefined && record.renewedAt ? this.clock.wallNow().getTime() - record.renewedAt.getTime() : 0;
    const seenAt = age > record.durationMs ? now - record.durationMs : now;
    const liveSince = wasLive ? previous.liveSince : now;
    // Directories that do not say (custom ones) count a member as ready once it has been live for memberSettle.
    const ready = record.ready ?? now - liveSince >= this.memberSettle;
    const readySince = !ready ? null : wasLive && previous.readySince !== null ? previous.readySince : now;
    this.sightings.set(record.identity, { record, seenAt, liveSince, readySince });
    this.following = true;
  }

  private onGone(identity: string): void {
    this.sightings.delete(identity);
  }

  /** Renews our record a third of its duration apart; evicts records of replicas that died long ago. */
  private async announceLoop(): Promise<void> {
    const signal = this.stopController.signal;
    while (!signal.aborted) {
      await sleep(this.clock, this.leaseDuration / 3, signal);
      if (signal.aborted) return;
      if (await this.checkReadiness()) await this.announce();
      await this.evictDeparted();
    }
  }

  /**
   * A replica whose election has failed with a configuration error (RBAC, a
   * missing namespace) for longer than leaseDuration, with no answer in
   * between, withdraws, so the others stop handing elections to it; it
   * offers itself again after `handoverBackoff`. The same rule as readiness:
   * a restarting API server's brief 403s do not count.
   * Returns whether it should announce now.
   */
  private async checkReadiness(): Promise<boolean> {
    const now = this.clock.now();
    if (this.unreadySince !== null) {
      if (now - this.unreadySince < this.handoverBackoff) return false;
      this.unreadySince = null;
      this.logger.log(`member ${this.identity} offers itself for elections again`);
      return true;
    }
    const failing = [...this.electors]
      .map(([election, elector]) => ({ election, diagnostics: elector.diagnostics }))
      .find(({ diagnostics }) => persistentConfigurationError(diagnostics, now, this.leaseDuration) !== null);
    if (!failing) return true;
    this.unreadySince = now;
    this.logger.warn(
      `election ${failing.election} fails here (${failing.diagnostics.lastError?.message}); withdrawing this member ` +
        'so the other replicas keep leading its elections',
    );
    const timeout = timeoutSignal(this.clock, this.requestTimeout);
    await this.options.members.withdraw(this.identity, timeout.signal).catch(() => undefined);
    timeout.clear();
    return false;
  }

  private announce(): Promise<void> {
    if (this.stopController.signal.aborted) return Promise.resolve();
    const announcement = this.sendAnnounce().finally(() => {
      if (this.announcement === announcement) this.announcement = null;
    });
    this.announcement = announcement;
    return announcement;
  }

  private async sendAnnounce(): Promise<void> {
    const timeout = timeoutSignal(this.clock, this.requestTimeout);
    const signal = AbortSignal.any([timeout.signal, this.stopController.signal]);
    try {
      await this.options.members.announce(this.identity, this.leaseDuration, signal, this.ready);
      if (this.announceFailing) this.logger.log(`member ${this.identity} announced again`);
      this.announceFailing = false;
    } catch (error) {
      if (this.stopController.signal.aborted) return;
      this.emit('announce', error);
      if (!this.announceFailing) {
        this.logger.warn(
          `could not announce member ${this.identity} in ${this.options.members.describe()}: ` +
            `${(error as Error)?.message ?? String(error)}; other replicas will not hand elections to it`,
        );
      }
      this.announceFailing = true;
    } finally {
      timeout.clear();
    }
  }

  /**
   * One live member (the first by rendezvous) deletes records unrenewed for
   * 3 durations: crashed replicas. A denied delete (RBAC) is logged once with
   * the missing grant and counted; evictions then back off, doubling up to
   * `handoverBackoff`.
   */
  private async evictDeparted(): Promise<void> {
    if (!this.following || rendezvousOrder('evict', this.members)[0] !== this.identity) return;
    const now = this.clock.now();
    if (now < this.evictions.notBefore) return;
    for (const sighting of [...this.sightings.values()]) {
      if (now < sighting.seenAt + 3 * sighting.record.durationMs) continue;
      const timeout = timeoutSignal(this.clock, this.requestTimeout);
      try {
        await this.options.members.evict(sighting.record, timeout.signal);
        this.sightings.delete(sighting.record.identity);
        this.evictions = { notBefore: 0, pause: 0 };
      } catch (error) {
        // Renewed meanwhile (409) or already gone: the next round looks again.
        const failure = asLeaseLockError(error);
        if (failure.reason === 'conflict' || failure.reason === 'not_found') continue;
        this.emit('evict', failure);
        if (failure.reason !== 'forbidden') continue;
        if (this.evictions.pause === 0) {
          this.logger.warn(
            `cannot delete the member record of ${sighting.record.identity}, a replica that left without ` +
              `withdrawing (${failure.message}). Grant "delete" on leases.coordination.k8s.io in this namespace ` +
              'so departed members are cleaned up; until then each stays listed until its Lease is deleted by hand. ' +
              'Logged once; counted in leader_election_errors_total{operation="evict"}.',
          );
        }
        this.evictions.pause = Math.min(Math.max(2 * this.evictions.pause, this.leaseDuration), this.handoverBackoff);
        this.evictions.notBefore = this.clock.now() + this.evictions.pause;
        return;
      } finally {
        timeout.clear();
      }
    }
  }

  private emit(operation: MemberErrorEvent['operation'], error: unknown): void {
    const event: MemberErrorEvent = { type: 'member-error', operation, error: asLeaseLockError(error) };
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (thrown) {
        this.logger.warn(`a member-error listener threw: ${(thrown as Error)?.message ?? String(thrown)}`);
      }
    }
  }

  /** How the member directory follows the others, for health checks; undefined if it reports nothing. */
  get memberView(): MemberDirectory['diagnostics'] {
    return this.options.members.diagnostics;
  }
}

function pickTiming(options: LeaderElectionGroupOptions): Partial<LeaderElectorOptions> {
  const { leaseDuration, renewDeadline, retryPeriod, requestTimeout, releaseTimeout, watch, releaseOnStop } = options;
  const { clock, logger, random } = options;
  const picked: Partial<LeaderElectorOptions> = {
    leaseDuration,
    renewDeadline,
    retryPeriod,
    requestTimeout,
    releaseTimeout,
    watch,
    releaseOnStop,
    clock: clock ?? systemClock,
    logger,
    random,
  };
  return Object.fromEntries(Object.entries(picked).filter(([, value]) => value !== undefined));
}
