import type { ModuleMetadata } from '@nestjs/common';
import { Test, type TestingModule, type TestingModuleBuilder } from '@nestjs/testing';

/**
 * The Nest testing apps of one describe block: each is remembered when
 * compiled and closed by `closeAll()` (call it in `afterEach`), so a failed
 * test never leaves an election campaigning into the next one.
 */
export class NestApps {
  private readonly open: TestingModule[] = [];

  /** `ignoreCloseErrors`: for apps whose bootstrap was meant to fail and may not close cleanly. */
  constructor(private readonly options: { ignoreCloseErrors?: boolean } = {}) {}

  /** Compiles without `init()`, for a test that prepares something first; still closed by `closeAll()`. */
  async compile(app: ModuleMetadata | TestingModuleBuilder): Promise<TestingModule> {
    const builder = isBuilder(app) ? app : Test.createTestingModule(app);
    const moduleRef = await builder.compile();
    this.open.push(moduleRef);
    return moduleRef;
  }

  /** Compiles and runs `init()` (the bootstrap hooks: candidacy starts here). */
  async start(app: ModuleMetadata | TestingModuleBuilder): Promise<TestingModule> {
    const moduleRef = await this.compile(app);
    await moduleRef.init();
    return moduleRef;
  }

  /** Closes one app now, for a test that checks what shutdown does; `closeAll()` leaves it alone. */
  close(moduleRef: TestingModule): Promise<void> {
    const index = this.open.indexOf(moduleRef);
    if (index >= 0) this.open.splice(index, 1);
    return moduleRef.close();
  }

  /** Closes every app still open, together. */
  async closeAll(): Promise<void> {
    const closing = this.open.splice(0).map((moduleRef) => moduleRef.close());
    if (this.options.ignoreCloseErrors) await Promise.allSettled(closing);
    else await Promise.all(closing);
  }
}

function isBuilder(app: ModuleMetadata | TestingModuleBuilder): app is TestingModuleBuilder {
  return typeof (app as Partial<TestingModuleBuilder>).compile === 'function';
}
