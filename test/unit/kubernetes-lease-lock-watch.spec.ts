import { describe, expect, it, jest } from '@jest/globals';
import type { LeaseReadResult } from '../../lib/elector/lease-lock.js';

/**
 * client-node's `Watch`, reduced to what KubernetesLeaseLock relies on, with
 * both majors' endings: `done(null)` when the server closes, `done(AbortError)`
 * after `abort()`, and (2.x only) `done(TimeoutError)` after 30 s without data
 * or without a response. The test drives each watch by hand.
 */
class FakeWatch {
  static opened: FakeWatch[] = [];
  /** What the next `watch()` does before returning: stream, or end with this error (e.g. 403, connect timeout). */
  static nextFailure: unknown = null;
  query: Record<string, unknown> = {};
  controller = new AbortController();
  private callback!: (phase: string, object: unknown) => void;
  private done!: (error: unknown) => void;
  private finished = false;

  async watch(
    _path: string,
    query: Record<string, unknown>,
    callback: (phase: string, object: unknown) => void,
    done: (error: unknown) => void,
  ): Promise<AbortController> {
    FakeWatch.opened.push(this);
    Object.assign(this, { query, callback, done });
    this.controller.signal.addEventListener('abort', () =>
      this.end(Object.assign(new Error('The operation was aborted'), { name: 'AbortError' })),
    );
    await Promise.resolve();
    const failure = FakeWatch.nextFailure;
    FakeWatch.nextFailure = null;
    if (failure) this.end(failure);
    return this.controller;
  }

  emit(phase: string, resourceVersion: string, holderIdentity = 'someone'): void {
    this.callback(phase, { metadata: { resourceVersion }, spec: { holderIdentity, leaseDurationSeconds: 15 } });
  }

  end(error: unknown): void {
    if (this.finished) return;
    this.finished = true;
    this.done(error);
  }
}

const timeoutError = () => new DOMException('The operation was aborted due to timeout', 'TimeoutError');

jest.unstable_mockModule('@kubernetes/client-node', () => ({
  CoordinationV1Api: class {},
  KubeConfig: class {},
  V1MicroTime: class {},
  VersionApi: class {},
  Watch: FakeWatch,
}));
const { KubernetesLeaseLock } = await import('../../lib/elector/kubernetes-lease-lock.js');
const { LeaseForbiddenError, LeaseLockError, LeaseTimeoutError } =
  await import('../../lib/elector/lease-lock.errors.js');

function setup() {
  FakeWatch.opened = [];
  FakeWatch.nextFailure = null;
  const kubeConfig = { makeApiClient: () => ({}), getCurrentUser: () => ({ name: 'tester' }) };
  const lock = new KubernetesLeaseLock({ kubeConfig: kubeConfig as never, name: 'lease', namespace: 'ns' });
  const changes: (LeaseReadResult | null)[] = [];
  const bookmarks: string[] = [];
  const handlers = {
    onChange: (s: LeaseReadResult | null) => changes.push(s),
    onBookmark: (rv: string) => bookmarks.push(rv),
  };
  const settled = (promise: Promise<void>) => {
    const state = { value: 'pending' as 'pending' | 'resolved' | 'rejected', error: undefined as unknown };
    promise.then(
      () => (state.value = 'resolved'),
      (error: unknown) => Object.assign(state, { value: 'rejected', error }),
    );
    return state;
  };
  const tick = () => new Promise((resolve) => setImmediate(resolve));
  return { lock, changes, bookmarks, handlers, settled, tick };
}

