import { Injectable, ServiceUnavailableException, type CanActivate, type Type } from '@nestjs/common';
import { InjectLeaderElection } from '../decorators/inject-leader-election.decorator.js';
import { NOT_LEADER } from '../leader-election.messages.js';
import type { LeaderElectionService } from '../leader-election.service.js';

/** Body of the 503 a follower answers; `leader` tells a client (or a proxy) where to go. */
export interface NotLeaderResponseBody {
  statusCode: 503;
  error: 'Service Unavailable';
  message: string;
  election: string;
  leader: string | null;
}

/**
 * Lets a request through only on the leader of the default election; a
 * follower answers 503 with the current leader in the body. `@UseGuards(LeaderGuard)`,
 * or `@UseGuards(LeaderGuard.for('billing'))` for a named election.
 * The check is made when the request arrives; pair the handler with
 * `@OnlyWhenLeader()` to also get the admitted term inside it.
 */
@Injectable()
export class LeaderGuard implements CanActivate {
  constructor(@InjectLeaderElection() private readonly election: LeaderElectionService) {}

  /** A guard class for the named election `election`. */
  static for(election: string): Type<CanActivate> {
    @Injectable()
    class NamedLeaderGuard extends LeaderGuard {
      constructor(@InjectLeaderElection(election) service: LeaderElectionService) {
        super(service);
      }
    }
    Object.defineProperty(NamedLeaderGuard, 'name', { value: `LeaderGuard(${election})` });
    return NamedLeaderGuard;
  }

  canActivate(): boolean {
    if (this.election.isLeader) return true;
    const { election, leader } = this.election;
    const body: NotLeaderResponseBody = {
      statusCode: 503,
      error: 'Service Unavailable',
      message: NOT_LEADER(election, `${this.election.namespace}/${this.election.lease}`, leader),
      election,
      leader,
    };
    throw new ServiceUnavailableException(body);
  }
}
