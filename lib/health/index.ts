export * from './leader-election.health-indicator.js';
export * from './leader-election.health-rules.js';
