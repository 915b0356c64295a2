import type { LeadershipTerm } from './elector/internal.js';
import { LEADER_WORK, type HasLeaderWork } from './leader-work.js';

/** What shard work needs of one election's service (real or testing): its live term and its leader-only work. */
export interface ShardElection extends HasLeaderWork {
  readonly term: LeadershipTerm | null;
}

/** The shard indexes of the `leading` elections, ascending; elections without one are left out. */
export function ledShards(leading: readonly string[], shardOf: ReadonlyMap<string, number>): number[] {
  return leading
    .map((election) => shardOf.get(election))
    .filter((shard): shard is number => shard !== undefined)
    .sort((a, b) => a - b);
}

/**
 * Runs `work` once for each led shard, in parallel, each inside its own term
 * and tracked by that election's leader-only work, so the shutdown and
 * handover drains wait for it. Resolves with the results of the shards it ran.
 */
export async function runOnLedShards<T>(
  leading: readonly string[],
  shardOf: ReadonlyMap<string, number>,
  serviceOf: (election: string) => ShardElection,
  work: (shard: number, term: LeadershipTerm) => Promise<T> | T,
): Promise<T[]> {
  const runs: Promise<T>[] = [];
  for (const election of leading) {
    const shard = shardOf.get(election);
    const service = serviceOf(election);
    const term = service.term;
    if (shard === undefined || !term) continue;
    const run = service[LEADER_WORK].run(() => work(shard, term), true, `shard ${shard}`, 'skip');
    runs.push(Promise.resolve(run) as Promise<T>);
  }
  return Promise.all(runs);
}
