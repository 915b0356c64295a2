/**
 * The health rules (evaluateElectorHealth) on a fake clock, and the
 * @nestjs/terminus indicator in a Nest testing module.
 */
import 'reflect-metadata';
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { TerminusModule } from '@nestjs/terminus';
import { Test, type TestingModule } from '@nestjs/testing';
import {
  LeaderElector,
  LeaseForbiddenError,
  LeaseInvalidError,
  LeaseNotFoundError,
  LeaseTimeoutError,
  LeaseUnavailableError,
  MemoryLeaseLock,
  formatMicroTime,
  type ElectorDiagnostics,
  type ElectorLogger,
  type LeaderElectorOptions,
  type LeaseLock,
  type LeaseReadResult,
  type LeaseRecord,
} from '../../lib/elector/internal.js';
import {
  LeaderElectionHealthIndicator,
  evaluateElectorHealth,
  evaluateElectorLiveness,
  evaluateElectorReadiness,
} from '../../lib/health/index.js';
import {
  LeaderElectionGroupService,
  LeaderElectionModule,
  LeaderElectionService,
  getLeaderElectionGroupToken,
  getLeaderElectionToken,
} from '../../lib/index.js';
import { delegatingLock } from '../support/delegating-lease-lock.js';
import { FakeClock } from '../support/fake-clock.js';
import { NestApps } from '../support/nest-apps.js';
import { RecordingLeaseLock } from '../support/recording-lease-lock.js';

const TIMING = { leaseDuration: 2000, renewDeadline: 1000, retryPeriod: 250 } as const;
/** leaseDuration + the default tolerance (renewDeadline). */
const WEDGE_LIMIT = TIMING.leaseDuration + TIMING.renewDeadline;
const LEASE_NAME = 'health-lease';
const quiet: ElectorLogger = { log: () => undefined, warn: () => undefined, error: () => undefined };
const running: Array<{ elector: LeaderElector; clock: FakeClock }> = [];

afterEach(async () => {
  for (const { elector, clock } of running.splice(0)) {
    // A lock that ignores its abort signal never lets stop() finish; such an elector is simply abandoned (it
    // only holds fake timers).
    let done = false;
    void elector.stop().then(() => {
      done = true;
    });
    await clock.advanceUntil(() => done, 20_000, 100).catch(() => undefined);
  }
});

function candidate(
  identity: string,
  shared: { clock?: FakeClock; memory?: MemoryLeaseLock; lock?: LeaseLock } = {},
  overrides: Partial<LeaderElectorOptions> = {},
) {
  const clock = shared.clock ?? new FakeClock();
  const memory = shared.memory ?? new MemoryLeaseLock('health-lease', 'default');
  const lock = new RecordingLeaseLock(shared.lock ?? memory, clock);
  const elector = new LeaderElector({ lock, clock, identity, logger: quiet, random: () => 0, ...TIMING, ...overrides });
  running.push({ elector, clock });
  const health = (options?: Parameters<typeof evaluateElectorHealth>[1]) => evaluateElectorHealth(elector, options);
  const heldBy = (holderIdentity: string): LeaseRecord => ({
    holderIdentity,
    leaseDurationSeconds: TIMING.leaseDuration / 1000,
    acquireTime: formatMicroTime(clock.wallNow()),
    renewTime: formatMicroTime(clock.wallNow()),
    leaseTransitions: 0,
  });
  /** Calls stop() and advances the clock until it resolves. */
  const stop = async () => {
    let done = false;
    const stopping = elector.stop().then(() => {
      done = true;
    });
    await clock.advanceUntil(() => done, 60_000);
    await stopping;
  };
  return { clock, memory, lock, elector, health, heldBy, stop };
}

