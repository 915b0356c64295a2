import { DEFAULT_ELECTION, LEADERSHIP_EVENT_METADATA } from '../leader-election.constants.js';
import type { LeadershipEventType } from '../interfaces/leadership-event.interface.js';

/** What a handler decorator records on the method. */
export interface LeadershipEventHandlerMetadata {
  type: LeadershipEventType;
  election: string;
}

function onLeadershipEvent(type: LeadershipEventType, election: string): MethodDecorator {
  return (_target, _propertyKey, descriptor) => {
    const method = descriptor.value as object;
    const existing: LeadershipEventHandlerMetadata[] = Reflect.getOwnMetadata(LEADERSHIP_EVENT_METADATA, method) ?? [];
    Reflect.defineMetadata(LEADERSHIP_EVENT_METADATA, [...existing, { type, election }], method);
    return descriptor;
  };
}

/**
 * Calls the method with a `LeadershipEvent` each time this replica becomes
 * leader of `election`; `admittedTerm()` inside it (and in work it starts) is
 * the new term. Start consumers here and return: the matching loss handler of
 * the same provider waits for this one to settle.
 */
export function OnLeadershipAcquired(election: string = DEFAULT_ELECTION): MethodDecorator {
  return onLeadershipEvent('acquired', election);
}

/**
 * Calls the method with a `LeadershipEvent` (with `reason`) each time this
 * replica stops leading `election`, for every reason. May be async: the
 * shutdown drain awaits it before the Lease is released.
 */
export function OnLeadershipLost(election: string = DEFAULT_ELECTION): MethodDecorator {
  return onLeadershipEvent('lost', election);
}

/** Calls the method with a `LeadershipEvent` whenever the observed holder of `election`'s Lease changes. */
export function OnLeaderChanged(election: string = DEFAULT_ELECTION): MethodDecorator {
  return onLeadershipEvent('leader-changed', election);
}
