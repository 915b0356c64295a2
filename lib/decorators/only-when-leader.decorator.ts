import { Inject } from '@nestjs/common';
import { DEFAULT_ELECTION, getLeaderElectionToken, ONLY_WHEN_LEADER_METADATA } from '../leader-election.constants.js';
import type { LeaderElectionService } from '../leader-election.service.js';

const injectedKey = (election: string) => `__leaderElection:${election}`;

/**
 * Runs the method only while this replica leads election `election`;
 * otherwise the call returns `undefined` (a resolved promise for async
 * methods) without running the body. Running calls are awaited by the
 * shutdown drain before the Lease is released.
 *
 * Composes with `@Cron`, `@Interval`, `@Timeout` and `@OnEvent` in either
 * order: the wrapper carries every metadata entry and the name of the method.
 * The service is reached by property injection, so every Nest application in
 * a process sees its own leadership.
 */
export function OnlyWhenLeader(election: string = DEFAULT_ELECTION): MethodDecorator {
  return (target, propertyKey, descriptor) => {
    const original = descriptor.value as unknown;
    if (typeof original !== 'function') {
      throw new TypeError(`@OnlyWhenLeader() can only decorate methods; ${String(propertyKey)} is not one.`);
    }
    const key = injectedKey(election);
    const owner = target.constructor as { name: string };
    if (!Reflect.getOwnMetadata(key, owner)) {
      Inject(getLeaderElectionToken(election))(target, key);
      Reflect.defineMetadata(key, true, owner);
    }
    const label = `${owner.name}.${String(propertyKey)}`;
    const isAsync =
      original.constructor?.name === 'AsyncFunction' ||
      Reflect.getMetadata('design:returntype', target, propertyKey) === Promise;

    const wrapper = function (this: Record<string, unknown>, ...args: unknown[]) {
      const service = this?.[key] as LeaderElectionService | undefined;
      if (!service) {
        throw new Error(
          `@OnlyWhenLeader(${JSON.stringify(election)}) on ${label}: no LeaderElectionService was injected. ` +
            `Make ${owner.name} a Nest provider and register LeaderElectionModule.forRoot(${
              election === DEFAULT_ELECTION ? '' : `{ name: ${JSON.stringify(election)}, ... }`
            }) in the application.`,
        );
      }
      return service.runAsLeader(() => (original as (...a: unknown[]) => unknown).apply(this, args), isAsync, label);
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
