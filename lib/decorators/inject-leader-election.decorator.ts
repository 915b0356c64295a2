import { Inject } from '@nestjs/common';
import { DEFAULT_ELECTION, getLeaderElectionGroupToken, getLeaderElectionToken } from '../leader-election.constants.js';

/** Injects the `LeaderElectionService` of election `election` (the default one when omitted). */
export function InjectLeaderElection(election: string = DEFAULT_ELECTION): PropertyDecorator & ParameterDecorator {
  return Inject(getLeaderElectionToken(election));
}

/** Injects the `LeaderElectionGroupService` of a spreading registration (the default one when omitted). */
export function InjectLeaderElectionGroup(group: string = DEFAULT_ELECTION): PropertyDecorator & ParameterDecorator {
  return Inject(getLeaderElectionGroupToken(group));
}
