import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import {
  DEFAULT_LEASE_DURATION,
  DEFAULT_RENEW_DEADLINE,
  DEFAULT_RETRY_PERIOD,
  InvalidLeaderElectionOptionError,
  LeaderElector,
  MemoryLeaseLock,
  defaultIdentity,
  resolveElectorOptions,
  resolveNamespace,
  systemClock,
  validateLeaseName,
  type LeaderElectorOptions,
} from '../../lib/elector/internal.js';

const lock = new MemoryLeaseLock('my-service-leader', 'default');
const base: LeaderElectorOptions = {
  lock,
  identity: 'pod-a_1234',
  leaseDuration: 2000,
  renewDeadline: 1000,
  retryPeriod: 250,
};

/** The InvalidLeaderElectionOptionError thrown by `fn`, or a failure if none. */
function optionError(fn: () => unknown): InvalidLeaderElectionOptionError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidLeaderElectionOptionError);
    return error as InvalidLeaderElectionOptionError;
  }
  throw new Error('expected an InvalidLeaderElectionOptionError, but nothing was thrown');
}

describe('option validation', () => {
  it('accepts short timings and client-go defaults', () => {
    expect(resolveElectorOptions(base)).toMatchObject({ leaseDuration: 2000, renewDeadline: 1000, retryPeriod: 250 });
    const defaults = resolveElectorOptions({ lock, identity: 'x' });
    expect(defaults).toMatchObject({
      leaseDuration: DEFAULT_LEASE_DURATION,
      renewDeadline: DEFAULT_RENEW_DEADLINE,
      retryPeriod: DEFAULT_RETRY_PERIOD,
      requestTimeout: DEFAULT_RENEW_DEADLINE / 2,
      releaseTimeout: DEFAULT_RENEW_DEADLINE,
      releaseOnStop: true,
      clock: systemClock,
    });
    expect([DEFAULT_LEASE_DURATION, DEFAULT_RENEW_DEADLINE, DEFAULT_RETRY_PERIOD]).toEqual([15_000, 10_000, 2_000]);
  });

  it.each([
    ['leaseDuration equal to renewDeadline', { leaseDuration: 2000, renewDeadline: 2000 }, 'leaseDuration'],
    ['leaseDuration below renewDeadline', { leaseDuration: 2000, renewDeadline: 3000 }, 'leaseDuration'],
    ['renewDeadline equal to 1.2 x retryPeriod', { renewDeadline: 1200, retryPeriod: 1000 }, 'renewDeadline'],
    ['renewDeadline below 1.2 x retryPeriod', { renewDeadline: 1000, retryPeriod: 900 }, 'renewDeadline'],
    ['leaseDuration 0', { leaseDuration: 0 }, 'leaseDuration'],
    ['leaseDuration negative', { leaseDuration: -2000 }, 'leaseDuration'],
    ['leaseDuration NaN', { leaseDuration: Number.NaN }, 'leaseDuration'],
    ['leaseDuration infinite', { leaseDuration: Number.POSITIVE_INFINITY }, 'leaseDuration'],
    ['renewDeadline 0', { renewDeadline: 0 }, 'renewDeadline'],
    ['renewDeadline negative', { renewDeadline: -1 }, 'renewDeadline'],
    ['retryPeriod 0', { retryPeriod: 0 }, 'retryPeriod'],
    ['retryPeriod negative', { retryPeriod: -250 }, 'retryPeriod'],
    ['requestTimeout 0', { requestTimeout: 0 }, 'requestTimeout'],
    ['releaseTimeout negative', { releaseTimeout: -5 }, 'releaseTimeout'],
    ['sub-second leaseDuration', { leaseDuration: 500, renewDeadline: 400, retryPeriod: 100 }, 'leaseDuration'],
    ['non-whole-second leaseDuration', { leaseDuration: 2500 }, 'leaseDuration'],
    ['fractional leaseDuration', { leaseDuration: 2000.5 }, 'leaseDuration'],
    ['leaseDuration given as a string', { leaseDuration: '2000' as unknown as number }, 'leaseDuration'],
    ['empty identity', { identity: '' }, 'identity'],
    ['blank identity', { identity: '   ' }, 'identity'],
    ['non-string identity', { identity: 42 as unknown as string }, 'identity'],
  ])('rejects %s, naming the field', (_name, overrides, field) => {
    const options = { ...base, ...overrides } as LeaderElectorOptions;
    expect(optionError(() => resolveElectorOptions(options)).field).toBe(field);
    // The elector's constructor validates the same way.
    const error = optionError(() => new LeaderElector(options));
    expect(error.field).toBe(field);
    expect(error.message).toContain(`\`${field}\``);
  });

  it('accepts the boundaries just inside the rules', () => {
    expect(() => resolveElectorOptions({ ...base, leaseDuration: 2000, renewDeadline: 1999 })).not.toThrow();
    expect(() => resolveElectorOptions({ ...base, renewDeadline: 1201, retryPeriod: 1000 })).not.toThrow();
    expect(() =>
      resolveElectorOptions({ ...base, leaseDuration: 1000, renewDeadline: 999, retryPeriod: 1 }),
    ).not.toThrow();
  });

  it('requires a lock', () => {
    expect(optionError(() => resolveElectorOptions({} as LeaderElectorOptions)).field).toBe('lock');
    expect(optionError(() => resolveElectorOptions(undefined as unknown as LeaderElectorOptions)).field).toBe('lock');
  });

  it.each(['', 'My-Lease', 'my_lease', '-lease', 'lease-', 'a..b', '.lease', 'lease.', 'lease name', 'a'.repeat(254)])(
    'rejects the Lease name %p as not a DNS-1123 subdomain',
    (name) => {
      const options = { ...base, lock: new MemoryLeaseLock(name, 'default') };
      expect(optionError(() => resolveElectorOptions(options)).field).toBe('name');
      expect(optionError(() => validateLeaseName(name, 'leaseName')).field).toBe('leaseName');
    },
  );

  it.each(['a', 'my-service-leader', 'leader.my-service.example', '0-9', 'a'.repeat(253)])(
    'accepts the Lease name %p',
    (name) => {
      expect(validateLeaseName(name)).toBe(name);
      expect(() => resolveElectorOptions({ ...base, lock: new MemoryLeaseLock(name, 'default') })).not.toThrow();
    },
  );

  it('rejects a non-string Lease name', () => {
    expect(optionError(() => validateLeaseName(undefined)).field).toBe('name');
    expect(optionError(() => validateLeaseName(7)).field).toBe('name');
  });
});