describe('evaluateElectorHealth: up', () => {
  it('is up while idle (never started), however long that lasts', async () => {
    const { clock, health } = candidate('me');
    expect(health()).toStrictEqual({
      healthy: true,
      details: {
        identity: 'me',
        lease: LEASE_NAME,
        namespace: 'default',
        leader: null,
        isLeader: false,
        state: 'idle',
        mode: 'inactive',
        fencingScheme: null,
        lastRenewAgeSeconds: null,
        lastError: null,
      },
    });
    clock.jump(60 * 60_000);
    expect(health().healthy).toBe(true);
  });

  it('is up while leading and renewing, with identity, leader, isLeader and the age of the last renewal', async () => {
    const { clock, elector, health } = candidate('me');
    elector.start();
    await clock.advance(10 * WEDGE_LIMIT + 100); // renewals every 250ms; the last one was sent 100ms ago
    expect(elector.isLeader).toBe(true);
    expect(health()).toStrictEqual({
      healthy: true,
      details: {
        identity: 'me',
        lease: LEASE_NAME,
        namespace: 'default',
        leader: 'me',
        isLeader: true,
        state: 'leader',
        mode: 'leading',
        fencingScheme: 'resource-version',
        lastRenewAgeSeconds: 0.1,
        lastError: null,
      },
    });
  });

  it('is up while following a live leader for a long time (attempts keep completing)', async () => {
    const clock = new FakeClock();
    const memory = new MemoryLeaseLock('health-lease', 'default');
    const leader = candidate('leader', { clock, memory });
    const follower = candidate('follower', { clock, memory });
    leader.elector.start();
    await clock.flush();
    follower.elector.start();
    await clock.advance(10 * WEDGE_LIMIT);
    expect(follower.health()).toStrictEqual({
      healthy: true,
      details: {
        identity: 'follower',
        lease: LEASE_NAME,
        namespace: 'default',
        leader: 'leader',
        isLeader: false,
        state: 'candidate',
        mode: 'polling',
        fencingScheme: 'resource-version',
        lastRenewAgeSeconds: null,
        lastError: null,
      },
    });
    expect(leader.health().healthy).toBe(true);
  });

  it('reports the last error (operation, reason, message, age) after a transient failure, and stays up', async () => {
    const { clock, lock, elector, health } = candidate('me');
    lock.failNext('get', new LeaseUnavailableError('apiserver said 503', { status: 503 }));
    elector.start();
    await clock.flush();
    expect(health()).toMatchObject({
      healthy: true,
      details: {
        isLeader: false,
        lastError: { operation: 'acquire', reason: 'unavailable', message: 'apiserver said 503', ageSeconds: 0 },
      },
    });
    await clock.advance(1500);
    expect(elector.isLeader).toBe(true);
    expect(health()).toMatchObject({
      healthy: true,
      details: {
        isLeader: true,
        lastError: { operation: 'acquire', reason: 'unavailable', ageSeconds: 1.5 },
      },
    });
  });

  it('is up after stop, and stays up however long it stays stopped', async () => {
    const { clock, elector, health, stop } = candidate('me');
    elector.start();
    await clock.advance(500);
    await stop();
    expect(health()).toMatchObject({ healthy: true, details: { state: 'stopped', isLeader: false, leader: null } });
    clock.jump(60 * 60_000);
    expect(health().healthy).toBe(true);
  });
});

