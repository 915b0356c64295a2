import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Injectable, ServiceUnavailableException, type ModuleMetadata } from '@nestjs/common';
import {
  getLeaderElectionToken,
  InjectLeaderElection,
  LeaderElectionModule,
  LeaderElectionService,
  LeaderGuard,
  NotLeaderError,
  OnLeadershipAcquired,
  OnLeadershipLost,
  OnlyWhenLeader,
  type LeadershipEvent,
  type LeadershipLostEvent,
  type LeadershipTerm,
} from '../../lib/index.js';
import { MemoryLeaseLock } from '../../lib/elector/internal.js';
import { SchedulerRegistry } from '@nestjs/schedule';
import { NestApps } from '../support/nest-apps.js';
import { RecordingLeaseLock } from '../support/recording-lease-lock.js';

// Short real-time timings: a MemoryLeaseLock shared by apps in this process is a real election.
const timings = { leaseDuration: 1000, renewDeadline: 500, retryPeriod: 100 };

function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((done) => (resolve = done));
  return { promise, resolve };
}

async function waitUntil<T>(condition: () => T, ms: number, what: string): Promise<NonNullable<T>> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = condition();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms}ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Overwrites the Lease for a holder that never renews (an outside writer). */
function steal(lock: MemoryLeaseLock): void {
  const spec = lock.peek() as Record<string, unknown>;
  const now = new Date().toISOString().replace('Z', '000Z');
  lock.overwrite({ ...spec, holderIdentity: 'thief', renewTime: now, acquireTime: now, leaseDurationSeconds: 1 });
}

@Injectable()
class Work {
  seen: (LeadershipTerm | null)[] = [];
  release = deferred();

  constructor(readonly election: LeaderElectionService) {}

  @OnlyWhenLeader()
  sync(): LeadershipTerm | null {
    return this.election.admittedTerm();
  }

  @OnlyWhenLeader()
  async long(): Promise<void> {
    this.seen.push(this.election.admittedTerm());
    await this.release.promise;
    await new Promise((resolve) => setTimeout(resolve, 1));
    this.seen.push(this.election.admittedTerm());
  }

  @OnlyWhenLeader({ onFollower: 'throw' })
  async strict(): Promise<string> {
    return 'done';
  }

  @OnlyWhenLeader({ onFollower: 'throw' })
  strictSync(): string {
    return 'done';
  }

  outside(): LeadershipTerm | null {
    return this.election.admittedTerm();
  }
}

