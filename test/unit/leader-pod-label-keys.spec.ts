import 'reflect-metadata';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Test, type TestingModule } from '@nestjs/testing';
import { KubeConfig } from '@kubernetes/client-node';
import { LeaderElectionModule } from '../../lib/index.js';

// Issue 5: two elections of one app label the same Pod; with one key each would strip the other's label.

function unreachableKubeConfig(): KubeConfig {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://127.0.0.1:1', skipTLSVerify: true }],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kubeConfig;
}

function registration(name: string | undefined, key: string) {
  return LeaderElectionModule.forRoot({
    ...(name === undefined ? {} : { election: name }),
    leaseName: `lease-${name ?? 'default'}`,
    kubeConfig: unreachableKubeConfig(),
    leaderPodLabel: { key },
    logLevel: 'silent',
  });
}

describe('leaderPodLabel keys of one app', () => {
  const open: TestingModule[] = [];
  const savedPodName = process.env.POD_NAME;
  beforeAll(() => {
    process.env.POD_NAME = 'pod-0';
  });
  afterEach(async () => {
    // Compiled only: no elector was started.
    await Promise.all(open.splice(0).map((moduleRef) => moduleRef.close()));
  });
  afterAll(() => {
    if (savedPodName === undefined) delete process.env.POD_NAME;
    else process.env.POD_NAME = savedPodName;
  });

  const compile = async (imports: ReturnType<typeof registration>[]) => {
    const moduleRef = await Test.createTestingModule({ imports }).compile();
    open.push(moduleRef);
    return moduleRef;
  };

  it('rejects two registrations with the same key at bootstrap, naming the field, both names and the fix', async () => {
    const attempt = compile([registration('a', 'leader'), registration('b', 'leader')]);
    const error = (await attempt.then(
      () => null,
      (reason: unknown) => reason,
    )) as Error | null;
    expect(error).toBeInstanceOf(Error);
    expect(error!.message).toMatch(/`leaderPodLabel`/);
    expect(error!.message).toMatch(/registrations "(a|b)" and "(a|b)" of this app both use the key "leader"/);
    expect(error!.message).toContain('"a"');
    expect(error!.message).toContain('"b"');
    expect(error!.message).toMatch(/Give each registration its own key/);
    // The unnamed registration is named too.
    await expect(compile([registration(undefined, 'leader'), registration('b', 'leader')])).rejects.toThrow(
      /"default" \(the unnamed one\)/,
    );
  });

  it('accepts different keys in one app, and the same key in two apps of one process', async () => {
    await compile([registration('a', 'leader-a'), registration('b', 'leader-b')]);
    // Each app has its own record of taken keys: no process-wide state.
    await compile([registration('a', 'leader')]);
    await compile([registration('a', 'leader')]);
  });

  it("rejects a key under the library's own scope-label prefix", async () => {
    await expect(compile([registration('a', 'leader-of.nestjs-lease-election/x')])).rejects.toThrow(
      /`leaderPodLabel`.*the library's own/,
    );
  });
});