describe('evaluateElectorHealth: a wedged loop', () => {
  it('is down once an attempt outlives every deadline it has (4 x requestTimeout + tolerance)', async () => {
    const { clock, lock, elector, health } = candidate('me');
    lock.delay('*', Number.POSITIVE_INFINITY, { ignoreAbort: true });
    elector.start();
    await clock.advance(WEDGE_LIMIT);
    expect(lock.inFlight().map((call) => call.verb)).toEqual(['get']);
    expect(health()).toMatchObject({ healthy: true, details: { state: 'candidate' } });
    await clock.advance(1);
    const verdict = health();
    expect(verdict.healthy).toBe(false);
    expect(verdict.reason).toBe(
      'election loop wedged: an attempt has been in flight for 3.001s (limit 3s); a request ignored its deadline',
    );
    expect(evaluateElectorLiveness(elector).reason).toBe(verdict.reason);
    expect(verdict.details).toMatchObject({ identity: 'me', state: 'candidate', isLeader: false });
  });

  it('is down once a leader stuck in a renewal has waited on it past every deadline', async () => {
    const { clock, lock, elector, health } = candidate('me');
    elector.start();
    await clock.advance(100); // acquired at 0: the last completed attempt
    lock.delay('*', Number.POSITIVE_INFINITY, { ignoreAbort: true });
    await clock.advance(TIMING.renewDeadline - 100);
    // The renewal sent at 250 never returns: the leader deposed itself at the renew deadline, but is still up.
    expect(elector.isLeader).toBe(false);
    expect(health().healthy).toBe(true);
    await clock.advanceTo(250 + WEDGE_LIMIT);
    expect(health().healthy).toBe(true);
    await clock.advance(1);
    expect(health()).toMatchObject({
      healthy: false,
      reason: expect.stringMatching(/^election loop wedged: an attempt has been in flight/),
      details: { isLeader: false, state: 'candidate', lastRenewAgeSeconds: 3.251, lastError: null },
    });
  });

  it('honours the tolerance option', async () => {
    const { clock, lock, elector, health } = candidate('me');
    lock.delay('*', Number.POSITIVE_INFINITY, { ignoreAbort: true });
    elector.start();
    await clock.advance(TIMING.leaseDuration);
    expect(health({ tolerance: 0 }).healthy).toBe(true);
    await clock.advance(1);
    expect(health({ tolerance: 0 })).toMatchObject({ healthy: false, reason: expect.stringContaining('limit 2s') });
    expect(health().healthy).toBe(true);
    await clock.advanceTo(TIMING.leaseDuration + 5000);
    expect(health({ tolerance: 5000 }).healthy).toBe(true);
    await clock.advance(1);
    expect(health({ tolerance: 5000 }).healthy).toBe(false);
  });

  it('is not wedged when a hanging API server makes every call time out: attempts still finish', async () => {
    const { clock, lock, elector, health } = candidate('me');
    lock.delay('*', Number.POSITIVE_INFINITY); // hangs, but honours the request timeout
    elector.start();
    await clock.advance(10 * WEDGE_LIMIT);
    expect(lock.log.filter((call) => call.outcome === 'error').length).toBeGreaterThan(10);
    expect(health()).toMatchObject({
      healthy: true,
      details: { isLeader: false, lastError: { operation: 'acquire', reason: 'timeout' } },
    });
    // ... but an API server that stays unreachable longer than leaseDuration is down with downWhenUnreachable.
    expect(health({ downWhenUnreachable: true })).toMatchObject({
      healthy: false,
      reason: expect.stringMatching(/^API server unreachable for \d+(\.\d+)?s: /),
    });
  });
});

describe('evaluateElectorHealth: a dead loop', () => {
  it('a lock throwing a plain (non-LeaseLockError) Error cannot crash the loop: alive, and not ready after leaseDuration', async () => {
    const { clock, lock, elector, health } = candidate('me');
    lock.failAlways('get', new TypeError('bug in a custom lock'));
    elector.start();
    await clock.advance(10 * WEDGE_LIMIT);
    expect(elector.diagnostics.loopError).toBeNull();
    expect(lock.calls.length).toBeGreaterThan(10); // still retrying
    expect(evaluateElectorLiveness(elector)).toMatchObject({
      healthy: true,
      details: {
        state: 'candidate',
        lastError: { operation: 'acquire', reason: 'other', message: 'bug in a custom lock' },
      },
    });
    expect(health()).toMatchObject({ healthy: false, reason: expect.stringMatching(/^failing for 30s: bug in a/) });
  });

  it('is down when the loop died: a lock resolving a malformed read crashes it', async () => {
    const memory = new MemoryLeaseLock('health-lease', 'default');
    // Breaks the LeaseLock contract: resolves a read whose `normalized.problems` is not a list.
    const broken = delegatingLock(memory, {
      get: async (signal) =>
        ({ ...(await memory.get(signal)), normalized: { problems: 5 } }) as unknown as LeaseReadResult,
    });
    const { clock, elector, health, heldBy } = candidate('me', { lock: broken });
    memory.overwrite(heldBy('other'));
    expect(health().healthy).toBe(true);
    elector.start();
    await clock.flush();
    expect(elector.diagnostics.loopError).toMatch(/^TypeError: .*not iterable/);
    expect(elector.state).toBe('stopped');
    const verdict = health();
    expect(verdict.healthy).toBe(false);
    expect(verdict.reason).toMatch(/^election loop died: TypeError: /);
    expect(verdict.reason).not.toContain('\n');
    expect(verdict.details).toMatchObject({ identity: 'me', state: 'stopped', isLeader: false });
    // A dead loop stays down: nothing will bring it back.
    await clock.advance(10 * WEDGE_LIMIT);
    expect(health().healthy).toBe(false);
  });
});

