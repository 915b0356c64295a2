// The core's types that the Nest API's signatures use; the core itself is `nestjs-lease-election/elector`.
export { InvalidLeaderElectionOptionError, LeadershipEndedError } from '../elector/internal.js';
export type {
  FencingScheme,
  GroupElectionState,
  LeaseLock,
  LeadershipTerm,
  TermEndReason,
} from '../elector/internal.js';
export type { LeaderElectionMetricName } from '../metrics/leader-election.metrics.js';
export * from './leader-election-module-options.interface.js';
export * from './leadership-event.interface.js';
export * from './only-when-leader-options.interface.js';
