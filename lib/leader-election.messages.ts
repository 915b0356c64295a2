/** Error texts of the Nest layer, one place so wording stays consistent (as @nestjs/bullmq's bull.messages). */

const registration = (election: string): string =>
  election === 'default'
    ? 'LeaderElectionModule.forRoot({ leaseName: ... })'
    : `LeaderElectionModule.forRoot({ election: ${JSON.stringify(election)}, leaseName: ... })`;

/** Two registrations share a name: each would be its own candidate, silently. */
export const DUPLICATE_ELECTION = (election: string, count: number): string =>
  `LeaderElectionModule: election ${JSON.stringify(election)} is registered ${count} times. ` +
  'Each registration is a separate candidate, so register it once, or give each registration its own `election` ' +
  '(and its own leaseName).';

/** A decorator names an election no module registers. */
export const UNKNOWN_ELECTION = (
  uses: { decorator: string; election: string; label: string }[],
  registered: string[],
): string => {
  const lines = uses.map(
    ({ decorator, election, label }) =>
      `  @${decorator}(${JSON.stringify(election)}) on ${label}: register ${registration(election)} or fix the name`,
  );
  const known = registered.length ? registered.map((name) => JSON.stringify(name)).join(', ') : 'none';
  return `LeaderElectionModule: decorators name elections that are not registered (registered: ${known}):\n${lines.join('\n')}`;
};

/** `@OnlyWhenLeader` on a class Nest did not create, or with no module registered at all. */
export const NO_SERVICE_INJECTED = (election: string, label: string, owner: string): string =>
  `@OnlyWhenLeader(${JSON.stringify(election)}) on ${label}: no LeaderElectionService was injected. ` +
  `Make ${owner} a Nest provider and register ${registration(election)} in the application. ` +
  `In a unit test that constructs ${owner} with \`new\`, pass it a TestingLeaderElection from ` +
  `'nestjs-lease-election/testing' as its LeaderElectionService (new ${owner}(new TestingLeaderElection())), ` +
  'or import LeaderElectionTestingModule into Test.createTestingModule.';

/** A follower was asked to do leader-only work. */
export const NOT_LEADER = (election: string, lease: string, leader: string | null): string =>
  `this replica is not the leader of election ${JSON.stringify(election)} (lease ${lease}); ` +
  (leader ? `the leader is ${JSON.stringify(leader)}` : 'no leader is known right now');

/** `name` given to forRoot*() is not a usable election name. */
export const INVALID_ELECTION_NAME = (name: unknown, field = 'election'): string =>
  `LeaderElectionModule: \`${field}\` must be a non-empty string when given, got ${JSON.stringify(name)}.`;

/** `name` (renamed), `group` without `spread`, or `election` with `spread`. */
export const MISPLACED_REGISTRATION_NAME = (field: 'name' | 'election' | 'group', spread: unknown): string => {
  const right = spread === undefined ? 'election' : 'group';
  const why =
    field === 'name'
      ? '`name` was renamed'
      : field === 'group'
        ? '`group` names a spreading registration, and this one has no `spread`'
        : '`election` names one election, and this registration spreads many (`spread`)';
  return `LeaderElectionModule: ${why}: write forRoot({ ${right}: ..., ${spread === undefined ? '' : 'spread, '}leaseName: ... }).`;
};

/** `spread` given to forRoot*() is not a usable list of elections. */
export const INVALID_SPREAD = (spread: unknown): string =>
  'LeaderElectionModule: `spread` must be a non-empty list of distinct election names (for example ' +
  `['billing', 'reports']) or { shards: n } with a whole n from 1 to 1000, got ${JSON.stringify(spread)}.`;

/** A group was asked for an election it does not have. */
export const NO_GROUP_ELECTION = (group: string, election: string, elections: readonly string[]): string =>
  `${group}: no election ${JSON.stringify(election)}; ` +
  `its elections are ${elections.map((name) => JSON.stringify(name)).join(', ')}.`;

/** An option that needs one Lease per registration was given with `spread`. */
export const NOT_WITH_SPREAD = (field: string, why: string): string => `cannot be combined with \`spread\`: ${why}`;

/** Warned at the first term in a Pod when nothing handles SIGTERM: the Lease would not be released on a rollout. */
export const NO_SHUTDOWN_HOOKS = (lease: string, leaseDuration: number): string =>
  `nothing handles SIGTERM in this process, so a rolling update kills this replica without releasing lease ${lease}, ` +
  `and no other replica can lead for up to ${leaseDuration}ms. Call app.enableShutdownHooks() in main.ts ` +
  '(before or after app.init()), so Nest ends the term, drains leader-only work and releases the Lease.';
