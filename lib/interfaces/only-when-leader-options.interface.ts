/** What a call to an `@OnlyWhenLeader` method does on a follower. */
export type FollowerCallBehaviour =
  /** Return `undefined` (a resolved promise for async methods) without running the body. */
  | 'skip'
  /** Throw a `NotLeaderError` (a rejected promise for async methods), so the caller sees a failure. */
  | 'throw';

/** Options of `LeaderElectionService.runIfLeader()`. */
export interface RunIfLeaderOptions {
  /** Default `skip` (resolves `undefined`). `throw` rejects with a `NotLeaderError`, so a caller sees a failure. */
  onFollower?: FollowerCallBehaviour;
  /** Names the work in debug logs. Default `runIfLeader`. */
  label?: string;
}

/** Options of `@OnlyWhenLeader()`. */
export interface OnlyWhenLeaderOptions {
  /** Registration name of the election. Default `default`. */
  election?: string;
  /** Default `skip`. Use `throw` where a skipped call must not look like success (queue handlers, RPC). */
  onFollower?: FollowerCallBehaviour;
}
