import { Module, type DynamicModule, type FactoryProvider, type ModuleMetadata, type Provider } from '@nestjs/common';
import type { LeaderElectionModuleOptions } from './interfaces/leader-election-module-options.interface.js';
import { LEADER_ELECTION_DEFAULTS } from './leader-election.constants.js';

/** Settings shared by every election of the app; each `forRoot()` may override any of them. */
export type LeaderElectionDefaults = Partial<Omit<LeaderElectionModuleOptions, 'leaseName' | 'lock' | 'identity'>>;

/** `registerDefaultsAsync()`: the defaults from a factory, with the providers it injects. */
export interface LeaderElectionDefaultsAsyncOptions extends Pick<ModuleMetadata, 'imports'> {
  inject?: FactoryProvider['inject'];
  useFactory: (...args: never[]) => LeaderElectionDefaults | Promise<LeaderElectionDefaults>;
}

/**
 * Shared settings for several elections, as @nestjs/bullmq's `forRoot()` shares
 * a connection between queues: import `LeaderElectionModule.registerDefaults()`
 * once, and every `LeaderElectionModule.forRoot*()` of the app starts from
 * them. Global, one per application.
 */
@Module({})
export class LeaderElectionDefaultsModule {
  static register(defaults: LeaderElectionDefaults): DynamicModule {
    return LeaderElectionDefaultsModule.module({ provide: LEADER_ELECTION_DEFAULTS, useValue: checked(defaults) }, []);
  }

  static registerAsync(options: LeaderElectionDefaultsAsyncOptions): DynamicModule {
    const provider: Provider = {
      provide: LEADER_ELECTION_DEFAULTS,
      inject: options.inject ?? [],
      useFactory: async (...args: never[]) => checked(await options.useFactory(...args)),
    };
    return LeaderElectionDefaultsModule.module(provider, options.imports ?? []);
  }

  private static module(provider: Provider, imports: ModuleMetadata['imports']): DynamicModule {
    return { module: LeaderElectionDefaultsModule, global: true, imports, providers: [provider], exports: [provider] };
  }
}

/** Per-election settings cannot be shared: each election needs its own Lease, lock and identity. */
function checked(defaults: LeaderElectionDefaults): LeaderElectionDefaults {
  for (const field of ['leaseName', 'lock', 'identity', 'election', 'group', 'spread', 'name']) {
    if (defaults && field in defaults) {
      throw new Error(
        `LeaderElectionModule.registerDefaults(): \`${field}\` belongs to one election, not to the shared ` +
          "defaults; pass it to that election's forRoot().",
      );
    }
  }
  return defaults ?? {};
}
