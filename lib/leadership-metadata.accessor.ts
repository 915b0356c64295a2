import { Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { LeadershipEventHandlerMetadata } from './decorators/leadership-events.decorator.js';
import { LEADERSHIP_EVENT_METADATA, ONLY_WHEN_LEADER_METADATA } from './leader-election.constants.js';

const DECORATOR_NAMES = {
  acquired: 'OnLeadershipAcquired',
  lost: 'OnLeadershipLost',
  'leader-changed': 'OnLeaderChanged',
} as const;

/** One use of a decorator of this module on a method. */
export interface ElectionDecoratorUse {
  decorator: string;
  election: string;
}

/** Reads what this module's decorators recorded on a method (as @nestjs/schedule's metadata accessor). */
@Injectable()
export class LeadershipMetadataAccessor {
  constructor(private readonly reflector: Reflector) {}

  /** `@OnLeadershipAcquired/Lost/@OnLeaderChanged` entries of `method`. */
  getEventHandlers(method: unknown): LeadershipEventHandlerMetadata[] {
    if (typeof method !== 'function') return [];
    return this.reflector.get<LeadershipEventHandlerMetadata[] | undefined>(LEADERSHIP_EVENT_METADATA, method) ?? [];
  }

  /** Every election named by a decorator of this module on `method`. */
  getElectionUses(method: unknown): ElectionDecoratorUse[] {
    if (typeof method !== 'function') return [];
    const uses: ElectionDecoratorUse[] = this.getEventHandlers(method).map(({ type, election }) => ({
      decorator: DECORATOR_NAMES[type],
      election,
    }));
    const gated = this.reflector.get<string | undefined>(ONLY_WHEN_LEADER_METADATA, method);
    if (gated !== undefined) uses.push({ decorator: 'OnlyWhenLeader', election: gated });
    return uses;
  }
}
