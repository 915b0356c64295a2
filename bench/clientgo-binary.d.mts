/** client-go release the reference candidate is built from. */
export const CLIENT_GO_VERSION: string;
/** Finds or builds the client-go reference candidate binary in the user cache. */
export function ensureClientGoCandidate(): Promise<{ path: string; source: string; buildMs: number }>;