describe('identity and namespace', () => {
  const saved = { POD_NAME: process.env.POD_NAME, POD_NAMESPACE: process.env.POD_NAMESPACE };
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'lease-ns-'));
    delete process.env.POD_NAME;
    delete process.env.POD_NAMESPACE;
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  });

  it('makes a default identity from POD_NAME plus a random suffix, unique per call', () => {
    process.env.POD_NAME = 'web-7d9f-abcde';
    const a = defaultIdentity();
    const b = defaultIdentity();
    expect(a).toMatch(/^web-7d9f-abcde_[0-9a-f]{8}$/);
    expect(a).not.toBe(b);
    expect(resolveElectorOptions({ lock }).identity).toMatch(/^web-7d9f-abcde_[0-9a-f]{8}$/);
  });

  it('resolves the namespace in a Pod: option, then POD_NAMESPACE, then the namespace file, then "default"', () => {
    const file = join(dir, 'namespace');
    writeFileSync(file, 'from-file\n');
    process.env.POD_NAMESPACE = 'from-env';
    const inPod = (namespaceFile: string) => ({ inPod: true, namespaceFile, contextNamespace: 'from-context' });

    expect(resolveNamespace('from-option', inPod(file))).toBe('from-option');
    expect(resolveNamespace(undefined, inPod(file))).toBe('from-env');
    expect(resolveNamespace('', inPod(file))).toBe('from-env');
    delete process.env.POD_NAMESPACE;
    expect(resolveNamespace(undefined, inPod(file))).toBe('from-file');
    expect(resolveNamespace(undefined, { inPod: true, namespaceFile: join(dir, 'missing') })).toBe('default');
    writeFileSync(file, '  \n');
    expect(resolveNamespace(undefined, { inPod: true, namespaceFile: file })).toBe('default');
  });

  it('resolves the namespace out of a Pod: option, then the kubeconfig context\'s namespace, then POD_NAMESPACE, then "default"', () => {
    const file = join(dir, 'namespace');
    writeFileSync(file, 'from-file\n');
    process.env.POD_NAMESPACE = 'from-env';
    const local = { inPod: false, namespaceFile: file };

    expect(resolveNamespace('from-option', { ...local, contextNamespace: 'from-context' })).toBe('from-option');
    expect(resolveNamespace(undefined, { ...local, contextNamespace: 'from-context' })).toBe('from-context');
    expect(resolveNamespace(undefined, local)).toBe('from-env');
    delete process.env.POD_NAMESPACE;
    expect(resolveNamespace(undefined, local)).toBe('default');
  });
});
