import 'reflect-metadata';
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { Injectable, Logger, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Interval, ScheduleModule } from '@nestjs/schedule';
import { Test, type TestingModule } from '@nestjs/testing';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import {
  getLeaderElectionToken,
  InjectLeaderElection,
  LeaderElectionModule,
  LeaderElectionService,
  OnLeadershipAcquired,
  OnLeadershipLost,
  OnlyWhenLeader,
  type LeadershipEvent,
} from '../../lib/index.js';
import { MemoryLeaseLock } from '../../lib/elector/internal.js';

const standalone = { leaseName: 'unit-leader', standalone: true, logLevel: 'silent' as const };

@Injectable()
class Jobs {
  runs: string[] = [];
  events: LeadershipEvent[] = [];

  @Interval(20)
  @OnlyWhenLeader()
  wrapperBelow(): void {
    this.runs.push('below');
  }

  @OnlyWhenLeader()
  @Interval(20)
  wrapperAbove(): void {
    this.runs.push('above');
  }

  @OnlyWhenLeader()
  async asyncJob(): Promise<string> {
    return 'ran';
  }

  @OnLeadershipAcquired()
  onAcquired(event: LeadershipEvent): void {
    this.events.push(event);
  }

  @OnLeadershipLost()
  onLost(event: LeadershipEvent): void {
    this.events.push(event);
    throw new Error('a broken handler must not break the elector');
  }
}

async function compile(imports: unknown[], providers: unknown[] = [Jobs]): Promise<TestingModule> {
  const moduleRef = await Test.createTestingModule({
    imports: imports as never[],
    providers: providers as never[],
  }).compile();
  return moduleRef;
}

