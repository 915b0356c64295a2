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
    .sort((a, b) => b.weight - a.weight || (a.member < b.member ? -1 : a.member > b.member ? 1 : 0))
    .map(({ member }) => member);
}

/** 48 bits of SHA-256 over key and member: uniform, and stable across processes and versions. */
function weightOf(key: string, member: string): number {
  return createHash('sha256').update(key).update('\0').update(member).digest().readUIntBE(0, 6);
}

/**
 * Rendezvous order per election, balanced: elections are placed one by one
 * (in name order) on the first member of their rendezvous order that still
 * has room, where room is floor(elections / members) each plus one extra for
 * the first `elections mod members` members to use it. Loads differ by at
 * most one (4/4/4 for 12 on 3), and every replica that knows the same
 * members computes the same placement. Each order starts with the member
 * placed; the others follow in rendezvous order as fallbacks.
 */
export function spreadEvenly(elections: readonly string[], members: Iterable<string>): Map<string, string[]> {
  const candidates = [...new Set(members)];
  const placed = new Map<string, string[]>();
  if (candidates.length === 0) return placed;
  const names = [...new Set(elections)].sort();
  const base = Math.floor(names.length / candidates.length);
  let extras = names.length % candidates.length;
  const load = new Map(candidates.map((member) => [member, 0]));
  for (const election of names) {
    const order = rendezvousOrder(election, candidates);
    const chosen = order.find((member) => load.get(member)! < base || (load.get(member)! === base && extras > 0))!;
    if (load.get(chosen) === base) extras--;
    load.set(chosen, load.get(chosen)! + 1);
    placed.set(election, [chosen, ...order.filter((member) => member !== chosen)]);
  }
  return placed;
}
