import type { LeaseLock } from '../../lib/elector/lease-lock.js';

/**
 * A lock that forwards to `inner` (its watch too, when it has one) except for
 * the calls in `overrides`: for tests that break one part of the contract,
 * such as a read that crashes the loop or a watch that never connects.
 */
export function delegatingLock(
  inner: LeaseLock,
  overrides: Partial<Pick<LeaseLock, 'get' | 'create' | 'update' | 'watch'>>,
): LeaseLock {
  return {
    name: inner.name,
    namespace: inner.namespace,
    describe: () => inner.describe(),
    get: (signal) => inner.get(signal),
    create: (record, signal) => inner.create(record, signal),
    update: (record, version, signal) => inner.update(record, version, signal),
    ...(inner.watch ? { watch: (handlers, version, signal) => inner.watch!(handlers, version, signal) } : {}),
    ...overrides,
  };
}