describe('LeaderElectionModule (standalone, no Kubernetes)', () => {
  const open: TestingModule[] = [];
  const savedEnv = { ...process.env };
  afterEach(async () => {
    await Promise.all(open.splice(0).map((moduleRef) => moduleRef.close()));
    process.env = { ...savedEnv };
    jest.restoreAllMocks();
  });

  it('forRoot: leads, runs @OnlyWhenLeader jobs in both decorator orders and fires events with payloads', async () => {
    const moduleRef = await compile([ScheduleModule.forRoot(), LeaderElectionModule.forRoot(standalone)]);
    open.push(moduleRef);
    await moduleRef.init();
    const service = moduleRef.get(LeaderElectionService);
    const term = await service.waitForLeadership();
    expect(service.isLeader).toBe(true);
    expect(service.leader).toBe(service.identity);
    const jobs = moduleRef.get(Jobs);
    const deadline = Date.now() + 3000;
    while (!(jobs.runs.includes('below') && jobs.runs.includes('above')) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(jobs.runs).toContain('below');
    expect(jobs.runs).toContain('above');
    await expect(jobs.asyncJob()).resolves.toBe('ran');
    expect(jobs.events[0]).toMatchObject({
      type: 'acquired',
      election: 'default',
      lease: 'unit-leader',
      identity: service.identity,
      holder: service.identity,
      fencingToken: term.fencingToken,
    });
    expect(jobs.events[0].timestamp).toBeInstanceOf(Date);

    await moduleRef.close();
    open.splice(0);
    expect(term.signal.aborted).toBe(true);
    expect(jobs.events.at(-1)).toMatchObject({ type: 'lost', reason: 'shutdown' });
    expect(service.isLeader).toBe(false);
    await expect(jobs.asyncJob()).resolves.toBeUndefined();
  });

  it('keeps @nestjs/schedule metadata and the method name on the wrapper, whatever the order', () => {
    for (const method of [Jobs.prototype.wrapperBelow, Jobs.prototype.wrapperAbove]) {
      // @nestjs/schedule's own metadata keys (schedule.constants).
      expect(Reflect.getMetadata('SCHEDULER_TYPE', method)).toBeDefined();
      expect(Reflect.getMetadata('SCHEDULE_INTERVAL_OPTIONS', method)).toMatchObject({ timeout: 20 });
    }
    expect(Jobs.prototype.wrapperBelow.name).toBe('wrapperBelow');
    expect(Jobs.prototype.wrapperAbove.name).toBe('wrapperAbove');
  });

  it('warns once that standalone mode always leads', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const moduleRef = await compile([LeaderElectionModule.forRoot({ ...standalone, logLevel: 'warn' })], []);
    open.push(moduleRef);
    await moduleRef.init();
    const standaloneWarnings = warn.mock.calls.filter(([message]) => String(message).includes('standalone mode'));
    expect(standaloneWarnings).toHaveLength(1);
  });

  it('forRootAsync with useFactory + inject, useClass and useExisting', async () => {
    @Injectable()
    class Settings {
      createLeaderElectionOptions() {
        return standalone;
      }
    }
    @Module({ providers: [Settings], exports: [Settings] })
    class SettingsModule {}

    const forms = [
      LeaderElectionModule.forRootAsync({
        imports: [SettingsModule],
        inject: [Settings],
        useFactory: (settings: Settings) => settings.createLeaderElectionOptions(),
      }),
      LeaderElectionModule.forRootAsync({ useClass: Settings }),
      LeaderElectionModule.forRootAsync({ imports: [SettingsModule], useExisting: Settings }),
    ];
    for (const form of forms) {
      const moduleRef = await compile([form], []);
      open.push(moduleRef);
      await moduleRef.init();
      const service = moduleRef.get(LeaderElectionService);
      await service.waitForLeadership();
      expect(service.elector.options.lock.name).toBe('unit-leader');
    }
  });

  it('in a Pod, warns once at the first term when nothing handles SIGTERM; not once enableShutdownHooks() ran', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const saved = process.listeners('SIGTERM');
    process.removeAllListeners('SIGTERM');
    process.env.KUBERNETES_SERVICE_HOST = '10.0.0.1';
    @Module({
      imports: [
        LeaderElectionModule.forRoot({
          leaseName: 'hooks',
          lock: new MemoryLeaseLock('hooks'),
          logLevel: 'warn',
          leaseDuration: 2000,
          renewDeadline: 1000,
          retryPeriod: 250,
        }),
      ],
    })
    class AppModule {}
    const hookWarnings = () =>
      warn.mock.calls.filter(([message]) => String(message).includes('app.enableShutdownHooks()'));
    try {
      const bare = await NestFactory.createApplicationContext(AppModule, { logger: false });
      await bare.get(LeaderElectionService).waitForLeadership();
      await new Promise((resolve) => setTimeout(resolve, 10));
      expect(hookWarnings()).toHaveLength(1);
      expect(String(hookWarnings()[0]![0])).toContain('lease default/hooks');
      await bare.close();

      warn.mockClear();
      const hooked = await NestFactory.createApplicationContext(AppModule, { logger: false });
      hooked.enableShutdownHooks(); // after init, as Nest allows
      await hooked.get(LeaderElectionService).waitForLeadership();
      await new Promise((resolve) => setTimeout(resolve, 10));
      expect(hookWarnings()).toHaveLength(0);
      await hooked.close();
    } finally {
      delete process.env.KUBERNETES_SERVICE_HOST;
      process.removeAllListeners('SIGTERM');
      for (const listener of saved) process.on('SIGTERM', listener);
    }
  });

  it('registerDefaults(): elections share settings and each overrides what it sets, sync or async', async () => {
    const shared = { standalone: true, logLevel: 'silent' as const, leaseDuration: 4000, renewDeadline: 2000 };
    for (const defaults of [
      LeaderElectionModule.registerDefaults({ ...shared, retryPeriod: 500 }),
      LeaderElectionModule.registerDefaultsAsync({ useFactory: async () => ({ ...shared, retryPeriod: 500 }) }),
    ]) {
      const moduleRef = await compile(
        [
          defaults,
          LeaderElectionModule.forRoot({ election: 'billing', leaseName: 'billing' }),
          LeaderElectionModule.forRootAsync({
            election: 'reports',
            useFactory: () => ({ leaseName: 'reports', leaseDuration: 6000, renewDeadline: undefined }),
          }),
        ],
        [],
      );
      open.push(moduleRef);
      await moduleRef.init();
      const billing = moduleRef.get<LeaderElectionService>(getLeaderElectionToken('billing'));
      const reports = moduleRef.get<LeaderElectionService>(getLeaderElectionToken('reports'));
      expect(billing.elector.options).toMatchObject({ leaseDuration: 4000, renewDeadline: 2000, retryPeriod: 500 });
      expect(reports.elector.options).toMatchObject({ leaseDuration: 6000, renewDeadline: 2000, retryPeriod: 500 });
      await billing.waitForLeadership();
    }
    expect(() => LeaderElectionModule.registerDefaults({ leaseName: 'x' } as never)).toThrow(
      /`leaseName` belongs to one election/,
    );
  });

  it('a module-shaping option returned by the forRootAsync factory fails saying where it belongs', async () => {
    for (const key of ['name', 'spread', 'isGlobal']) {
      const value = key === 'spread' ? ['billing'] : key === 'isGlobal' ? false : 'billing';
      const form = LeaderElectionModule.forRootAsync({ useFactory: () => ({ ...standalone, [key]: value }) });
      await expect(compile([form], [])).rejects.toThrow(
        new RegExp(
          `\`${key}\`.*cannot come from the forRootAsync\\(\\) factory.*forRootAsync\\(\\{ ${key}: …, useFactory \\}\\)`,
        ),
      );
    }
  });

  it('two named elections in one app have their own services and Leases', async () => {
    @Injectable()
    class Named {
      constructor(
        @InjectLeaderElection('billing') readonly billing: LeaderElectionService,
        @InjectLeaderElection('reports') readonly reports: LeaderElectionService,
      ) {}
    }
    const moduleRef = await compile(
      [
        LeaderElectionModule.forRoot({ ...standalone, leaseName: 'billing', election: 'billing' }),
        LeaderElectionModule.forRoot({ ...standalone, leaseName: 'reports', election: 'reports' }),
      ],
      [Named],
    );
    open.push(moduleRef);
    await moduleRef.init();
    const named = moduleRef.get(Named);
    expect(named.billing).not.toBe(named.reports);
    expect(named.billing.election).toBe('billing');
    expect(named.reports.elector.options.lock.name).toBe('reports');
    await Promise.all([named.billing.waitForLeadership(), named.reports.waitForLeadership()]);
  });

  it.each([
    [{ ...standalone, leaseDuration: 1000, renewDeadline: 1000 }, 'leaseDuration'],
    [{ ...standalone, leaseName: 'Not_A_Name' }, 'leaseName'],
    [{ ...standalone, retryPeriod: -1 }, 'retryPeriod'],
    [{ ...standalone, leaseDurationMs: 5 }, 'leaseDurationMs'],
    [{ ...standalone, logLevel: 'loud' }, 'logLevel'],
    [{ ...standalone, namespace: 'Bad Namespace' }, 'namespace'],
    [{ ...standalone, awaitLeadershipOnBootstrap: -5 }, 'awaitLeadershipOnBootstrap'],
    [{ ...standalone, leaseLabels: { 'bad key!': 'x' } }, 'leaseLabels'],
    [{ ...standalone, leaseLabels: { app: 'x'.repeat(64) } }, 'leaseLabels'],
    [{ ...standalone, leaseLabels: 'app=x' }, 'leaseLabels'],
    [{ ...standalone, kubernetesEvents: 'yes' }, 'kubernetesEvents'],
    [{ leaseName: 'cle', coordinated: { binaryVersion: 'v1.2' } }, 'coordinated'],
    [{ leaseName: 'cle', coordinated: { binaryVersion: '1.2.0' }, identity: 'Bad_Name' }, 'identity'],
    [{ ...standalone, coordinated: { binaryVersion: '1.2.0' } }, 'coordinated'],
  ])('fails the bootstrap naming the invalid field (%#: %s)', async (options, field) => {
    await expect(compile([LeaderElectionModule.forRoot(options as never)], [])).rejects.toThrow(`\`${field}\``);
  });

  it('fails the bootstrap with instructions when there is no Kubernetes configuration and standalone is off', async () => {
    process.env.HOME = mkdtempSync(join(tmpdir(), 'nle-home-'));
    delete process.env.KUBECONFIG;
    delete process.env.KUBERNETES_SERVICE_HOST;
    delete process.env.KUBERNETES_SERVICE_PORT;
    const attempt = compile([LeaderElectionModule.forRoot({ leaseName: 'no-config', logLevel: 'silent' })], []);
    await expect(attempt).rejects.toThrow(/no Kubernetes configuration found.*standalone: true/s);
  });

  it('leaderPodLabel: fails the bootstrap with the downward-API env to add when POD_NAME is unset', async () => {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions({
      clusters: [{ name: 'c', server: 'https://127.0.0.1:1', skipTLSVerify: true }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    const saved = process.env.POD_NAME;
    delete process.env.POD_NAME;
    try {
      const attempt = compile(
        [
          LeaderElectionModule.forRoot({
            leaseName: 'label',
            kubeConfig,
            leaderPodLabel: { key: 'leader' },
            logLevel: 'silent',
          }),
        ],
        [],
      );
      await expect(attempt).rejects.toThrow(/`leaderPodLabel`.*POD_NAME.*fieldPath: metadata\.name/s);
    } finally {
      if (saved !== undefined) process.env.POD_NAME = saved;
    }
    await expect(
      compile([LeaderElectionModule.forRoot({ ...standalone, leaderPodLabel: { key: 'leader' } })], []),
    ).rejects.toThrow(/`leaderPodLabel`.*not with standalone/);
  });

  it('throws a clear error when @OnlyWhenLeader is used outside a Nest provider', () => {
    const orphan = new Jobs();
    expect(() => orphan.wrapperAbove()).toThrow(/no LeaderElectionService was injected/);
  });
});