describe('leader-only work in Nest', () => {
  const apps = new NestApps();
  afterEach(() => apps.closeAll());

  async function app(
    identity: string,
    lock: MemoryLeaseLock | RecordingLeaseLock,
    providers: ModuleMetadata['providers'] = [Work],
    extra: Record<string, unknown> = {},
  ) {
    const moduleRef = await apps.start({
      imports: [
        LeaderElectionModule.forRoot({
          leaseName: lock.name,
          lock,
          identity,
          logLevel: 'silent',
          ...timings,
          ...extra,
        }),
      ],
      providers,
    });
    return { moduleRef, service: moduleRef.get(LeaderElectionService) };
  }

  it('admittedTerm() is the admitted term inside a gated call, across awaits, and null outside', async () => {
    const lock = new MemoryLeaseLock('term-context');
    const { moduleRef, service } = await app('a', lock);
    const term = await service.waitForLeadership();
    const work = moduleRef.get(Work);
    expect(work.sync()).toBe(term);
    expect(work.outside()).toBeNull();
    expect(service.admittedTerm()).toBeNull();
    const running = work.long();
    expect(work.outside()).toBeNull(); // the caller is not inside the gated call
    work.release.resolve();
    await running;
    expect(work.seen).toEqual([term, term]);
  });

  it('a running call keeps its own term after a steal and re-acquisition, never the later one', async () => {
    const lock = new MemoryLeaseLock('term-never-later');
    const { moduleRef, service } = await app('a', lock);
    const first = await service.waitForLeadership();
    const work = moduleRef.get(Work);
    const running = work.long();
    steal(lock);
    await waitUntil(() => first.signal.aborted, 2000, 'the stolen term to end');
    const second = await service.waitForLeadership(AbortSignal.timeout(3000));
    expect(second).not.toBe(first);
    work.release.resolve();
    await running;
    expect(work.seen).toEqual([first, first]);
    expect(work.seen[1]!.signal.aborted).toBe(true);
    expect(work.sync()).toBe(second);
  }, 10_000);

  it('a gated call nested in a call admitted by an ended term is refused, even after this replica leads again', async () => {
    // Issue 25, item 1: the inner call used to be admitted by the live (later) term, with its signal and token.
    @Injectable()
    class NestedWork {
      release = deferred();
      persisted: (LeadershipTerm | null)[] = [];
      outcome: unknown = 'not run';

      constructor(readonly election: LeaderElectionService) {}

      @OnlyWhenLeader()
      async job(): Promise<void> {
        this.persisted.push(await this.persist());
        await this.release.promise;
        this.persisted.push(await this.persist());
        this.outcome = await this.persistStrict().catch((error: unknown) => error);
      }

      @OnlyWhenLeader()
      async persist(): Promise<LeadershipTerm | null> {
        return this.election.admittedTerm();
      }

      @OnlyWhenLeader({ onFollower: 'throw' })
      async persistStrict(): Promise<LeadershipTerm | null> {
        return this.election.admittedTerm();
      }
    }
    const lock = new MemoryLeaseLock('nested-term');
    const { moduleRef, service } = await app('a', lock, [NestedWork]);
    const first = await service.waitForLeadership();
    const work = moduleRef.get(NestedWork);
    const running = work.job();
    await waitUntil(() => work.persisted.length === 1, 1000, 'the first nested call');
    steal(lock);
    await waitUntil(() => first.signal.aborted, 2000, 'the stolen term to end');
    const second = await service.waitForLeadership(AbortSignal.timeout(3000));
    expect(second).not.toBe(first);
    work.release.resolve();
    await running;
    // Inside term 1 the nested call ran under term 1; after it ended, skipped (undefined) and thrown, never term 2.
    expect(work.persisted).toEqual([first, undefined]);
    expect(work.outcome).toBeInstanceOf(NotLeaderError);
    // A fresh call is admitted by the live term, and its nested calls share it.
    expect(await work.persist()).toBe(second);
  }, 10_000);

  it("a single registration's elector drains its leader-only calls before a preemption's release", async () => {
    // Issue 25, item 2: single registrations passed no drain to the elector, so a preemption released at once.
    const lock = new MemoryLeaseLock('preemption-drain');
    const { moduleRef, service } = await app('a', lock);
    await service.waitForLeadership();
    const work = moduleRef.get(Work);
    const running = work.long();
    let drained = false;
    const draining = service.elector.options.handoverDrain!().then(() => (drained = true));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(drained).toBe(false);
    work.release.resolve();
    await Promise.all([running, draining]);
    expect(drained).toBe(true);
  });

  it('gated calls inside work an acquire handler started are admitted by the live term, as each job of a worker loop', async () => {
    @Injectable()
    class WorkerLoop {
      jobs: (LeadershipTerm | null)[] = [];
      next = deferred();
      stop = false;

      constructor(readonly election: LeaderElectionService) {}

      @OnLeadershipAcquired()
      onAcquired(): void {
        if (this.jobs.length > 0) return;
        void (async () => {
          while (!this.stop) {
            await this.next.promise;
            this.next = deferred();
            this.jobs.push((await this.process()) ?? null);
          }
        })();
      }

      @OnlyWhenLeader()
      async process(): Promise<LeadershipTerm | null> {
        return this.election.admittedTerm();
      }
    }
    const lock = new MemoryLeaseLock('worker-loop-term');
    const { moduleRef, service } = await app('a', lock, [WorkerLoop]);
    const first = await service.waitForLeadership();
    const loop = moduleRef.get(WorkerLoop);
    loop.next.resolve();
    await waitUntil(() => loop.jobs.length === 1, 1000, 'the first job');
    steal(lock);
    await waitUntil(() => first.signal.aborted, 2000, 'the stolen term to end');
    const second = await service.waitForLeadership(AbortSignal.timeout(3000));
    loop.stop = true;
    loop.next.resolve();
    await waitUntil(() => loop.jobs.length === 2, 1000, 'the second job');
    expect(loop.jobs).toEqual([first, second]);
  }, 10_000);

  it("runIfLeader(): the imperative gate of a SchedulerRegistry job, with the decorator's semantics", async () => {
    @Injectable()
    class RuntimeJobs {
      runs: Array<{ term: LeadershipTerm; admitted: LeadershipTerm | null; nested: LeadershipTerm | null }> = [];
      slow = deferred();
      constructor(
        readonly election: LeaderElectionService,
        readonly registry: SchedulerRegistry,
      ) {}

      schedule(): void {
        const tick = () =>
          void this.election.runIfLeader(async (term) => {
            this.runs.push({ term, admitted: this.election.admittedTerm(), nested: (await this.nested()) ?? null });
          });
        this.registry.addInterval('runtime-job', setInterval(tick, 20));
      }

      @OnlyWhenLeader()
      async nested(): Promise<LeadershipTerm | null> {
        return this.election.admittedTerm();
      }
    }
    const lock = new MemoryLeaseLock('run-if-leader');
    const leader = await app('a', lock, [RuntimeJobs, SchedulerRegistry]);
    const follower = await app('b', lock, [RuntimeJobs, SchedulerRegistry]);
    const term = await leader.service.waitForLeadership();
    const jobs = [leader, follower].map(({ moduleRef }) => moduleRef.get(RuntimeJobs));
    for (const job of jobs) job.schedule();
    await waitUntil(() => jobs[0]!.runs.length >= 3, 2000, 'three runs on the leader');
    expect(jobs[1]!.runs).toEqual([]);
    expect(jobs[0]!.runs[0]).toEqual({ term, admitted: term, nested: term });
    // On a follower: undefined, or a NotLeaderError with onFollower: 'throw'.
    await expect(follower.service.runIfLeader(() => 'ran')).resolves.toBeUndefined();
    await expect(follower.service.runIfLeader(() => 'ran', { onFollower: 'throw' })).rejects.toBeInstanceOf(
      NotLeaderError,
    );
    await expect(leader.service.runIfLeader(() => 'ran')).resolves.toBe('ran');
    // The shutdown drain waits for running work before the Lease is released.
    let finished = false;
    const running = leader.service.runIfLeader(async () => {
      await jobs[0]!.slow.promise;
      finished = true;
    });
    const closing = leader.moduleRef.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(leader.service.isLeader).toBe(false);
    expect((lock.peek() as { holderIdentity: string }).holderIdentity).toBe('a');
    jobs[0]!.slow.resolve();
    await Promise.all([running, closing]);
    expect(finished).toBe(true);
    expect((lock.peek() as { holderIdentity: string }).holderIdentity).not.toBe('a');
    for (const job of jobs) job.registry.deleteInterval('runtime-job');
  });

  it('two apps in one process and two elections in one app each have their own term context', async () => {
    @Injectable()
    class TwoElections {
      constructor(
        @InjectLeaderElection('billing') readonly billing: LeaderElectionService,
        @InjectLeaderElection('reports') readonly reports: LeaderElectionService,
      ) {}

      @OnlyWhenLeader('billing')
      bill() {
        return { billing: this.billing.admittedTerm(), reports: this.reports.admittedTerm() };
      }
    }
    const refs = [];
    for (const identity of ['x', 'y']) {
      const moduleRef = await apps.start({
        imports: ['billing', 'reports'].map((name) =>
          LeaderElectionModule.forRoot({
            election: name,
            leaseName: `${name}-${identity}`,
            standalone: true,
            identity,
            logLevel: 'silent',
          }),
        ),
        providers: [TwoElections],
      });
      refs.push(moduleRef);
    }
    for (const moduleRef of refs) {
      const work = moduleRef.get(TwoElections);
      const billingTerm = await work.billing.waitForLeadership();
      await work.reports.waitForLeadership();
      expect(work.bill()).toEqual({ billing: billingTerm, reports: null });
      expect(work.bill().billing!.identity).toBe(work.billing.identity);
    }
  });

  it("onFollower: 'throw' rejects (or throws) a NotLeaderError naming the election and the leader; 'skip' stays the default", async () => {
    const lock = new MemoryLeaseLock('follower-throw');
    const leader = await app('leader-a', lock);
    await leader.service.waitForLeadership();
    const follower = await app('follower-b', lock);
    await waitUntil(() => follower.service.leader === 'leader-a', 2000, 'the follower to see the leader');
    const work = follower.moduleRef.get(Work);
    await expect(work.long()).resolves.toBeUndefined();
    expect(work.sync()).toBeUndefined();
    const rejected = await work.strict().catch((error: unknown) => error);
    expect(rejected).toBeInstanceOf(NotLeaderError);
    expect(rejected).toMatchObject({ election: 'default', leader: 'leader-a', identity: 'follower-b' });
    expect((rejected as Error).message).toMatch(/not the leader of election "default".*the leader is "leader-a"/);
    expect(() => work.strictSync()).toThrow(NotLeaderError);
    await expect(leader.moduleRef.get(Work).strict()).resolves.toBe('done');
  });

  it('rejects an onFollower value other than skip or throw when decorating', () => {
    expect(() => OnlyWhenLeader({ onFollower: 'ignore' as never })).toThrow(/onFollower must be 'skip' or 'throw'/);
  });

  it('LeaderGuard lets the leader through and answers 503 on a follower, naming the leader', async () => {
    const lock = new MemoryLeaseLock('guard');
    const leader = await app('guard-a', lock);
    await leader.service.waitForLeadership();
    const follower = await app('guard-b', lock);
    await waitUntil(() => follower.service.leader === 'guard-a', 2000, 'the follower to see the leader');
    expect(new LeaderGuard(leader.service).canActivate()).toBe(true);
    const error = (() => {
      try {
        new LeaderGuard(follower.service).canActivate();
      } catch (thrown) {
        return thrown;
      }
    })();
    expect(error).toBeInstanceOf(ServiceUnavailableException);
    expect((error as ServiceUnavailableException).getStatus()).toBe(503);
    expect((error as ServiceUnavailableException).getResponse()).toMatchObject({
      statusCode: 503,
      election: 'default',
      leader: 'guard-a',
      message: expect.stringContaining('the leader is "guard-a"'),
    });
  });
});

