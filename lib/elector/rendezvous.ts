import { createHash } from 'node:crypto';

/**
 * Rendezvous (highest-random-weight) order of `members` for `key`: the first
 * is the preferred holder. Every replica that knows the same members computes
 * the same order, and a member joining or leaving moves only the keys it
 * gains or held (about 1/n of them), never shuffling the rest.
 */
export function rendezvousOrder(key: string, members: Iterable<string>): string[] {
  return [...new Set(members)]
    .map((member) => ({ member, weight: weightOf(key, member) }))
    .sort((a, b) => b.weight - a.weight || compare(a.member, b.member))
    .map(({ member }) => member);
}

/** 48 bits of SHA-256 over key and member: uniform, and stable across processes and versions. */
function weightOf(key: string, member: string): number {
  return createHash('sha256').update(key).update('\0').update(member).digest().readUIntBE(0, 6);
}

/**
 * Rendezvous order per election, balanced: every (election, member) pair is
 * weighed as in {@link rendezvousOrder}, and pairs are taken heaviest first,
 * placing an election on a member that still has room: floor(elections /
 * members) each, plus one for the first `elections mod members` members to
 * fill up. Loads differ by at most one (4/4/4 for 12 on 3); every replica
 * that knows the same members computes the same placement; and a member
 * joining or leaving moves few elections besides its own share, because the
 * heaviest pairs keep their place. Each order starts with the member placed;
 * the others follow in rendezvous order as fallbacks.
 */
export function spreadEvenly(elections: readonly string[], members: Iterable<string>): Map<string, string[]> {
  const candidates = [...new Set(members)];
  const placed = new Map<string, string[]>();
  if (candidates.length === 0) return placed;
  const names = [...new Set(elections)];
  const base = Math.floor(names.length / candidates.length);
  let extras = names.length % candidates.length;
  const load = new Map(candidates.map((member) => [member, 0]));
  const pairs = names
    .flatMap((election) => candidates.map((member) => ({ election, member, weight: weightOf(election, member) })))
    .sort((a, b) => b.weight - a.weight || compare(a.election, b.election) || compare(a.member, b.member));
  const chosen = new Map<string, string>();
  for (const { election, member } of pairs) {
    if (chosen.has(election)) continue;
    const current = load.get(member)!;
    if (current > base || (current === base && extras === 0)) continue;
    if (current === base) extras--;
    load.set(member, current + 1);
    chosen.set(election, member);
  }
  for (const election of names) {
    const member = chosen.get(election)!;
    placed.set(election, [member, ...rendezvousOrder(election, candidates).filter((other) => other !== member)]);
  }
  return placed;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
