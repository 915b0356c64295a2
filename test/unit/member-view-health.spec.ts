import { afterEach, describe, expect, it } from '@jest/globals';
import {
  LeaderElectionGroup,
  MemoryLeaseLock,
  MemoryMemberDirectory,
  type MemberDirectory,
  type MemberViewDiagnostics,
} from '../../lib/elector/internal.js';
import {
  evaluateElectorHealth,
  evaluateElectorLiveness,
  evaluateElectorReadiness,
  evaluateGroupHealth,
} from '../../lib/health/index.js';
import { FakeClock } from '../support/fake-clock.js';

const TIMING = { leaseDuration: 2000, renewDeadline: 1000, retryPeriod: 250 } as const;
const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };
const RULES = [evaluateElectorLiveness, evaluateElectorReadiness, evaluateElectorHealth];

/** The in-memory directory, reporting whatever view the test sets (on the test's clock). */
class ReportingDirectory extends MemoryMemberDirectory implements MemberDirectory {
  view: Omit<MemberViewDiagnostics, 'now'> | null = null;
  constructor(private readonly clock: FakeClock) {
    super('jobs', () => clock.wallNow());
  }
  get diagnostics(): MemberViewDiagnostics | undefined {
    return this.view ? { ...this.view, now: this.clock.now() } : undefined;
  }
}

const running: LeaderElectionGroup[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((group) => group.stop()));
});

async function leadingGroup() {
  const clock = new FakeClock();
  const members = new ReportingDirectory(clock);
  const group = new LeaderElectionGroup({
    identity: 'solo',
    elections: ['billing', 'reports'],
    lockFor: (election) => new MemoryLeaseLock(election, 'default', { watchable: true }),
    members,
    clock,
    logger: quiet,
    ...TIMING,
  });
  running.push(group);
  void group.start();
  for (let i = 0; i < 100 && group.leading.length < 2; i++) await clock.advance(50);
  expect(group.leading).toEqual(['billing', 'reports']);
  return { clock, members, group };
}

const view = (overrides: Partial<Omit<MemberViewDiagnostics, 'now'>>): Omit<MemberViewDiagnostics, 'now'> => ({
  state: 'watching',
  following: true,
  lastDeliveryAt: null,
  owedBy: null,
  lastError: null,
  failures: 0,
  ...overrides,
});

describe('the member view in a spreading group health (issue item 9)', () => {
  it('a directory without diagnostics adds nothing to the details', async () => {
    const { group } = await leadingGroup();
    const health = evaluateGroupHealth(group, evaluateElectorLiveness);
    expect(health.healthy).toBe(true);
    expect(health.details).not.toHaveProperty('memberView');
  });

  it('a stale view shows in the details and fails no check while its retry is not overdue', async () => {
    const { clock, members, group } = await leadingGroup();
    const now = clock.now();
    members.view = view({
      state: 'retrying',
      following: false,
      lastDeliveryAt: now - 90_000,
      owedBy: now + 20_000,
      lastError: { reason: 'forbidden', message: 'forbidden: cannot list or watch', at: now - 1500 },
      failures: 6,
    });
    for (const rule of RULES) {
      const health = evaluateGroupHealth(group, rule);
      expect(health.healthy).toBe(true);
      expect(health.details.memberView).toEqual({
        state: 'retrying',
        following: false,
        lastDeliveryAgeSeconds: 90,
        lastError: { reason: 'forbidden', message: 'forbidden: cannot list or watch', ageSeconds: 1.5 },
      });
    }
    // Hours of a stale view, the retry always ahead: still alive and ready.
    for (let step = 0; step < 20; step++) {
      await clock.advance(10_000);
      members.view = { ...members.view, owedBy: clock.now() + 20_000 };
      expect(evaluateGroupHealth(group, evaluateElectorLiveness).healthy).toBe(true);
      expect(evaluateGroupHealth(group, evaluateElectorReadiness).healthy).toBe(true);
    }
  });

  it('liveness goes down only once a retry the directory owes is overdue by more than the tolerance', async () => {
    const { clock, members, group } = await leadingGroup();
    members.view = view({ state: 'retrying', following: false, owedBy: clock.now() + 500 });
    await clock.advance(500 + TIMING.renewDeadline); // exactly at the tolerance: not yet
    expect(evaluateGroupHealth(group, evaluateElectorLiveness).healthy).toBe(true);
    members.view = { ...members.view, owedBy: clock.now() - TIMING.renewDeadline - 1 };
    for (const rule of RULES) {
      expect(evaluateGroupHealth(group, rule)).toMatchObject({
        healthy: false,
        reason: 'member view wedged: its retry was due 1.001s ago',
        details: { memberView: { state: 'retrying', following: false } },
      });
    }
    // A larger tolerance, as for the election checks.
    expect(evaluateGroupHealth(group, evaluateElectorLiveness, { tolerance: 5000 }).healthy).toBe(true);
  });

  it('an overdue reopen of the watch, or a call past its deadline, is a wedge too', async () => {
    const { clock, members, group } = await leadingGroup();
    members.view = view({ state: 'watching', lastDeliveryAt: clock.now(), owedBy: clock.now() + 300_000 });
    expect(evaluateGroupHealth(group, evaluateElectorLiveness).healthy).toBe(true);
    members.view = { ...members.view, owedBy: clock.now() - 2000 };
    expect(evaluateGroupHealth(group, evaluateElectorLiveness).reason).toBe(
      'member view wedged: its reopen was due 2s ago',
    );
    members.view = view({ state: 'listing', following: false, owedBy: clock.now() - 3000 });
    expect(evaluateGroupHealth(group, evaluateElectorLiveness).reason).toBe(
      'member view wedged: the deadline of its list was due 3s ago',
    );
  });
});
