/** Name of the unnamed registration of {@link LeaderElectionModule}. */
export const DEFAULT_ELECTION = 'default';

/** Metadata key of the election named by `@OnlyWhenLeader()` on the wrapped method (read by the wiring check). */
export const ONLY_WHEN_LEADER_METADATA = 'nestjs-lease-election:only-when-leader';

/** Metadata key of the leadership event handler decorators. */
export const LEADERSHIP_EVENT_METADATA = 'nestjs-lease-election:leadership-event';

/** Injection token of the {@link LeaderElectionService} of `election`. */
export function getLeaderElectionToken(election: string = DEFAULT_ELECTION): string {
  return `LeaderElectionService:${election}`;
}

/** Injection token of the {@link LeaderElectionGroupService} of the spreading registration `group`. */
export function getLeaderElectionGroupToken(group: string = DEFAULT_ELECTION): string {
  return `LeaderElectionGroupService:${group}`;
}

/** Default bound on the shutdown drain of in-flight `@OnlyWhenLeader` calls. */
export const DEFAULT_SHUTDOWN_DRAIN_TIMEOUT = 10_000;

// Tokens private to one registration of the module (never exported from it), so each
// registration's explorer finds its own election.

/** The app's shared defaults (`LeaderElectionModule.registerDefaults()`), if any. */
export const LEADER_ELECTION_DEFAULTS = Symbol('LeaderElection:defaults');
/** A registration's own options, before the shared defaults are applied. */
export const OWN_ELECTION_OPTIONS = Symbol('LeaderElection:own-options');

/** The registration's election name. */
export const ELECTION_NAME = Symbol('LeaderElection:name');
/** The registration's service (the real one, a testing one, or a test's override). */
export const ELECTION_SERVICE = Symbol('LeaderElection:service');
/** The registration's logger, at its `logLevel`. */
export const ELECTION_LOGGER = Symbol('LeaderElection:logger');

/** Property under which `@OnlyWhenLeader` injects the service of `election` into the instance. */
export function getInjectedElectionKey(election: string): string {
  return `__leaderElection:${election}`;
}
