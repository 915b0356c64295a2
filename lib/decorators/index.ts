export * from './inject-leader-election.decorator.js';
export * from './leadership-events.decorator.js';
export * from './only-when-leader.decorator.js';
