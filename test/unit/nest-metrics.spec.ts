/**
 * Metrics through LeaderElectionModule: providers under @willsoto/nestjs-prometheus's
 * token names (`@InjectMetric(name)` resolves them). @willsoto's package itself is
 * CommonJS and breaks jest's ESM mode, so the tokens come from the library's helper.
 */
import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Inject, Injectable, Optional, type ModuleMetadata } from '@nestjs/common';
import { createRequire } from 'node:module';
import { Registry, register, type Counter, type Gauge } from 'prom-client';
import { InjectLeaderElection, LeaderElectionModule, LeaderElectionService } from '../../lib/index.js';
import { getMetricToken, LEADER_ELECTION_METRIC_NAMES } from '../../lib/metrics/leader-election.metrics.js';
import { NestApps } from '../support/nest-apps.js';

const standalone = { standalone: true, logLevel: 'silent' as const, namespace: 'metrics-ns' };

@Injectable()
class Probe {
  constructor(
    @Optional() @Inject(getMetricToken('leader_election_is_leader')) readonly isLeader: Gauge | null,
    @Optional() @Inject(getMetricToken('leader_election_acquired_total')) readonly promoted: Counter | null,
    @Optional() @Inject(getMetricToken('leader_election_lost_total')) readonly demoted: Counter | null,
  ) {}
}

interface Sample {
  value: number;
  labels: Record<string, string | number>;
}

async function valueOf(
  metric: Gauge | Counter | null | undefined,
  labels: Record<string, string>,
): Promise<number | undefined> {
  if (!metric) throw new Error('no metric');
  const { values } = (await metric.get()) as { values: Sample[] };
  return values.find((sample) => JSON.stringify(sample.labels) === JSON.stringify(labels))?.value;
}

/** Polls `read` (real timers) until it returns `expected`, or the deadline passes; returns the last value. */
async function eventually<T>(read: () => Promise<T>, expected: T, timeoutMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (value !== expected && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    value = await read();
  }
  return value;
}

const leaderNames = () => register.getMetricsAsArray().filter((metric) => metric.name.includes('leader_election'));

describe('token names', () => {
  it('match @willsoto/nestjs-prometheus getToken (its dependency-free utils file, loaded without its index)', () => {
    const require = createRequire(import.meta.url);
    const utils = require('@willsoto/nestjs-prometheus/dist/metrics/utils.js') as {
      getToken(name: string): string;
    };
    for (const name of [...LEADER_ELECTION_METRIC_NAMES, 'app_leader_election_is_leader']) {
      expect(getMetricToken(name)).toBe(utils.getToken(name));
    }
  });
});

