export * from './leader-election.metrics.js';
