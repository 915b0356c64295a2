import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper.js';
import type { Observable, Subscription } from 'rxjs';
import type { ElectorLogger } from './elector/internal.js';
import type { LeadershipEvent } from './interfaces/leadership-event.interface.js';
import { DUPLICATE_ELECTION, UNKNOWN_ELECTION } from './leader-election.messages.js';
import { ELECTION_LOGGER, ELECTION_NAME, ELECTION_SERVICE } from './leader-election.constants.js';
import { isThenable, leaderWorkOf } from './leader-work.js';
import { LeadershipMetadataAccessor } from './leadership-metadata.accessor.js';

interface EventSource {
  events$?: Observable<LeadershipEvent>;
}

interface Handler {
  election: string;
  type: LeadershipEvent['type'];
  label: string;
  instance: object;
  call: (event: LeadershipEvent) => unknown;
}

/**
 * Finds `@OnLeadershipAcquired/Lost/@OnLeaderChanged` handlers of one
 * election on every provider and controller and calls them for its events;
 * at bootstrap it also rejects wiring mistakes (duplicate or unknown
 * election names).
 *
 * Handlers of one provider run one after another, in event order: a loss
 * handler waits for a still-running acquire handler of the same provider, so
 * a consumer is never left started after its stop. Async handlers are tracked
 * by the service, so the shutdown drain awaits them before the Lease is
 * released. A handler that throws or rejects is logged; the others still run.
 */
@Injectable()
export class LeadershipEventsExplorer implements OnModuleInit, OnApplicationShutdown {
  private readonly subscriptions: Subscription[] = [];
  private readonly pending = new Map<object, Promise<void>>();
  /** The elections this explorer serves: its registration's one, or every election of a spreading group. */
  private readonly served: ReadonlyMap<string, EventSource>;

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly metadata: LeadershipMetadataAccessor,
    @Inject(ELECTION_NAME) election: string,
    @Inject(ELECTION_SERVICE) service: EventSource | { services?: ReadonlyMap<string, EventSource> },
    @Inject(ELECTION_LOGGER) private readonly logger: ElectorLogger,
  ) {
    const group = (service as { services?: ReadonlyMap<string, EventSource> } | null)?.services;
    this.served = group instanceof Map ? group : new Map([[election, service as EventSource]]);
  }

  /** The election names whose handlers this explorer calls. */
  get elections(): string[] {
    return [...this.served.keys()];
  }

  /** Subscribes before any `onApplicationBootstrap`, so the first acquisition is never missed. */
  onModuleInit(): void {
    const wrappers = this.staticWrappers();
    this.checkWiring(wrappers);
    const handlers = this.findHandlers(wrappers);
    for (const [election, service] of this.served) {
      // A plain double put in place with overrideProvider() may have no events$: its handlers then never run.
      const subscription = service.events$?.subscribe((event) => {
        for (const handler of handlers) {
          if (handler.election === election && handler.type === event.type) this.invoke(handler, event, service);
        }
      });
      if (subscription) this.subscriptions.push(subscription);
    }
  }

  /** Stops delivering events. */
  onApplicationShutdown(): void {
    for (const subscription of this.subscriptions.splice(0)) subscription.unsubscribe();
  }

  /** Instantiated singleton providers and controllers; alias wrappers (`useExisting`) are skipped so handlers run once. */
  private staticWrappers(): InstanceWrapper[] {
    return [...this.discovery.getProviders(), ...this.discovery.getControllers()].filter(
      (wrapper) =>
        !wrapper.isAlias &&
        wrapper.instance !== null &&
        typeof wrapper.instance === 'object' &&
        wrapper.isDependencyTreeStatic(),
    );
  }

  private methods(instance: object): { name: string; method: unknown }[] {
    const prototype = Object.getPrototypeOf(instance);
    if (!prototype) return [];
    return this.scanner
      .getAllMethodNames(prototype)
      .map((name) => ({ name, method: (instance as Record<string, unknown>)[name] }));
  }

  private checkWiring(wrappers: InstanceWrapper[]): void {
    // Each registration (module or testing module) has one explorer; services may be overridden by tests.
    const registrations = new Map<string, number>();
    for (const { instance } of wrappers) {
      if (instance instanceof LeadershipEventsExplorer) {
        for (const election of instance.elections) registrations.set(election, (registrations.get(election) ?? 0) + 1);
      }
    }
    for (const [election, count] of registrations) {
      if (count > 1) throw new Error(DUPLICATE_ELECTION(election, count));
    }
    const unknown: { decorator: string; election: string; label: string }[] = [];
    for (const { instance } of wrappers) {
      for (const { name, method } of this.methods(instance as object)) {
        for (const use of this.metadata.getElectionUses(method)) {
          if (!registrations.has(use.election)) unknown.push({ ...use, label: `${labelOf(instance)}.${name}` });
        }
      }
    }
    if (unknown.length > 0) throw new Error(UNKNOWN_ELECTION(unknown, [...registrations.keys()]));
  }

  private findHandlers(wrappers: InstanceWrapper[]): Handler[] {
    const handlers: Handler[] = [];
    for (const { instance } of wrappers) {
      for (const { name, method } of this.methods(instance as object)) {
        for (const entry of this.metadata.getEventHandlers(method)) {
          if (!this.served.has(entry.election)) continue;
          handlers.push({
            election: entry.election,
            type: entry.type,
            label: `${labelOf(instance)}.${name}`,
            instance: instance as object,
            call: (event) => (method as (event: LeadershipEvent) => unknown).call(instance, event),
          });
        }
      }
    }
    return handlers;
  }

  private invoke(handler: Handler, event: LeadershipEvent, service: EventSource): void {
    const report = (error: unknown) =>
      this.logger.error(`${handler.label} (${event.type} handler) failed: ${(error as Error)?.stack ?? String(error)}`);
    const work = leaderWorkOf(service);
    // Work started by an acquire handler (timers, a worker loop) carries the term it started under.
    const run = () =>
      event.type === 'acquired' && work ? work.runInTerm(event.term, () => handler.call(event)) : handler.call(event);
    const earlier = this.pending.get(handler.instance);
    let result: unknown;
    if (earlier) {
      const message = `${handler.label} (${event.type} handler) waits for an earlier leadership handler of this provider`;
      // A stop held up by a start that never returns (an awaited worker.run()) is a bug worth seeing.
      if (event.type === 'lost') this.logger.warn(`${message}; acquire handlers should return once started`);
      else this.logger.debug?.(message);
    } else {
      // Run at once when nothing of this provider is pending: the stop side must not wait a tick.
      try {
        result = run();
      } catch (error) {
        report(error);
        return;
      }
      if (!isThenable(result)) return;
    }
    const done = (earlier ? earlier.then(run) : Promise.resolve(result)).then(() => undefined, report);
    this.pending.set(handler.instance, done);
    work?.track(done);
    void done.then(() => {
      if (this.pending.get(handler.instance) === done) this.pending.delete(handler.instance);
    });
  }
}

function labelOf(instance: unknown): string {
  return (instance as object)?.constructor?.name ?? 'provider';
}
