import type { OnModuleInit } from '@nestjs/common';
import type { DiscoveryService, MetadataScanner } from '@nestjs/core';
import type { Subscription } from 'rxjs';
import type { ElectorLogger } from './elector/index.js';
import type { LeadershipEventHandlerMetadata } from './decorators/leadership-events.decorator.js';
import type { LeadershipEvent } from './interfaces/leadership-event.interface.js';
import { LEADERSHIP_EVENT_METADATA } from './leader-election.constants.js';
import type { LeaderElectionService } from './leader-election.service.js';

interface Handler {
  type: LeadershipEvent['type'];
  label: string;
  call: (event: LeadershipEvent) => unknown;
}

/**
 * Finds `@OnLeadershipAcquired/Lost/@OnLeaderChanged` handlers of one
 * election on every provider and controller, and calls them for its events.
 * A handler that throws or rejects is logged; the others still run.
 */
export class LeadershipEventsExplorer implements OnModuleInit {
  private subscription: Subscription | null = null;

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly service: LeaderElectionService,
    private readonly logger: ElectorLogger,
  ) {}

  /** Subscribes before any `onApplicationBootstrap`, so the first acquisition is never missed. */
  onModuleInit(): void {
    const handlers = this.findHandlers();
    this.subscription = this.service.events$.subscribe((event) => {
      for (const handler of handlers) if (handler.type === event.type) this.invoke(handler, event);
    });
  }

  /** Stops delivering events. */
  onApplicationShutdown(): void {
    this.subscription?.unsubscribe();
  }

  private findHandlers(): Handler[] {
    const handlers: Handler[] = [];
    const wrappers = [...this.discovery.getProviders(), ...this.discovery.getControllers()];
    for (const wrapper of wrappers) {
      const instance = wrapper.instance as Record<string, unknown> | undefined;
      if (!instance || typeof instance !== 'object' || !wrapper.isDependencyTreeStatic()) continue;
      const prototype = Object.getPrototypeOf(instance);
      if (!prototype) continue;
      for (const methodName of this.scanner.getAllMethodNames(prototype)) {
        const method = instance[methodName];
        if (typeof method !== 'function') continue;
        const metadata: LeadershipEventHandlerMetadata[] | undefined = Reflect.getMetadata(
          LEADERSHIP_EVENT_METADATA,
          method,
        );
        for (const entry of metadata ?? []) {
          if (entry.election !== this.service.election) continue;
          handlers.push({
            type: entry.type,
            label: `${prototype.constructor?.name ?? 'provider'}.${methodName}`,
            call: (event) => (method as (event: LeadershipEvent) => unknown).call(instance, event),
          });
        }
      }
    }
    return handlers;
  }

  private invoke(handler: Handler, event: LeadershipEvent): void {
    const report = (error: unknown) =>
      this.logger.error(`${handler.label} (${event.type} handler) failed: ${(error as Error)?.stack ?? String(error)}`);
    try {
      const result = handler.call(event);
      if (result && typeof (result as Promise<unknown>).catch === 'function')
        (result as Promise<unknown>).catch(report);
    } catch (error) {
      report(error);
    }
  }
}
