import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Injectable } from '@nestjs/common';
import { EventEmitter2, EventEmitterModule, OnEvent } from '@nestjs/event-emitter';
import { Cron, ScheduleModule, SchedulerRegistry, Timeout } from '@nestjs/schedule';
import { Test, type TestingModule } from '@nestjs/testing';
import { LeaderElectionModule, LeaderElectionService, OnlyWhenLeader } from '../../lib/index.js';

@Injectable()
class Composed {
  calls: string[] = [];

  @OnEvent('order.created')
  @OnlyWhenLeader()
  onEventBelow(payload: string): void {
    this.calls.push(`event-below:${payload}`);
  }

  @OnlyWhenLeader()
  @OnEvent('order.created')
  onEventAbove(payload: string): void {
    this.calls.push(`event-above:${payload}`);
  }

  @Timeout('timeout-below', 10)
  @OnlyWhenLeader()
  timeoutBelow(): void {
    this.calls.push('timeout-below');
  }

  @OnlyWhenLeader()
  @Timeout('timeout-above', 10)
  timeoutAbove(): void {
    this.calls.push('timeout-above');
  }

  @Cron('0 0 1 1 *', { name: 'cron-below' })
  @OnlyWhenLeader()
  cronBelow(): void {
    this.calls.push('cron-below');
  }

  @OnlyWhenLeader()
  @Cron('0 0 1 1 *', { name: 'cron-above' })
  cronAbove(): void {
    this.calls.push('cron-above');
  }
}

async function waitUntil(condition: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('@OnlyWhenLeader composes with @OnEvent, @Timeout and @Cron in either order (real packages)', () => {
  let moduleRef: TestingModule | undefined;
  afterEach(async () => {
    await moduleRef?.close();
    moduleRef = undefined;
  });

  async function app(): Promise<{ composed: Composed; service: LeaderElectionService; ref: TestingModule }> {
    moduleRef = await Test.createTestingModule({
      imports: [
        EventEmitterModule.forRoot(),
        ScheduleModule.forRoot(),
        LeaderElectionModule.forRoot({ leaseName: 'compose', standalone: true, logLevel: 'silent' }),
      ],
      providers: [Composed],
    }).compile();
    await moduleRef.init();
    const service = moduleRef.get(LeaderElectionService);
    await service.waitForLeadership();
    return { composed: moduleRef.get(Composed), service, ref: moduleRef };
  }

  it('runs every decorated method on the leader, whatever the decorator order', async () => {
    const { composed, ref } = await app();
    ref.get(EventEmitter2).emit('order.created', 'o-1');
    await waitUntil(() => composed.calls.includes('timeout-below') && composed.calls.includes('timeout-above'), 2000);
    expect(composed.calls).toEqual(expect.arrayContaining(['event-below:o-1', 'event-above:o-1']));
    const registry = ref.get(SchedulerRegistry);
    for (const name of ['cron-below', 'cron-above']) {
      const job = registry.getCronJob(name);
      expect(job).toBeDefined();
      await job.fireOnTick();
    }
    expect(composed.calls).toEqual(expect.arrayContaining(['cron-below', 'cron-above']));
  });

  it('skips every decorated method once this replica no longer leads', async () => {
    const { composed, ref, service } = await app();
    await waitUntil(() => composed.calls.includes('timeout-below') && composed.calls.includes('timeout-above'), 2000);
    await service.elector.stop(); // ends the term; the app is still up
    expect(service.isLeader).toBe(false);
    composed.calls = [];
    ref.get(EventEmitter2).emit('order.created', 'o-2');
    for (const name of ['cron-below', 'cron-above']) await ref.get(SchedulerRegistry).getCronJob(name).fireOnTick();
    expect(composed.calls).toEqual([]);
  });
});
