export * from './decorators/index.js';
export * from './errors/not-leader.error.js';
export * from './guards/leader.guard.js';
export * from './interfaces/index.js';
export { DEFAULT_ELECTION, getLeaderElectionGroupToken, getLeaderElectionToken } from './leader-election.constants.js';
export * from './leader-election-group.service.js';
export * from './leader-election.module.js';
export type { LeaderElectionDefaults, LeaderElectionDefaultsAsyncOptions } from './leader-election-defaults.module.js';
export * from './leader-election.service.js';