@Injectable()
class Consumer {
  log: string[] = [];
  stopGate: Promise<void> | null = null;
  startGate: Promise<void> | null = null;
  terms: (LeadershipTerm | null)[] = [];

  constructor(readonly election: LeaderElectionService) {}

  @OnLeadershipAcquired()
  async start(event: LeadershipEvent): Promise<void> {
    this.log.push('start:begin');
    this.terms.push(this.election.admittedTerm());
    expect(event.term).toBe(this.election.admittedTerm());
    if (this.startGate) await this.startGate;
    this.log.push('start:end');
  }

  @OnLeadershipLost()
  async stop(event: LeadershipLostEvent): Promise<void> {
    this.log.push(`stop:begin:${event.reason}`);
    if (this.stopGate) await this.stopGate;
    this.log.push('stop:end');
  }
}

describe('leader-only lifecycle: awaited async leadership handlers', () => {
  const apps = new NestApps();
  afterEach(() => apps.closeAll());

  async function app(identity: string, lock: MemoryLeaseLock | RecordingLeaseLock) {
    const moduleRef = await apps.start({
      imports: [LeaderElectionModule.forRoot({ leaseName: lock.name, lock, identity, logLevel: 'silent', ...timings })],
      providers: [Consumer],
    });
    return { moduleRef, service: moduleRef.get(LeaderElectionService), consumer: moduleRef.get(Consumer) };
  }

  it('the shutdown drain awaits an async loss handler before the Lease is released', async () => {
    const lock = new MemoryLeaseLock('drain-handlers');
    const { moduleRef, service, consumer } = await app('drainer', lock);
    await service.waitForLeadership();
    const gate = deferred();
    consumer.stopGate = gate.promise;
    let closed = false;
    const closing = apps.close(moduleRef).then(() => (closed = true));
    await waitUntil(() => consumer.log.includes('stop:begin:shutdown'), 1000, 'the loss handler to start');
    await new Promise((resolve) => setTimeout(resolve, timings.retryPeriod * 3));
    expect(closed).toBe(false);
    expect((lock.peek() as { holderIdentity: string }).holderIdentity).toBe('drainer');
    gate.resolve();
    await closing;
    expect(consumer.log.at(-1)).toBe('stop:end');
    expect((lock.peek() as { holderIdentity: string }).holderIdentity).toBe('');
  });

  it('the drain also awaits a loss handler when shutdown starts inside an event dispatch', async () => {
    const gate = deferred();
    const log: string[] = [];
    @Injectable()
    class StopOnly {
      @OnLeadershipLost()
      async stop(): Promise<void> {
        log.push('stop:begin');
        await gate.promise;
      }
    }
    const lock = new MemoryLeaseLock('drain-in-dispatch');
    const moduleRef = await apps.compile({
      imports: [
        LeaderElectionModule.forRoot({ leaseName: lock.name, lock, identity: 'd', logLevel: 'silent', ...timings }),
      ],
      providers: [StopOnly],
    });
    const service = moduleRef.get(LeaderElectionService);
    let stopping: Promise<void> | null = null;
    // Its loss event is queued behind the event being dispatched when stop() is called.
    service.elector.subscribe((event) => {
      if (event.type === 'started-leading') stopping = service.beforeApplicationShutdown();
    });
    await moduleRef.init();
    await waitUntil(() => log.includes('stop:begin'), 2000, 'the loss handler to start');
    await new Promise((resolve) => setTimeout(resolve, timings.retryPeriod * 3));
    expect((lock.peek() as { holderIdentity: string }).holderIdentity).toBe('d');
    gate.resolve();
    await stopping;
    expect((lock.peek() as { holderIdentity: string }).holderIdentity).toBe('');
  });

  it('a loss handler waits for a still-running acquire handler of the same provider, so stop follows start', async () => {
    const lock = new MemoryLeaseLock('ordered-handlers');
    const startGate = deferred();
    // Hold the start from the first acquisition on: set before init through the prototype-free instance.
    const moduleRef = await apps.compile({
      imports: [
        LeaderElectionModule.forRoot({ leaseName: lock.name, lock, identity: 'o', logLevel: 'silent', ...timings }),
      ],
      providers: [Consumer],
    });
    const consumer = moduleRef.get(Consumer);
    consumer.startGate = startGate.promise;
    await moduleRef.init();
    const service = moduleRef.get(LeaderElectionService);
    const term = await service.waitForLeadership();
    steal(lock);
    await waitUntil(() => term.signal.aborted, 2000, 'the stolen term to end');
    expect(consumer.log).toEqual(['start:begin']);
    startGate.resolve();
    await waitUntil(() => consumer.log.includes('stop:end'), 1000, 'the stop handler');
    expect(consumer.log.slice(0, 4)).toEqual(['start:begin', 'start:end', 'stop:begin:stolen', 'stop:end']);
    expect(consumer.terms[0]).toBe(term);
  }, 10_000);

  it.each(['stolen', 'renew-failed', 'expired'] as const)(
    'the stop side runs promptly when the term ends: %s',
    async (reason) => {
      const lock = new RecordingLeaseLock(new MemoryLeaseLock(`stop-${reason}`));
      const { service, consumer } = await app('prompt', lock);
      const term = await service.waitForLeadership();
      await waitUntil(() => consumer.log.includes('start:end'), 1000, 'the start handler');
      if (reason === 'stolen') {
        steal(lock.inner as MemoryLeaseLock);
      } else if (reason === 'renew-failed') {
        lock.failAlways('*', new Error('apiserver unavailable'));
      } else {
        // A stalled event loop: nothing can run for longer than renewDeadline.
        const until = performance.now() + timings.renewDeadline + 100;
        while (performance.now() < until);
      }
      const startedAt = performance.now();
      await waitUntil(() => term.signal.aborted, 3000, 'the term to end');
      const endedAt = performance.now();
      await waitUntil(() => consumer.log.includes(`stop:begin:${reason}`), 100, `the ${reason} stop handler`);
      expect(performance.now() - endedAt).toBeLessThan(100);
      expect(endedAt - startedAt).toBeLessThan(timings.renewDeadline + 300);
      lock.clearFailures();
    },
    10_000,
  );
});

