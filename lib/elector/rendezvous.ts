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
