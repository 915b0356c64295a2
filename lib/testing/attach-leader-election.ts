import { DEFAULT_ELECTION, getInjectedElectionKey } from '../leader-election.constants.js';
import type { TestingLeaderElection } from './testing-leader-election.js';

/**
 * For a unit test that builds a provider with `new`, outside Nest: gives its
 * `@OnlyWhenLeader(election)` methods the election they would get injected.
 * Returns `instance`.
 */
export function attachLeaderElection<T extends object>(
  instance: T,
  election: TestingLeaderElection,
  name: string = election.election ?? DEFAULT_ELECTION,
): T {
  Object.defineProperty(instance, getInjectedElectionKey(name), {
    value: election,
    configurable: true,
    enumerable: false,
    writable: true,
  });
  return instance;
}