describe('bootstrap errors for wiring mistakes', () => {
  // These apps fail their bootstrap on purpose and may not close cleanly.
  const apps = new NestApps({ ignoreCloseErrors: true });
  afterEach(() => apps.closeAll());

  const boot = (imports: ModuleMetadata['imports'], providers: ModuleMetadata['providers']) =>
    apps.start({ imports, providers });

  const standalone = (leaseName: string, name?: string) =>
    LeaderElectionModule.forRoot({
      leaseName,
      standalone: true,
      logLevel: 'silent',
      ...(name ? { election: name } : {}),
    });

  it('a duplicate election name fails the bootstrap', async () => {
    await expect(boot([standalone('one'), standalone('two')], [])).rejects.toThrow(
      /election "default" is registered 2 times.*give each registration its own `election`/s,
    );
    await expect(boot([standalone('one', 'jobs'), standalone('one-again', 'jobs')], [])).rejects.toThrow(
      /election "jobs" is registered 2 times/,
    );
  });

  it('the same service provided again under another token is not a duplicate', async () => {
    const moduleRef = await boot(
      [standalone('reexported', 'jobs')],
      [
        {
          provide: 'JobsElection',
          useFactory: (service: LeaderElectionService) => service,
          inject: [getLeaderElectionToken('jobs')],
        },
      ],
    );
    expect(moduleRef.get('JobsElection')).toBe(moduleRef.get(getLeaderElectionToken('jobs')));
  });

  it('@OnlyWhenLeader naming an unregistered election fails the bootstrap saying what to register', async () => {
    @Injectable()
    class Typo {
      @OnlyWhenLeader('biling')
      bill(): void {}
    }
    await expect(boot([standalone('billing', 'billing')], [Typo])).rejects.toThrow(
      /registered: "billing".*@OnlyWhenLeader\("biling"\) on Typo\.bill: register LeaderElectionModule\.forRoot\(\{ election: "biling", leaseName: \.\.\. \}\)/s,
    );
  });

  it('@OnLeadershipLost naming an unregistered election fails the bootstrap', async () => {
    @Injectable()
    class LostTypo {
      @OnLeadershipLost('typo')
      lost(): void {}
    }
    await expect(boot([standalone('real')], [LostTypo])).rejects.toThrow(
      /@OnLeadershipLost\("typo"\) on LostTypo\.lost: register LeaderElectionModule\.forRoot\(\{ election: "typo"/,
    );
  });

  it('handlers on a provider that is also registered by alias (useExisting) run once', async () => {
    @Injectable()
    class Listener {
      calls = 0;
      @OnLeadershipAcquired()
      acquired(): void {
        this.calls++;
      }
    }
    const moduleRef = await boot(
      [standalone('alias')],
      [Listener, { provide: 'ListenerAlias', useExisting: Listener }],
    );
    await moduleRef.get(LeaderElectionService).waitForLeadership();
    const listener = moduleRef.get(Listener);
    expect(moduleRef.get('ListenerAlias')).toBe(listener);
    await waitUntil(() => listener.calls > 0, 1000, 'the handler');
    await new Promise((resolve) => setImmediate(resolve));
    expect(listener.calls).toBe(1);
  });
});
