export * from './attach-leader-election.js';
export * from './leader-election-testing.module.js';
export * from './testing-leader-election.js';
export * from './testing-leader-election-group.js';
