/**
 * Where fencing tokens come from.
 * - `resource-version`: the resourceVersion returned by the write that began
 *   the term. Kubernetes ≥ 1.35 makes these comparable (KEP-5504) and etcd's
 *   revision is cluster-wide, so tokens rise across holders, client-go
 *   candidates, Lease deletions and process restarts, with no memory.
 * - `lease-transitions`: the Lease's `leaseTransitions` plus this process's
 *   high-water mark. Rises across terms seen by this process only; a Lease
 *   deleted or wiped while no live process remembers it starts again.
 */
export type FencingScheme = 'resource-version' | 'lease-transitions';

const DECIMAL = /^(0|[1-9][0-9]*)$/;
const POSITIVE_DECIMAL = /^[1-9][0-9]*$/;

/** True for a resourceVersion in KEP-5504's comparable form: a positive decimal integer without leading zeros. */
export function isComparableResourceVersion(resourceVersion: string | undefined | null): resourceVersion is string {
  return typeof resourceVersion === 'string' && POSITIVE_DECIMAL.test(resourceVersion);
}

function ordered(a: string, b: string): number {
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Orders two fencing tokens (decimal strings of any size): negative when `a`
 * is older, 0 when equal, positive when newer. Throws a `TypeError` for a
 * value that is not a token, rather than guessing.
 */
export function compareFencingTokens(a: string, b: string): number {
  for (const [name, value] of [
    ['a', a],
    ['b', b],
  ] as const) {
    if (typeof value !== 'string' || !DECIMAL.test(value)) {
      throw new TypeError(
        `compareFencingTokens: \`${name}\` must be a fencing token (a decimal string such as "4711"), got ${JSON.stringify(value)}.`,
      );
    }
  }
  return ordered(a, b);
}

/**
 * Whether watched version `candidate` is newer than `known`: numeric order
 * where both are comparable, else merely different (an unparsable version
 * can only be told apart, not ordered).
 */
/** True only when both are comparable and `candidate` is strictly older than `known`. */
export function isOlderResourceVersion(candidate: string, known: string | undefined): boolean {
  if (known === undefined || !isComparableResourceVersion(candidate) || !isComparableResourceVersion(known)) {
    return false;
  }
  return ordered(candidate, known) < 0;
}

export function isNewerResourceVersion(candidate: string, known: string | undefined): boolean {
  if (known === undefined || known === '') return true;
  if (isComparableResourceVersion(candidate) && isComparableResourceVersion(known)) {
    return ordered(candidate, known) > 0;
  }
  return candidate !== known;
}
