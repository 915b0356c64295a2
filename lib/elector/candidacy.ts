/**
 * Advice from outside the election on how eagerly this candidate should
 * campaign and when it should hand a Lease it holds to someone else. A
 * spreading group supplies it; a plain elector has none. Advice never
 * overrides the election's own safety: every write stays conditional, and a
 * term still ends by its renew deadline.
 */
export interface Candidacy {
  /**
   * This candidate's place in the preference order for the Lease, 0 being
   * preferred, or null when there is no order (plain campaigning).
   * `previousHolder` is the holder that just released or lost the Lease; it
   * does not count, and is last when it asks for itself.
   */
  rank(previousHolder: string | null): number | null;
  /**
   * Asked while leading, after each renewal: the candidate to hand the Lease
   * over to now, or null to keep it. `heldFor` is how long this term has run.
   */
  handoverTarget(heldFor: number): string | null;
  /**
   * How long each rank stands back behind the one before it when the Lease
   * is free, so the preferred candidate's write lands before the next tries.
   */
  readonly rankStep: number;
}