describe('KubernetesLeaseLock.watch with client-node 2.x endings', () => {
  it('reopens a watch that went quiet for 30 s (TimeoutError) from the last resourceVersion, without ending done', async () => {
    const { lock, changes, bookmarks, handlers, settled, tick } = setup();
    const controller = new AbortController();
    const watch = await lock.watch(handlers, '10', controller.signal);
    const state = settled(watch.done);
    expect(FakeWatch.opened).toHaveLength(1);
    expect(FakeWatch.opened[0].query).toMatchObject({ fieldSelector: 'metadata.name=lease', resourceVersion: '10' });

    FakeWatch.opened[0].emit('MODIFIED', '11');
    FakeWatch.opened[0].emit('BOOKMARK', '12');
    FakeWatch.opened[0].end(timeoutError());
    await tick();
    expect(state.value).toBe('pending');
    expect(FakeWatch.opened).toHaveLength(2);
    expect(FakeWatch.opened[1].query).toMatchObject({ resourceVersion: '12' });

    FakeWatch.opened[1].emit('MODIFIED', '13', 'other');
    FakeWatch.opened[1].end(timeoutError());
    await tick();
    expect(FakeWatch.opened).toHaveLength(3);
    expect(FakeWatch.opened[2].query).toMatchObject({ resourceVersion: '13' });
    expect(changes.map((change) => change?.resourceVersion)).toEqual(['11', '13']);
    expect(changes[1]?.record.holderIdentity).toBe('other');
    expect(bookmarks).toEqual(['12']);

    controller.abort();
    await tick();
    expect(state.value).toBe('resolved');
    expect(FakeWatch.opened[2].controller.signal.aborted).toBe(true);
  });

  it('still ends done normally when the server closes the watch (both majors)', async () => {
    const { lock, handlers, settled, tick } = setup();
    const watch = await lock.watch(handlers, undefined, new AbortController().signal);
    const state = settled(watch.done);
    FakeWatch.opened[0].end(null);
    await tick();
    expect(state.value).toBe('resolved');
    expect(FakeWatch.opened).toHaveLength(1);
  });

  it('reports a timeout before the stream started (no response within 30 s) as LeaseTimeoutError', async () => {
    const { lock, handlers } = setup();
    FakeWatch.nextFailure = timeoutError();
    const error = await lock.watch(handlers, undefined, new AbortController().signal).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LeaseTimeoutError);
    expect(FakeWatch.opened).toHaveLength(1);
  });

  it('rejects done with the reopened watch’s failure (403 after RBAC changed)', async () => {
    const { lock, handlers, settled, tick } = setup();
    const watch = await lock.watch(handlers, '5', new AbortController().signal);
    const state = settled(watch.done);
    FakeWatch.nextFailure = Object.assign(new Error('Forbidden'), { statusCode: 403 });
    FakeWatch.opened[0].end(timeoutError());
    await tick();
    expect(state.value).toBe('rejected');
    expect(state.error).toBeInstanceOf(LeaseForbiddenError);
  });

  it('rejects done with status 410 after an ERROR event, and does not reopen', async () => {
    const { lock, handlers, settled, tick } = setup();
    const watch = await lock.watch(handlers, '1', new AbortController().signal);
    const state = settled(watch.done);
    (FakeWatch.opened[0] as unknown as { callback: (p: string, o: unknown) => void }).callback('ERROR', {
      code: 410,
      message: 'too old resource version: 1 (20)',
    });
    await tick();
    expect(state.value).toBe('rejected');
    expect(state.error).toBeInstanceOf(LeaseLockError);
    expect((state.error as InstanceType<typeof LeaseLockError>).status).toBe(410);
    expect(FakeWatch.opened).toHaveLength(1);
  });

  it('ends done when aborted while a reopen is still connecting, and closes the new watch', async () => {
    const { lock, handlers, settled, tick } = setup();
    const controller = new AbortController();
    const watch = await lock.watch(handlers, '1', controller.signal);
    const state = settled(watch.done);
    FakeWatch.opened[0].end(timeoutError()); // reopen starts; its watch() returns after a microtask
    controller.abort();
    await tick();
    expect(state.value).toBe('resolved');
    expect(FakeWatch.opened).toHaveLength(2);
    expect(FakeWatch.opened[1].controller.signal.aborted).toBe(true);
  });
});