describe('evaluateElectorHealth: persistent errors', () => {
  it('forbidden: up while the streak is at most leaseDuration, down after, with the message', async () => {
    const { clock, lock, elector, health } = candidate('me');
    lock.failAlways('*', new LeaseForbiddenError('leases.coordination.k8s.io is forbidden: User "x" cannot get'));
    elector.start(); // the first attempt fails at 0: the streak starts there
    await clock.advance(TIMING.leaseDuration);
    expect(elector.diagnostics.errorStreak).toMatchObject({ reason: 'forbidden', since: 0 });
    expect(health()).toMatchObject({
      healthy: true,
      details: { lastError: { operation: 'acquire', reason: 'forbidden' } },
    });
    await clock.advance(1);
    expect(health()).toMatchObject({
      healthy: false,
      reason: 'forbidden for 2.001s: leases.coordination.k8s.io is forbidden: User "x" cannot get',
      details: { isLeader: false, lastError: { reason: 'forbidden' } },
    });
    // The backoff of configuration errors never looks like a wedge: the reason stays "forbidden".
    await clock.advance(20 * WEDGE_LIMIT);
    expect(health().reason).toMatch(/^forbidden for /);

    // RBAC fixed: the next attempt succeeds, and it is up again.
    lock.clearFailures();
    await clock.advanceUntil(() => elector.isLeader, TIMING.leaseDuration);
    expect(health()).toMatchObject({ healthy: true, details: { isLeader: true, state: 'leader' } });
  });

  it('forbidden on renew: the leader steps down and is down once forbidden lasted longer than leaseDuration', async () => {
    const { clock, lock, elector, health } = candidate('me');
    elector.start();
    await clock.advance(100);
    lock.failAlways('*', new LeaseForbiddenError('RBAC revoked'));
    await clock.advanceTo(250); // the first renewal fails: the streak starts here
    expect(elector.diagnostics.errorStreak).toMatchObject({ reason: 'forbidden', since: 250 });
    await clock.advanceTo(250 + TIMING.leaseDuration);
    expect(elector.isLeader).toBe(false);
    expect(health().healthy).toBe(true);
    await clock.advance(1);
    expect(health()).toMatchObject({ healthy: false, reason: 'forbidden for 2.001s: RBAC revoked' });
  });

  it('a success in between restarts the forbidden streak', async () => {
    const { clock, lock, elector, health } = candidate('me');
    lock.failAlways('*', new LeaseForbiddenError('denied'));
    elector.start();
    await clock.advance(TIMING.leaseDuration - 500);
    lock.clearFailures();
    await clock.advanceUntil(() => elector.isLeader, TIMING.leaseDuration);
    const recovered = clock.now();
    lock.failAlways('*', new LeaseForbiddenError('denied again'));
    await clock.advanceTo(recovered + 1000);
    // Forbidden for most of the time since start, but never for longer than leaseDuration in a row.
    expect(clock.now()).toBeGreaterThan(TIMING.leaseDuration);
    expect(health()).toMatchObject({ healthy: true, details: { lastError: { message: 'denied again' } } });
  });

  it('an unavailable API server is reported but up by default; down with downWhenUnreachable after leaseDuration', async () => {
    const { clock, lock, elector, health } = candidate('me');
    lock.failAlways('*', new LeaseUnavailableError('connect ECONNREFUSED 10.0.0.1:443'));
    elector.start();
    await clock.advance(TIMING.leaseDuration);
    expect(health({ downWhenUnreachable: true }).healthy).toBe(true);
    await clock.advance(1);
    expect(health({ downWhenUnreachable: true })).toMatchObject({
      healthy: false,
      reason: 'API server unreachable for 2.001s: connect ECONNREFUSED 10.0.0.1:443',
    });
    await clock.advance(20 * WEDGE_LIMIT);
    const verdict = health();
    expect(verdict.healthy).toBe(true);
    expect(verdict.reason).toBeUndefined();
    expect(verdict.details.lastError).toMatchObject({
      operation: 'acquire',
      reason: 'unavailable',
      message: 'connect ECONNREFUSED 10.0.0.1:443',
      ageSeconds: expect.any(Number),
    });
    expect(verdict.details.lastError!.ageSeconds).toBeLessThan(TIMING.leaseDuration / 1000);
  });

  it('a leader cut off from the API server steps down and, by default, stays up', async () => {
    const { clock, lock, elector, health } = candidate('me');
    elector.start();
    await clock.advance(100);
    lock.failAlways('*', new LeaseUnavailableError('503'));
    await clock.advance(10 * WEDGE_LIMIT);
    expect(elector.isLeader).toBe(false);
    expect(health()).toMatchObject({
      healthy: true,
      details: { isLeader: false, leader: null, lastRenewAgeSeconds: 30.1, lastError: { reason: 'unavailable' } },
    });
    expect(health({ downWhenUnreachable: true }).healthy).toBe(false);
  });

  it('an invalid object (422) that persists longer than leaseDuration is not ready, and still alive', async () => {
    const { clock, lock, elector, health, memory, heldBy } = candidate('me');
    memory.overwrite(heldBy(''));
    lock.failAlways('update', new LeaseInvalidError('spec.renewTime: Invalid value'));
    elector.start();
    await clock.advance(10 * WEDGE_LIMIT);
    expect(elector.diagnostics.errorStreak).toMatchObject({ reason: 'invalid', since: 0 });
    expect(health()).toMatchObject({
      healthy: false,
      reason: 'rejected as invalid for 30s: spec.renewTime: Invalid value',
      details: { lastError: { operation: 'acquire', reason: 'invalid', message: 'spec.renewTime: Invalid value' } },
    });
    expect(evaluateElectorLiveness(elector).healthy).toBe(true);
  });
});

