/** Name of the unnamed registration of {@link LeaderElectionModule}. */
export const DEFAULT_ELECTION = 'default';

/** Metadata key marking a method wrapped by `@OnlyWhenLeader()`; the value is the election name. */
export const ONLY_WHEN_LEADER_METADATA = 'nestjs-lease-election:only-when-leader';

/** Metadata key of the leadership event handler decorators. */
export const LEADERSHIP_EVENT_METADATA = 'nestjs-lease-election:leadership-event';

/** Injection token of the {@link LeaderElectionService} of election `name`. */
export function getLeaderElectionToken(name: string = DEFAULT_ELECTION): string {
  return `LeaderElectionService:${name}`;
}
