import { persistentConfigurationError, type ElectorDiagnostics, type LeaderElector } from '../elector/internal.js';

/** Options of the leader-election health checks. Durations in ms. */
export interface LeaderElectionHealthOptions {
  /** Slack before overdue progress counts as a wedge. Default: renewDeadline. */
  tolerance?: number;
  /** Readiness: report `down` when the API server has been unreachable for longer than leaseDuration. Default false. */
  downWhenUnreachable?: boolean;
  /** Readiness: report `down` unless this replica leads, for a Service that routes only to the leader. Default false. */
  requireLeadership?: boolean;
}

/** The verdict and the details reported with it. */
export interface LeaderElectionHealth {
  healthy: boolean;
  /** Why it is down, when it is. */
  reason?: string;
  details: {
    identity: string;
    /** Name of the Lease. */
    lease: string;
    namespace: string;
    leader: string | null;
    isLeader: boolean;
    state: ElectorDiagnostics['state'];
    /** How this replica follows the Lease: leading, watching (no polling), polling, or not campaigning. */
    mode: 'leading' | 'watching' | 'polling' | 'inactive';
    /** Where fencing tokens come from, once known. */
    fencingScheme: ElectorDiagnostics['fencingScheme'];
    /** Seconds since this replica's last successful acquire or renewal, or null. */
    lastRenewAgeSeconds: number | null;
    lastError: { operation: string; reason: string; message: string; ageSeconds: number } | null;
  };
}

/** How readiness names each of the configuration errors (the set itself is the elector's). */
const CONFIGURATION_ERROR_WORDS: Record<string, string> = {
  unauthorized: 'unauthorized (credentials rejected)',
  forbidden: 'forbidden',
  not_found: 'not found',
  invalid: 'rejected as invalid',
  other: 'failing',
};

const seconds = (ms: number) => Math.round(ms) / 1000;

function describe(
  elector: LeaderElector,
  diagnostics: ElectorDiagnostics,
  now: number,
): LeaderElectionHealth['details'] {
  const campaigning = diagnostics.state === 'candidate' || diagnostics.state === 'leader';
  return {
    identity: elector.identity,
    lease: elector.options.lock.name,
    namespace: elector.options.lock.namespace,
    leader: elector.leader,
    isLeader: diagnostics.isLeader,
    state: diagnostics.state,
    mode: !campaigning
      ? 'inactive'
      : diagnostics.isLeader
        ? 'leading'
        : diagnostics.watch.state === 'open'
          ? 'watching'
          : 'polling',
    fencingScheme: diagnostics.fencingScheme,
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
}

/**
 * Why the elector is wedged, or null. Wedged means it stopped making the
 * progress it owes: the loop died; an attempt outlived every deadline it
 * has; a sleep outlived its own wake-up time; or the watch is stuck
 * connecting, or past its reconnect or reopen time. Silence by design is
 * not a wedge: a watching follower sends nothing while a claim is valid,
 * however long that claim is.
 */
function wedge(elector: LeaderElector, d: ElectorDiagnostics, now: number, tolerance: number): string | null {
  if (d.loopError) return `election loop died: ${d.loopError.split('\n')[0]}`;
  if (d.state !== 'candidate' && d.state !== 'leader') return null;
  const { requestTimeout } = elector.options;
  const { loop, watch } = d;
  // One attempt is at most four calls (version probe, fast path, GET, write), each cut at requestTimeout.
  const attemptLimit = 4 * requestTimeout + tolerance;
  if (loop.phase === 'attempt' && now - loop.since > attemptLimit) {
    return (
      `election loop wedged: an attempt has been in flight for ${seconds(now - loop.since)}s ` +
      `(limit ${seconds(attemptLimit)}s); a request ignored its deadline`
    );
  }
  if (loop.phase === 'sleep' && loop.wakeAt !== null && now - loop.wakeAt > tolerance) {
    return `election loop wedged: its next attempt was due ${seconds(now - loop.wakeAt)}s ago and never ran`;
  }
  if (loop.phase === 'idle' && now - loop.since > tolerance) {
    return `election loop wedged: neither attempting nor waiting for ${seconds(now - loop.since)}s`;
  }
  if (watch.state === 'ended') return 'lease watch task ended while campaigning; restart the process';
  if (watch.dueAt !== null && now - watch.dueAt > tolerance) {
    const what =
      watch.state === 'connecting'
        ? 'still connecting past its timeout'
        : watch.state === 'retrying'
          ? 'its reconnect'
          : 'its periodic reopen';
    return `lease watch wedged: ${what} was due ${seconds(now - watch.dueAt)}s ago`;
  }
  return null;
}

/** One snapshot of the elector, judged once: the verdicts below share it. */
function snapshot(elector: LeaderElector) {
  const now = elector.options.clock.now();
  const diagnostics = elector.diagnostics;
  return { now, diagnostics, details: describe(elector, diagnostics, now) };
}

function liveness(
  elector: LeaderElector,
  { now, diagnostics, details }: ReturnType<typeof snapshot>,
  options: LeaderElectionHealthOptions,
): LeaderElectionHealth {
  const reason = wedge(elector, diagnostics, now, options.tolerance ?? elector.options.renewDeadline);
  return reason === null ? { healthy: true, details } : { healthy: false, reason, details };
}

/**
 * Liveness: is this process still making the progress it owes? Down only
 * for a wedge or a dead loop, which a restart fixes. Outages and
 * configuration errors are readiness matters: restarting does not fix them.
 */
export function evaluateElectorLiveness(
  elector: LeaderElector,
  options: LeaderElectionHealthOptions = {},
): LeaderElectionHealth {
  return liveness(elector, snapshot(elector), options);
}

/**
 * Readiness: is the election usable? Down when liveness is down; when calls
 * have failed for longer than leaseDuration with an error that will not heal
 * by itself (forbidden, missing namespace, invalid object, bad client
 * configuration); with `downWhenUnreachable`, when the API server has been
 * unreachable that long; with `requireLeadership`, unless this replica leads.
 */
export function evaluateElectorReadiness(
  elector: LeaderElector,
  options: LeaderElectionHealthOptions = {},
): LeaderElectionHealth {
  const state = snapshot(elector);
  const live = liveness(elector, state, options);
  if (!live.healthy) return live;
  const { now, diagnostics, details } = state;
  const down = (reason: string): LeaderElectionHealth => ({ healthy: false, reason, details });
  const campaigning = diagnostics.state === 'candidate' || diagnostics.state === 'leader';
  const streak = diagnostics.errorStreak;
  const message = diagnostics.lastError?.message ?? '';
  const configuration = persistentConfigurationError(diagnostics, now, elector.options.leaseDuration);
  if (configuration) {
    const words = CONFIGURATION_ERROR_WORDS[configuration.reason] ?? configuration.reason;
    return down(`${words} for ${seconds(now - configuration.since)}s: ${message}`);
  }
  if (campaigning && streak && now - streak.since > elector.options.leaseDuration) {
    if (options.downWhenUnreachable && (streak.reason === 'unavailable' || streak.reason === 'timeout')) {
      return down(`API server unreachable for ${seconds(now - streak.since)}s: ${message}`);
    }
  }
  if (options.requireLeadership && !details.isLeader) {
    return down(`not the leader of ${details.namespace}/${details.lease} (leader: ${details.leader ?? 'none known'})`);
  }
  return live;
}

/** Liveness and readiness together, for a single `/health` endpoint. */
export function evaluateElectorHealth(
  elector: LeaderElector,
  options: LeaderElectionHealthOptions = {},
): LeaderElectionHealth {
  return evaluateElectorReadiness(elector, options);
}
