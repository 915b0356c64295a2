import { Module, type DynamicModule, type InjectionToken, type Provider } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import {
  DEFAULT_ELECTION,
  ELECTION_LOGGER,
  getLeaderElectionGroupToken,
  getLeaderElectionToken,
} from '../leader-election.constants.js';
import { LeaderElectionGroupService } from '../leader-election-group.service.js';
import { createElectionCoreProviders } from '../leader-election.providers.js';
import { LeaderElectionService } from '../leader-election.service.js';
import { TestingLeaderElection, type TestingLeaderElectionOptions } from './testing-leader-election.js';
import { TestingLeaderElectionGroup, type TestingLeaderElectionGroupOptions } from './testing-leader-election-group.js';

/**
 * A stand-in for `LeaderElectionModule` in unit and e2e tests of your own
 * app: no Kubernetes, no timers. Each registration provides a
 * {@link TestingLeaderElection} under the tokens `LeaderElectionModule`
 * would use (`LeaderElectionService` for the default election), so
 * `@OnlyWhenLeader`, `@OnLeadershipAcquired/Lost`, `@OnLeaderChanged`,
 * `@InjectLeaderElection` and `LeaderGuard` work unchanged. Get it with
 * `moduleRef.get(TestingLeaderElection)` (default election) or
 * `moduleRef.get(getLeaderElectionToken(election))`, and drive it with
 * `becomeLeader()` / `loseLeadership()`.
 *
 * With `spread`, a {@link TestingLeaderElectionGroup} stands in for
 * `LeaderElectionGroupService` (`moduleRef.get(TestingLeaderElectionGroup)`,
 * or `getLeaderElectionGroupToken(group)`), with one `TestingLeaderElection`
 * per election under that election's token; drive it with `lead()` / `lose()`.
 */
@Module({})
export class LeaderElectionTestingModule {
  static forRoot(options: TestingLeaderElectionOptions | TestingLeaderElectionGroupOptions = {}): DynamicModule {
    const { providers, exports } = isGroup(options) ? groupProviders(options) : electionProviders(options);
    providers.push({ provide: ELECTION_LOGGER, useValue: silentLogger });
    return { module: LeaderElectionTestingModule, global: true, imports: [DiscoveryModule], providers, exports };
  }
}

function isGroup(
  options: TestingLeaderElectionOptions | TestingLeaderElectionGroupOptions,
): options is TestingLeaderElectionGroupOptions {
  return (options as Partial<TestingLeaderElectionGroupOptions>).spread !== undefined;
}

/** One election, under the tokens `createLeaderElectionProviders` gives it. */
function electionProviders(options: TestingLeaderElectionOptions): {
  providers: Provider[];
  exports: InjectionToken[];
} {
  const election = new TestingLeaderElection(options);
  const token = getLeaderElectionToken(election.election);
  const providers: Provider[] = [
    { provide: token, useValue: election },
    ...createElectionCoreProviders(election.election, token),
  ];
  const exports: InjectionToken[] = [token];
  if (election.election === DEFAULT_ELECTION) {
    providers.push(
      { provide: LeaderElectionService, useExisting: token },
      { provide: TestingLeaderElection, useExisting: token },
    );
    exports.push(LeaderElectionService, TestingLeaderElection);
  }
  return { providers, exports };
}

/** A spreading group and its elections, under the tokens `createLeaderElectionGroupProviders` gives them. */
function groupProviders(options: TestingLeaderElectionGroupOptions): {
  providers: Provider[];
  exports: InjectionToken[];
} {
  const group = new TestingLeaderElectionGroup(options);
  const token = getLeaderElectionGroupToken(group.group);
  // The explorer serves every election of the group, as with the real module.
  const providers: Provider[] = [
    { provide: token, useValue: group },
    ...createElectionCoreProviders(group.group, token),
  ];
  const exports: InjectionToken[] = [token];
  for (const [election, service] of group.services) {
    providers.push({ provide: getLeaderElectionToken(election), useValue: service });
    exports.push(getLeaderElectionToken(election));
  }
  if (group.group === DEFAULT_ELECTION) {
    providers.push(
      { provide: LeaderElectionGroupService, useExisting: token },
      { provide: TestingLeaderElectionGroup, useExisting: token },
    );
    exports.push(LeaderElectionGroupService, TestingLeaderElectionGroup);
  }
  return { providers, exports };
}

const silentLogger = { debug: () => undefined, log: () => undefined, warn: () => undefined, error: () => undefined };