describe('LeaderElectionModule metrics providers', () => {
  const apps = new NestApps();
  afterEach(async () => {
    await apps.closeAll();
    register.clear();
  });

  const compile = (imports: ModuleMetadata['imports'], providers: ModuleMetadata['providers'] = [Probe]) =>
    apps.start({ imports, providers });

  it('metrics: { registry }: the injected is_leader gauge reads 1 after leadership, 0 after shutdown', async () => {
    const registry = new Registry();
    const moduleRef = await compile([
      LeaderElectionModule.forRoot({ ...standalone, leaseName: 'nest-metrics', metrics: { registry } }),
    ]);
    const probe = moduleRef.get(Probe);
    expect(probe.isLeader).toBe(registry.getSingleMetric('leader_election_is_leader'));
    expect(probe.promoted).toBe(registry.getSingleMetric('leader_election_acquired_total'));
    expect(
      registry
        .getMetricsAsArray()
        .map((metric) => metric.name)
        .sort(),
    ).toEqual([...LEADER_ELECTION_METRIC_NAMES].sort());
    expect(leaderNames()).toEqual([]); // not in prom-client's global registry

    const service = moduleRef.get(LeaderElectionService);
    await service.waitForLeadership();
    const labels = { lease: 'nest-metrics', namespace: 'metrics-ns' };
    expect(await eventually(() => valueOf(probe.isLeader, labels), 1)).toBe(1);
    expect(await valueOf(probe.promoted, { lease: 'nest-metrics', namespace: 'metrics-ns' })).toBe(1);

    await apps.close(moduleRef);
    expect(await valueOf(probe.isLeader, labels)).toBe(0);
    expect(await valueOf(probe.demoted, { lease: 'nest-metrics', namespace: 'metrics-ns', reason: 'shutdown' })).toBe(
      1,
    );
  });

  it('metrics: false: the metric tokens resolve to null and nothing is registered', async () => {
    const moduleRef = await compile([
      LeaderElectionModule.forRoot({ ...standalone, leaseName: 'no-metrics', metrics: false }),
    ]);
    const probe = moduleRef.get(Probe);
    for (const name of LEADER_ELECTION_METRIC_NAMES) {
      expect(moduleRef.get(getMetricToken(name), { strict: false })).toBeNull();
    }
    expect(probe.isLeader).toBeNull();
    expect(probe.promoted).toBeNull();
    const service = moduleRef.get(LeaderElectionService);
    await service.waitForLeadership();
    expect(service.isLeader).toBe(true);
    expect(leaderNames()).toEqual([]);
  });

  it('by default registers in prom-client’s global registry (what PrometheusModule serves on /metrics)', async () => {
    expect(leaderNames()).toEqual([]);
    const moduleRef = await compile([LeaderElectionModule.forRoot({ ...standalone, leaseName: 'global-metrics' })]);
    const probe = moduleRef.get(Probe);
    expect(probe.isLeader).toBe(register.getSingleMetric('leader_election_is_leader'));
    const service = moduleRef.get(LeaderElectionService);
    await service.waitForLeadership();
    const labels = { lease: 'global-metrics', namespace: 'metrics-ns' };
    expect(await eventually(() => valueOf(probe.isLeader, labels), 1)).toBe(1);
    const exposition = await register.metrics();
    expect(exposition).toContain('leader_election_is_leader{lease="global-metrics",namespace="metrics-ns"} 1');
    expect(exposition).toContain(
      'leader_election_master_status{name="global-metrics",lease="global-metrics",namespace="metrics-ns"} 1',
    );
  });

  it('forRootAsync: @InjectMetric resolves the metric, which records the async registration', async () => {
    const registry = new Registry();
    const moduleRef = await compile([
      LeaderElectionModule.forRootAsync({
        useFactory: async () => ({ ...standalone, leaseName: 'async-metrics', metrics: { registry } }),
      }),
    ]);
    const probe = moduleRef.get(Probe);
    expect(probe.isLeader).not.toBeNull();
    expect(probe.isLeader).toBe(registry.getSingleMetric('leader_election_is_leader'));
    const service = moduleRef.get(LeaderElectionService);
    await service.waitForLeadership();
    const labels = { lease: 'async-metrics', namespace: 'metrics-ns' };
    expect(await eventually(() => valueOf(probe.isLeader, labels), 1)).toBe(1);
  });

  it('with a prefix, both the prefixed and the plain token resolve to the prefixed metric', async () => {
    const registry = new Registry();
    @Injectable()
    class PrefixedProbe {
      constructor(
        @Inject(getMetricToken('app_leader_election_is_leader')) readonly prefixed: Gauge,
        @Inject(getMetricToken('leader_election_is_leader')) readonly plain: Gauge,
      ) {}
    }
    const moduleRef = await compile(
      [
        LeaderElectionModule.forRoot({
          ...standalone,
          leaseName: 'prefixed',
          metrics: { registry, prefix: 'app_' },
        }),
      ],
      [PrefixedProbe],
    );
    const probe = moduleRef.get(PrefixedProbe);
    expect(probe.prefixed).toBe(registry.getSingleMetric('app_leader_election_is_leader'));
    expect(probe.plain).toBe(probe.prefixed);
    expect(registry.getMetricsAsArray().every((metric) => metric.name.startsWith('app_leader_election_'))).toBe(true);
    const service = moduleRef.get(LeaderElectionService);
    await service.waitForLeadership();
    const labels = { lease: 'prefixed', namespace: 'metrics-ns' };
    expect(await eventually(() => valueOf(probe.prefixed, labels), 1)).toBe(1);
  });

  it('two named elections share a registry: no error, each records under its own lease label', async () => {
    const registry = new Registry();
    @Injectable()
    class Named {
      constructor(
        @InjectLeaderElection('billing') readonly billing: LeaderElectionService,
        @InjectLeaderElection('reports') readonly reports: LeaderElectionService,
        @Inject(getMetricToken('leader_election_is_leader')) readonly isLeader: Gauge,
      ) {}
    }
    const moduleRef = await compile(
      [
        LeaderElectionModule.forRoot({
          ...standalone,
          leaseName: 'billing',
          election: 'billing',
          metrics: { registry },
        }),
        LeaderElectionModule.forRoot({
          ...standalone,
          leaseName: 'reports',
          election: 'reports',
          metrics: { registry },
        }),
      ],
      [Named],
    );
    const named = moduleRef.get(Named);
    expect(named.isLeader).toBe(registry.getSingleMetric('leader_election_is_leader'));
    await Promise.all([named.billing.waitForLeadership(), named.reports.waitForLeadership()]);
    for (const service of [named.billing, named.reports]) {
      const lease = service.elector.options.lock.name;
      const labels = { lease, namespace: 'metrics-ns' };
      expect(await eventually(() => valueOf(named.isLeader, labels), 1)).toBe(1);
    }
    const promoted = registry.getSingleMetric('leader_election_acquired_total') as Counter;
    expect(await valueOf(promoted, { lease: 'billing', namespace: 'metrics-ns' })).toBe(1);
    expect(await valueOf(promoted, { lease: 'reports', namespace: 'metrics-ns' })).toBe(1);
  });
});