describe('LeaderElectionHealthIndicator (terminus 12, in a Nest testing module)', () => {
  const open: TestingModule[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((moduleRef) => moduleRef.close()));
    jest.restoreAllMocks();
  });

  async function compile(imports: unknown[]): Promise<TestingModule> {
    const moduleRef = await Test.createTestingModule({
      imports: [TerminusModule, ...(imports as never[])],
      providers: [LeaderElectionHealthIndicator],
    }).compile();
    open.push(moduleRef);
    await moduleRef.init();
    return moduleRef;
  }

  const standalone = { standalone: true, logLevel: 'silent' as const, namespace: 'health-ns' };

  it('returns { key: { status: "up", ...details } } for the default election while leading', async () => {
    const moduleRef = await compile([LeaderElectionModule.forRoot({ ...standalone, leaseName: 'health-leader' })]);
    const service = moduleRef.get(LeaderElectionService);
    await service.waitForLeadership();
    const result = moduleRef.get(LeaderElectionHealthIndicator).isHealthy('leader-election');
    expect(result).toEqual({
      'leader-election': {
        status: 'up',
        identity: service.identity,
        lease: 'health-leader',
        namespace: 'health-ns',
        leader: service.identity,
        isLeader: true,
        state: 'leader',
        mode: 'leading',
        fencingScheme: 'resource-version',
        lastRenewAgeSeconds: expect.any(Number),
        lastError: null,
      },
    });
    expect(Object.keys(result)).toEqual(['leader-election']);
  });

  it('checks a named election, and reports status "down" with the reason when the rules say so', async () => {
    const moduleRef = await compile([
      LeaderElectionModule.forRoot({ ...standalone, leaseName: 'billing-leader', election: 'billing' }),
    ]);
    const service = moduleRef.get<LeaderElectionService>(getLeaderElectionToken('billing'));
    await service.waitForLeadership();
    const indicator = moduleRef.get(LeaderElectionHealthIndicator);
    expect(indicator.isHealthy('billing', { election: 'billing' })).toMatchObject({
      billing: { status: 'up', lease: 'billing-leader', namespace: 'health-ns', isLeader: true },
    });

    // The loop dying cannot be provoked through the standalone in-memory lock; feed the rules a dead loop.
    const real = service.elector.diagnostics;
    jest
      .spyOn(service.elector, 'diagnostics', 'get')
      .mockReturnValue({ ...real, loopError: 'Error: boom\n    at somewhere' } satisfies ElectorDiagnostics);
    expect(indicator.isHealthy('billing', { election: 'billing' })).toEqual({
      billing: {
        status: 'down',
        reason: 'election loop died: Error: boom',
        identity: service.identity,
        lease: 'billing-leader',
        namespace: 'health-ns',
        leader: service.identity,
        isLeader: true,
        state: 'leader',
        mode: 'leading',
        fencingScheme: 'resource-version',
        lastRenewAgeSeconds: expect.any(Number),
        lastError: null,
      },
    });
    expect(indicator.isAlive('billing', { election: 'billing' }).billing.status).toBe('down');
    expect(indicator.isReady('billing', { election: 'billing' }).billing.status).toBe('down');
  });

  it('passes the options on: a tolerance of 0 with a lock that never answers turns it down', async () => {
    const moduleRef = await compile([
      LeaderElectionModule.forRoot({
        ...standalone,
        leaseName: 'wedge-leader',
        leaseDuration: 1000,
        renewDeadline: 800,
        retryPeriod: 100,
      }),
    ]);
    const service = moduleRef.get(LeaderElectionService);
    await service.waitForLeadership();
    const indicator = moduleRef.get(LeaderElectionHealthIndicator);
    const lock = service.elector.options.lock as MemoryLeaseLock;
    // A client that ignores its abort signal: calls hang until the test lets them go.
    const hanging: Array<(error: Error) => void> = [];
    const hang = () => new Promise<never>((_, reject) => hanging.push(reject));
    jest.spyOn(lock, 'get').mockImplementation(hang);
    jest.spyOn(lock, 'update').mockImplementation(hang);
    const deadline = Date.now() + 5000;
    let result = indicator.isHealthy('election', { tolerance: 0 });
    while (result.election.status === 'up' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      result = indicator.isHealthy('election', { tolerance: 0 });
    }
    expect(result).toMatchObject({
      election: { status: 'down', reason: expect.stringMatching(/^election loop wedged/), isLeader: false },
    });
    expect(hanging.length).toBeGreaterThan(0);
    // Let shutdown finish: the hung renewal has to answer before the loop can end.
    jest.restoreAllMocks();
    for (const reject of hanging) reject(new LeaseTimeoutError('released by the test'));
  });
});

