import { Inject, Optional } from '@nestjs/common';
import type { OnlyWhenLeaderOptions } from '../interfaces/only-when-leader-options.interface.js';
import {
  DEFAULT_ELECTION,
  getInjectedElectionKey,
  getLeaderElectionToken,
  ONLY_WHEN_LEADER_METADATA,
} from '../leader-election.constants.js';
import { NO_SERVICE_INJECTED } from '../leader-election.messages.js';
import type { LeaderElectionService } from '../leader-election.service.js';
import { followerCall, leaderWorkOf } from '../leader-work.js';

/**
 * Runs the method only while this replica leads the election. On a follower
 * the body does not run: by default the call returns `undefined` (a resolved
 * promise for async methods); with `onFollower: 'throw'` it throws a
 * `NotLeaderError` (rejects, for async methods).
 *
 * Inside the body, `LeaderElectionService.admittedTerm()` returns the term that
 * admitted the call, with its `signal` and `fencingToken`, across awaits.
 * Running calls are awaited by the shutdown drain before the Lease is released.
 *
 * Composes with `@Cron`, `@Interval`, `@Timeout` and `@OnEvent` in either
 * order: the wrapper carries every metadata entry and the name of the method.
 * The service is reached by property injection, so every Nest application in
 * a process sees its own leadership.
 */
export function OnlyWhenLeader(electionOrOptions: string | OnlyWhenLeaderOptions = {}): MethodDecorator {
  const options = typeof electionOrOptions === 'string' ? { election: electionOrOptions } : electionOrOptions;
  const election = options.election ?? DEFAULT_ELECTION;
  const onFollower = options.onFollower ?? 'skip';
  if (onFollower !== 'skip' && onFollower !== 'throw') {
    throw new TypeError(`@OnlyWhenLeader(): onFollower must be 'skip' or 'throw', got ${JSON.stringify(onFollower)}.`);
  }
  return (target, propertyKey, descriptor) => {
    const original = descriptor.value as unknown;
    if (typeof original !== 'function') {
      throw new TypeError(`@OnlyWhenLeader() can only decorate methods; ${String(propertyKey)} is not one.`);
    }
    const key = getInjectedElectionKey(election);
    const owner = target.constructor as { name: string };
    if (!Reflect.getOwnMetadata(key, owner)) {
      // Optional, so an unregistered name reaches the explorer's bootstrap check, whose error says what to register.
      Inject(getLeaderElectionToken(election))(target, key);
      Optional()(target, key);
      Reflect.defineMetadata(key, true, owner);
    }
    const label = `${owner.name}.${String(propertyKey)}`;
    const isAsync =
      original.constructor?.name === 'AsyncFunction' ||
      Reflect.getMetadata('design:returntype', target, propertyKey) === Promise;

    const wrapper = function (this: Record<string, unknown>, ...args: unknown[]) {
      const service = (this?.[key] ?? constructorInjected(this, election, key)) as LeaderElectionService | undefined;
      if (!service) throw new Error(NO_SERVICE_INJECTED(election, label, owner.name));
      const body = () => (original as (...a: unknown[]) => unknown).apply(this, args);
      const work = leaderWorkOf(service);
      if (work) return work.run(body, isAsync, label, onFollower);
      // A plain double from overrideProvider/useValue: gate on what it says, without terms or tracking.
      if (service.isLeader || service.term) return body();
      const source = {
        election,
        lease: service.lease ?? election,
        namespace: service.namespace ?? 'default',
        leader: service.leader ?? null,
        identity: service.identity,
      };
      return followerCall(source, isAsync, onFollower);
    };
    for (const metadataKey of Reflect.getOwnMetadataKeys(original)) {
      Reflect.defineMetadata(metadataKey, Reflect.getOwnMetadata(metadataKey, original), wrapper);
    }
    Reflect.defineMetadata(ONLY_WHEN_LEADER_METADATA, election, wrapper);
    Object.defineProperty(wrapper, 'name', { value: (original as { name: string }).name, configurable: true });
    descriptor.value = wrapper as typeof descriptor.value;
    return descriptor;
  };
}

/**
 * Outside Nest (`new ReportJob(new TestingLeaderElection())`) nothing injects
 * the property: use the instance's own service of that election, if it holds
 * one, and remember it.
 */
function constructorInjected(instance: Record<string, unknown> | undefined, election: string, key: string): unknown {
  if (!instance || typeof instance !== 'object') return undefined;
  const own = Object.values(instance).find(
    (value) => leaderWorkOf(value) !== undefined && (value as { election?: unknown }).election === election,
  );
  if (own !== undefined) Object.defineProperty(instance, key, { value: own, configurable: true, writable: true });
  return own;
}
