export * from './leader-election-group.health-rules.js';
export * from './leader-election.health-indicator.js';
export * from './leader-election.health-rules.js';
