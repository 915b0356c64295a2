import { Module, type DynamicModule, type InjectionToken, type Provider } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { ELECTION_LOGGER, getLeaderElectionToken } from '../leader-election.constants.js';
import { createElectionCoreProviders } from '../leader-election.providers.js';
import { LeaderElectionService } from '../leader-election.service.js';
import { TestingLeaderElection, type TestingLeaderElectionOptions } from './testing-leader-election.js';

/**
 * A stand-in for `LeaderElectionModule` in unit and e2e tests of your own
 * app: no Kubernetes, no timers. Each registration provides a
 * {@link TestingLeaderElection} under the tokens `LeaderElectionModule`
 * would use (`LeaderElectionService` for the default election), so
 * `@OnlyWhenLeader`, `@OnLeadershipAcquired/Lost`, `@OnLeaderChanged`,
 * `@InjectLeaderElection` and `LeaderGuard` work unchanged. Get it with
 * `moduleRef.get(TestingLeaderElection)` (default election) or
 * `moduleRef.get(getLeaderElectionToken(name))`, and drive it with
 * `becomeLeader()` / `loseLeadership()`.
 */
@Module({})
export class LeaderElectionTestingModule {
  static forRoot(options: TestingLeaderElectionOptions = {}): DynamicModule {
    const election = new TestingLeaderElection(options);
    const token = getLeaderElectionToken(election.election);
    const isDefault = election.election === 'default';
    const providers: Provider[] = [
      { provide: token, useValue: election },
      { provide: ELECTION_LOGGER, useValue: silentLogger },
      ...createElectionCoreProviders(election.election, token),
    ];
    const exports: InjectionToken[] = [token];
    if (isDefault) {
      providers.push(
        { provide: LeaderElectionService, useExisting: token },
        { provide: TestingLeaderElection, useExisting: token },
      );
      exports.push(LeaderElectionService, TestingLeaderElection);
    }
    return { module: LeaderElectionTestingModule, global: true, imports: [DiscoveryModule], providers, exports };
  }
}

const silentLogger = { debug: () => undefined, log: () => undefined, warn: () => undefined, error: () => undefined };
