import type { ElectorDiagnostics, LeaderElector } from '../elector/index.js';

/** Options of the leader-election health check. Durations in ms. */
export interface LeaderElectionHealthOptions {
  /** Slack on top of leaseDuration before a loop without progress counts as wedged. Default: renewDeadline. */
  tolerance?: number;
  /** Report `down` when the API server has been unreachable for longer than leaseDuration. Default false. */
  downWhenUnreachable?: boolean;
}

/** The verdict and the details reported with it. */
export interface LeaderElectionHealth {
  healthy: boolean;
  /** Why it is down, when it is. */
  reason?: string;
  details: {
    identity: string;
    lease: string;
    leader: string | null;
    isLeader: boolean;
    state: ElectorDiagnostics['state'];
    /** Seconds since this replica's last successful acquire or renewal, or null. */
    lastRenewAgeSeconds: number | null;
    lastError: { operation: string; reason: string; message: string; ageSeconds: number } | null;
  };
}

const seconds = (ms: number) => Math.round(ms) / 1000;

/**
 * Judges an elector, as client-go's healthz adaptor does and more:
 * - down when the loop died, or no attempt (successful or not) finished
 *   within leaseDuration + tolerance: the loop is wedged;
 * - down when every call has been forbidden for longer than leaseDuration:
 *   RBAC is wrong and will not heal by itself;
 * - an unreachable API server is only reported, unless `downWhenUnreachable`,
 *   because restarting every replica during an outage helps nobody.
 */
export function evaluateElectorHealth(
  elector: LeaderElector,
  options: LeaderElectionHealthOptions = {},
): LeaderElectionHealth {
  const { clock, leaseDuration, renewDeadline, lock } = elector.options;
  const diagnostics = elector.diagnostics;
  const now = clock.now();
  const details: LeaderElectionHealth['details'] = {
    identity: elector.identity,
    lease: lock.describe(),
    leader: elector.leader,
    isLeader: diagnostics.isLeader,
    state: diagnostics.state,
    lastRenewAgeSeconds:
      diagnostics.lastSuccessfulWriteSentAt === null ? null : seconds(now - diagnostics.lastSuccessfulWriteSentAt),
    lastError: diagnostics.lastError
      ? {
          operation: diagnostics.lastError.operation,
          reason: diagnostics.lastError.reason,
          message: diagnostics.lastError.message,
          ageSeconds: seconds(now - diagnostics.lastError.at),
        }
      : null,
  };
  const down = (reason: string): LeaderElectionHealth => ({ healthy: false, reason, details });

  if (diagnostics.loopError) return down(`election loop died: ${diagnostics.loopError.split('\n')[0]}`);
  // Not campaigning: nothing can be wedged.
  if (diagnostics.state === 'idle' || diagnostics.state === 'stopped' || diagnostics.state === 'stopping') {
    return { healthy: true, details };
  }

  const limit = leaseDuration + (options.tolerance ?? renewDeadline);
  const lastProgress = diagnostics.lastAttemptCompletedAt ?? diagnostics.startedAt ?? now;
  if (now - lastProgress > limit) {
    return down(
      `election loop wedged: no attempt finished for ${seconds(now - lastProgress)}s (limit ${seconds(limit)}s)`,
    );
  }
  const streak = diagnostics.errorStreak;
  if (streak && now - streak.since > leaseDuration) {
    if (streak.reason === 'forbidden') {
      return down(`forbidden for ${seconds(now - streak.since)}s: ${diagnostics.lastError?.message ?? ''}`);
    }
    if (options.downWhenUnreachable && (streak.reason === 'unavailable' || streak.reason === 'timeout')) {
      return down(
        `API server unreachable for ${seconds(now - streak.since)}s: ${diagnostics.lastError?.message ?? ''}`,
      );
    }
  }
  return { healthy: true, details };
}