describe('LeaderElectionHealthIndicator for a spreading registration', () => {
  const apps = new NestApps();
  afterEach(async () => {
    jest.restoreAllMocks();
    await apps.closeAll();
  });

  const group = {
    standalone: true,
    logLevel: 'silent' as const,
    namespace: 'health-ns',
    leaseName: 'jobs',
    leaseDuration: 2000,
    renewDeadline: 1000,
    retryPeriod: 250,
  };

  const compile = (registration: unknown): Promise<TestingModule> =>
    apps.start({ imports: [TerminusModule, registration as never], providers: [LeaderElectionHealthIndicator] });

  async function until(condition: () => boolean): Promise<void> {
    const deadline = Date.now() + 5000;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error('timed out');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  it('gives one verdict for all elections of the group, down naming the election that is down', async () => {
    const moduleRef = await compile(
      LeaderElectionModule.forRoot({ ...group, group: 'jobs', spread: ['billing', 'reports'] }),
    );
    const service = moduleRef.get<LeaderElectionGroupService>(getLeaderElectionGroupToken('jobs'));
    await until(() => service.leading.length === 2);
    const indicator = moduleRef.get(LeaderElectionHealthIndicator);
    expect(indicator.isAlive('jobs', { group: 'jobs' })).toEqual({
      jobs: {
        status: 'up',
        identity: service.identity,
        members: 1,
        leading: ['billing', 'reports'],
        elections: { billing: 'up', reports: 'up' },
      },
    });

    const reports = service.service('reports').elector;
    const real = reports.diagnostics;
    jest
      .spyOn(reports, 'diagnostics', 'get')
      .mockReturnValue({ ...real, loopError: 'Error: boom\n    at somewhere' } satisfies ElectorDiagnostics);
    for (const result of [
      indicator.isAlive('jobs', { group: 'jobs' }),
      indicator.isReady('jobs', { group: 'jobs' }),
      indicator.isHealthy('jobs', { group: 'jobs' }),
    ]) {
      expect(result.jobs).toMatchObject({
        status: 'down',
        reason: 'election "reports": election loop died: Error: boom',
        elections: { billing: 'up', reports: 'down: election loop died: Error: boom' },
      });
    }
    // One election of the group on its own: the single-election verdict.
    expect(indicator.isAlive('billing', { election: 'billing' }).billing).toMatchObject({
      status: 'up',
      isLeader: true,
    });
    expect(indicator.isAlive('reports', { election: 'reports' }).reports.status).toBe('down');
  });

  it('checks the default registration by default; requireLeadership means leading at least one election', async () => {
    const moduleRef = await compile(LeaderElectionModule.forRoot({ ...group, spread: ['billing'] }));
    const service = moduleRef.get(LeaderElectionGroupService);
    await until(() => service.leading.length === 1);
    const indicator = moduleRef.get(LeaderElectionHealthIndicator);
    expect(indicator.isReady('jobs', { requireLeadership: true }).jobs.status).toBe('up');
    await service.service('billing').elector.stop();
    expect(indicator.isReady('jobs', { requireLeadership: true }).jobs).toMatchObject({
      status: 'down',
      reason: "leads none of the group's 1 elections",
    });
    expect(indicator.isReady('jobs').jobs.status).toBe('up');
  });

  it('names the registration it did not find, and what to pass instead', async () => {
    const moduleRef = await compile(LeaderElectionModule.forRoot({ ...group, group: 'jobs', spread: ['billing'] }));
    const indicator = moduleRef.get(LeaderElectionHealthIndicator);
    expect(() => indicator.isAlive('x', { election: 'nope' })).toThrow(/no election "nope" is registered.*\{ group \}/);
    expect(() => indicator.isAlive('x', { group: 'nope' })).toThrow(/no spreading registration \(group\) "nope"/);
    expect(() => indicator.isAlive('x', { election: 'billing', group: 'jobs' })).toThrow(/not both/);
  });
});

describe('liveness a probe can trust (issue 12)', () => {
  /** A watchable Lease: followers then send nothing while a claim is valid. */
  const watched = () => new MemoryLeaseLock('health-lease', 'default', { watchable: true });

  it('keeps idle watching followers alive and ready for 10 x (leaseDuration + renewDeadline) with no faults', async () => {
    const clock = new FakeClock();
    const memory = watched();
    const leader = candidate('leader', { clock, memory });
    const followers = [candidate('f1', { clock, memory }), candidate('f2', { clock, memory })];
    leader.elector.start();
    await clock.flush();
    for (const follower of followers) follower.elector.start();
    await clock.advance(100);
    for (const follower of followers) follower.lock.resetCalls();
    for (let step = 0; step < 10 * WEDGE_LIMIT; step += 250) {
      await clock.advance(250);
      for (const member of [leader, ...followers]) {
        expect(evaluateElectorLiveness(member.elector)).toMatchObject({ healthy: true });
        expect(evaluateElectorReadiness(member.elector)).toMatchObject({ healthy: true });
      }
    }
    for (const follower of followers) {
      expect(follower.health().details.mode).toBe('watching');
      expect(follower.lock.calls).toEqual([]); // silent by design: no requests at all
    }
  });

  it('stays up while someone else holds a long claim (3600 s), watching or polling', async () => {
    for (const memory of [watched(), new MemoryLeaseLock('health-lease', 'default')]) {
      const { clock, elector, health, heldBy } = candidate('me', { memory });
      memory.overwrite({ ...heldBy('kubectl'), leaseDurationSeconds: 3600 });
      elector.start();
      for (let elapsed = 0; elapsed < 10 * 60_000; elapsed += 5000) {
        await clock.advance(5000);
        expect(health()).toMatchObject({ healthy: true, details: { leader: 'kubectl' } });
      }
    }
  });

  it('is down when a timer never fires (a polling follower sleeps past its wake-up time)', async () => {
    const fake = new FakeClock();
    let dropping = false;
    const stuck = Object.assign(Object.create(fake) as FakeClock, {
      setTimeout: (callback: () => void, delayMs: number) =>
        fake.setTimeout(dropping ? () => undefined : callback, delayMs),
    });
    const memory = new MemoryLeaseLock('health-lease', 'default');
    const leader = candidate('leader', { clock: fake, memory });
    const { elector, health } = candidate('me', { clock: stuck, memory });
    leader.elector.start();
    await fake.flush();
    elector.start();
    await fake.advance(100);
    dropping = true;
    // The sleep already armed still wakes; the next one never will.
    const armed = elector.diagnostics.loop.wakeAt;
    await fake.advanceUntil(() => {
      const { phase, wakeAt } = elector.diagnostics.loop;
      return phase === 'sleep' && wakeAt !== armed;
    }, 5000);
    const wakeAt = elector.diagnostics.loop.wakeAt!;
    await fake.advanceTo(wakeAt + TIMING.renewDeadline);
    expect(health().healthy).toBe(true);
    await fake.advance(1);
    expect(evaluateElectorLiveness(elector)).toMatchObject({
      healthy: false,
      reason: 'election loop wedged: its next attempt was due 1.001s ago and never ran',
    });
    dropping = false;
  });

  it('is down when a watch stays connecting past its timeout (a client that ignores the abort)', async () => {
    const memory = new MemoryLeaseLock('health-lease', 'default');
    const lock = delegatingLock(memory, { watch: () => new Promise(() => undefined) });
    const { clock, elector, health } = candidate('me', { lock });
    elector.start();
    const limit = elector.options.requestTimeout + TIMING.renewDeadline;
    await clock.advance(limit);
    expect(health().healthy).toBe(true);
    await clock.advance(1);
    expect(evaluateElectorLiveness(elector)).toMatchObject({
      healthy: false,
      reason: 'lease watch wedged: still connecting past its timeout was due 1.001s ago',
    });
  });

  it('a missing namespace: alive, and not ready once it lasted longer than leaseDuration', async () => {
    const { clock, lock, elector, health } = candidate('me');
    const missing = new LeaseNotFoundError('cannot create lease x/health-lease: namespace "x" does not exist.', {
      status: 404,
    });
    lock.failAlways('create', missing);
    elector.start();
    await clock.advance(TIMING.leaseDuration);
    expect(health().healthy).toBe(true);
    await clock.advance(TIMING.leaseDuration);
    expect(health()).toMatchObject({
      healthy: false,
      reason: expect.stringMatching(/^not found for 4s: cannot create/),
    });
    expect(evaluateElectorLiveness(elector).healthy).toBe(true);
  });

  it('a watch that never reconnects while polling also fails: alive, polling, and not ready when unreachable counts', async () => {
    const memory = watched();
    const broken = new LeaseUnavailableError('API server https://127.0.0.1:1 unreachable (ECONNREFUSED)');
    let failing = false;
    let endWatch: ((error: Error) => void) | null = null;
    const lock = delegatingLock(memory, {
      watch: async (handlers, version, signal) => {
        if (failing) throw broken;
        const inner = await memory.watch!(handlers, version, signal);
        return { done: new Promise<void>((resolve, reject) => ((endWatch = reject), void inner.done.then(resolve))) };
      },
    });
    const { clock, lock: recording, elector } = candidate('me', { lock });
    memory.overwrite({ holderIdentity: 'other', leaseDurationSeconds: 2, leaseTransitions: 0 });
    elector.start();
    await clock.advance(100);
    expect(elector.diagnostics.watch.state).toBe('open');
    failing = true;
    recording.failAlways('*', broken);
    endWatch!(broken);
    await clock.advance(5 * TIMING.leaseDuration);
    expect(evaluateElectorLiveness(elector)).toMatchObject({ healthy: true, details: { mode: 'polling' } });
    expect(recording.calls.filter((verb) => verb === 'get').length).toBeGreaterThan(5);
    expect(evaluateElectorReadiness(elector).healthy).toBe(true);
    expect(evaluateElectorReadiness(elector, { downWhenUnreachable: true })).toMatchObject({
      healthy: false,
      reason: expect.stringContaining('https://127.0.0.1:1'),
    });
  });

  it('requireLeadership: only the leader is ready', async () => {
    const clock = new FakeClock();
    const memory = watched();
    const leader = candidate('leader', { clock, memory });
    const follower = candidate('follower', { clock, memory });
    leader.elector.start();
    await clock.flush();
    follower.elector.start();
    await clock.advance(100);
    expect(evaluateElectorReadiness(leader.elector, { requireLeadership: true }).healthy).toBe(true);
    expect(evaluateElectorReadiness(follower.elector, { requireLeadership: true })).toMatchObject({
      healthy: false,
      reason: 'not the leader of default/health-lease (leader: leader)',
    });
    expect(evaluateElectorLiveness(follower.elector).healthy).toBe(true);
  });
});
