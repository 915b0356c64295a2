// Everything of the core, for the library itself, the bench and the tests. Not an entry point of the package:
// the public surface is ./index.ts.
export * from './candidacy.js';
export * from './clock.js';
export * from './elector-diagnostics.js';
export * from './elector-options.js';
export * from './fencing-token.js';
export * from './kube-connections.js';
export * from './kubernetes-lease-candidate.js';
export * from './kubernetes-lease-lock.js';
export * from './kubernetes-member-directory.js';
export * from './leader-election.events.js';
export * from './leader-election-group.js';
export * from './leader-elector.js';
export * from './leader-pod-label.js';
export * from './leadership-term.js';
export * from './lease-lock.errors.js';
export * from './lease-lock.js';
export * from './lease-record.js';
export * from './member-directory.js';
export * from './memory-lease-lock.js';
export * from './memory-member-directory.js';
export * from './rendezvous.js';
