// The framework-free core, as `nestjs-lease-election/elector`: the elector, the locks and their interface, the
// errors, fencing comparison, the spreading group, and the types their signatures use. Everything else is internal.
export type { Candidacy } from './candidacy.js';
export { systemClock, type Clock, type TimerHandle } from './clock.js';
export type {
  ElectorDiagnostics,
  ElectorErrorRecord,
  ElectorState,
  ErrorStreak,
  LoopActivity,
  WatchActivity,
} from './elector-diagnostics.js';
export {
  InvalidLeaderElectionOptionError,
  type ElectorLogger,
  type LeaderElectorOptions,
  type ResolvedElectorOptions,
} from './elector-options.js';
export { compareFencingTokens, type FencingScheme } from './fencing-token.js';
export {
  KubernetesLeaseCandidate,
  type CoordinatedLeaseStrategy,
  type KubernetesLeaseCandidateOptions,
} from './kubernetes-lease-candidate.js';
export { KubernetesLeaseLock, type KubernetesLeaseLockOptions } from './kubernetes-lease-lock.js';
export { KubernetesMemberDirectory, type KubernetesMemberDirectoryOptions } from './kubernetes-member-directory.js';
export type * from './leader-election.events.js';
export {
  LeaderElectionGroup,
  type GroupElectionState,
  type LeaderElectionGroupOptions,
  type MemberErrorEvent,
} from './leader-election-group.js';
export { LeaderElector, type StopOptions } from './leader-elector.js';
export { LeaderPodLabel, type LeaderPodLabelOptions } from './leader-pod-label.js';
export { LeadershipEndedError, TERM_END_REASONS, type LeadershipTerm, type TermEndReason } from './leadership-term.js';
export {
  asLeaseLockError,
  LeaseConflictError,
  LeaseForbiddenError,
  LeaseInvalidError,
  LeaseLockError,
  LeaseNotFoundError,
  LeaseTimeoutError,
  LeaseUnauthorizedError,
  LeaseUnavailableError,
  type LeaseErrorReason,
} from './lease-lock.errors.js';
export type { LeaseEventAction, LeaseLock, LeaseReadResult, LeaseWatch, LeaseWatchHandlers } from './lease-lock.js';
export {
  normalizeLeaseSpec,
  type LeaseRecord,
  type LeaseRecordProblem,
  type LeaseSnapshot,
  type NormalizedLeaseSpec,
} from './lease-record.js';
export type {
  MemberDirectory,
  MemberDirectoryHandlers,
  MemberRecord,
  MemberViewDiagnostics,
} from './member-directory.js';
export { MemoryLeaseLock } from './memory-lease-lock.js';
export { MemoryMemberDirectory } from './memory-member-directory.js';
