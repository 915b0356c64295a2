import type { LeaderElectionGroup, LeaderElector } from '../elector/index.js';
import type { LeaderElectionHealth, LeaderElectionHealthOptions } from './leader-election.health-rules.js';

/** The verdict on a spreading group and the details reported with it. */
export interface LeaderElectionGroupHealth {
  healthy: boolean;
  /** Why it is down, naming the election, when it is. */
  reason?: string;
  details: {
    identity: string;
    /** Live replicas this one knows of, itself included. */
    members: number;
    /** Elections this replica leads now. */
    leading: string[];
    /** Each election's verdict: `up`, or the reason it is down. */
    elections: Record<string, string>;
  };
}

/**
 * One verdict for every election of a spreading group: down as soon as one
 * election is down by `rule` (liveness, readiness or both), so a wedged
 * election restarts the replica as a wedged single election would. With
 * `requireLeadership`, the replica must lead at least one election: in a
 * group each replica leads only its share.
 */
export function evaluateGroupHealth(
  group: LeaderElectionGroup,
  rule: (elector: LeaderElector, options: LeaderElectionHealthOptions) => LeaderElectionHealth,
  options: LeaderElectionHealthOptions = {},
): LeaderElectionGroupHealth {
  const perElection = { ...options, requireLeadership: false };
  const elections: Record<string, string> = {};
  let reason: string | undefined;
  for (const [election, elector] of group.electors) {
    const health = rule(elector, perElection);
    elections[election] = health.healthy ? 'up' : `down: ${health.reason}`;
    reason ??= health.healthy ? undefined : `election ${JSON.stringify(election)}: ${health.reason}`;
  }
  const leading = group.leading;
  if (reason === undefined && options.requireLeadership && leading.length === 0) {
    reason = `leads none of the group's ${group.electors.size} elections`;
  }
  const details = { identity: group.identity, members: group.members.length, leading, elections };
  return reason === undefined ? { healthy: true, details } : { healthy: false, reason, details };
}
