export * from './decorators/index.js';
export * from './elector/index.js';
export * from './interfaces/leader-election-module-options.interface.js';
export * from './interfaces/leadership-event.interface.js';
export { DEFAULT_ELECTION, getLeaderElectionToken } from './leader-election.constants.js';
export { LEADER_ELECTION_MODULE_OPTIONS } from './leader-election.module-definition.js';
export * from './leader-election.module.js';
export * from './leader-election.service.js';
