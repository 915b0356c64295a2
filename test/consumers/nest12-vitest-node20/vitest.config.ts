import { defineConfig } from 'vitest/config';
import tsconfigPaths from 'vite-tsconfig-paths';

// As Nest 12's `nest new` writes it: no unplugin-swc. Vite 8 transforms
// TypeScript with Oxc, which follows tsconfig.json's experimentalDecorators and
// emitDecoratorMetadata (the spec checks the metadata Nest injects by).
export default defineConfig({
  // Resolves the path aliases declared in tsconfig.json, including the ones
  // added by `nest g library`.
  plugins: [tsconfigPaths()],
  test: {
    globals: true,
    root: './',
    include: ['**/*.spec.ts'],
  },
});
