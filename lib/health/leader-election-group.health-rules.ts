import type { LeaderElectionGroup, LeaderElector, MemberViewDiagnostics } from '../elector/internal.js';
import type { LeaderElectionHealth, LeaderElectionHealthOptions } from './leader-election.health-rules.js';

/** How this replica follows the other members, as reported in the group's health details. */
export interface MemberViewHealthDetails {
  state: MemberViewDiagnostics['state'];
  /** False while the view is not kept current (listing, retrying): it may be stale. */
  following: boolean;
  /** Seconds since the last list, change or bookmark was received, or null. */
  lastDeliveryAgeSeconds: number | null;
  lastError: { reason: string; message: string; ageSeconds: number } | null;
}

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
    /** The member view, when the group's directory reports on it. */
    memberView?: MemberViewHealthDetails;
  };
}

const seconds = (ms: number) => Math.round(ms) / 1000;

/**
 * Why the member view is wedged, or null: a step the directory owes (a
 * call's deadline, a retry, a reopen) is overdue by more than `tolerance`,
 * as the election watch's wedge check. A stale view alone is no wedge: the
 * directory is retrying it, and a restart would not help.
 */
function memberViewWedge(view: MemberViewDiagnostics, tolerance: number): string | null {
  if (view.owedBy === null || view.now - view.owedBy <= tolerance) return null;
  const what =
    view.state === 'retrying'
      ? 'its retry'
      : view.state === 'watching'
        ? 'its reopen'
        : `the deadline of its ${view.state === 'listing' ? 'list' : 'watch request'}`;
  return `member view wedged: ${what} was due ${seconds(view.now - view.owedBy)}s ago`;
}

function describeMemberView(view: MemberViewDiagnostics): MemberViewHealthDetails {
  return {
    state: view.state,
    following: view.following,
    lastDeliveryAgeSeconds: view.lastDeliveryAt === null ? null : seconds(view.now - view.lastDeliveryAt),
    lastError: view.lastError
      ? {
          reason: view.lastError.reason,
          message: view.lastError.message,
          ageSeconds: seconds(view.now - view.lastError.at),
        }
      : null,
  };
}

/**
 * One verdict for every election of a spreading group: down as soon as one
 * election is down by `rule` (liveness, readiness or both), so a wedged
 * election restarts the replica as a wedged single election would; and down
 * when the member view is wedged (a retry or reopen it owes is overdue by
 * more than the tolerance). A view that is merely stale shows in the details
 * (`memberView`) without failing any check. With `requireLeadership`, the
 * replica must lead at least one election: in a group each replica leads
 * only its share.
 */
export function evaluateGroupHealth(
  group: LeaderElectionGroup,
  rule: (elector: LeaderElector, options: LeaderElectionHealthOptions) => LeaderElectionHealth,
  options: LeaderElectionHealthOptions = {},
): LeaderElectionGroupHealth {
  const perElection = { ...options, requireLeadership: false };
  const elections: Record<string, string> = {};
  let reason: string | undefined;
  let tolerance = options.tolerance;
  for (const [election, elector] of group.electors) {
    tolerance ??= elector.options.renewDeadline;
    const health = rule(elector, perElection);
    elections[election] = health.healthy ? 'up' : `down: ${health.reason}`;
    reason ??= health.healthy ? undefined : `election ${JSON.stringify(election)}: ${health.reason}`;
  }
  const view = group.memberView;
  if (reason === undefined && view && tolerance !== undefined) reason = memberViewWedge(view, tolerance) ?? undefined;
  const leading = group.leading;
  if (reason === undefined && options.requireLeadership && leading.length === 0) {
    reason = `leads none of the group's ${group.electors.size} elections`;
  }
  const details = {
    identity: group.identity,
    members: group.members.length,
    leading,
    elections,
    ...(view ? { memberView: describeMemberView(view) } : {}),
  };
  return reason === undefined ? { healthy: true, details } : { healthy: false, reason, details };
}
