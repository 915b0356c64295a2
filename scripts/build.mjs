// Builds dist/ for both module systems from one implementation:
//   dist/cjs/  CommonJS: every file of lib/ transpiled by TypeScript as a
//              `.cts` file (module node16), so `import()` of ESM-only packages
//              (@kubernetes/client-node) stays `import()`; with the
//              declarations of dist/esm.
//   dist/esm/  declarations of lib/ as ES modules (tsc, tsconfig.build.json),
//              and one ES module per entry point that re-exports dist/cjs.
//              An app that both imports and requires the package (or has a
//              dependency that does) so loads one copy and one set of injection
//              tokens: no dual-package hazard.
// Type checking is tsc's (tsconfig.build.json); the transpile adds no checks.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
/** The package's entry points (lib/<entry>.ts), as in the exports map. */
const ENTRIES = ['index', 'elector/index', 'health/index', 'testing/index'];
const lib = join(root, 'lib');
const dist = join(root, 'dist');

function filesOf(dir, suffix) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(suffix))
    .map((entry) => join(entry.parentPath, entry.name));
}

rmSync(dist, { recursive: true, force: true });
const tsc = spawnSync(
  process.execPath,
  [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json')],
  { cwd: root, stdio: 'inherit' },
);
if (tsc.status !== 0) process.exit(tsc.status ?? 1);

const { options } = ts.convertCompilerOptionsFromJson(
  JSON.parse(readFileSync(join(root, 'tsconfig.json'), 'utf8')).compilerOptions,
  root,
);
const compilerOptions = {
  ...options,
  module: ts.ModuleKind.Node16,
  moduleResolution: ts.ModuleResolutionKind.Node16,
  declaration: false,
  sourceMap: false,
  noEmit: false,
};
for (const file of filesOf(lib, '.ts')) {
  const path = relative(lib, file);
  const { outputText, diagnostics } = ts.transpileModule(readFileSync(file, 'utf8'), {
    compilerOptions,
    fileName: file.replace(/\.ts$/, '.cts'),
    reportDiagnostics: true,
  });
  if (diagnostics?.length) {
    console.error(ts.formatDiagnostics(diagnostics, ts.createCompilerHost(compilerOptions)));
    process.exit(1);
  }
  const out = join(dist, 'cjs', path.replace(/\.ts$/, '.js'));
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, outputText);
}
for (const file of filesOf(join(dist, 'esm'), '.d.ts')) {
  const out = join(dist, 'cjs', relative(join(dist, 'esm'), file));
  mkdirSync(dirname(out), { recursive: true });
  copyFileSync(file, out);
}
writeFileSync(join(dist, 'cjs', 'package.json'), '{ "type": "commonjs" }\n');

// Named re-exports, read from the built CommonJS entry (loading it never loads client-node).
const require = createRequire(import.meta.url);
for (const entry of ENTRIES) {
  const wrapper = join(dist, 'esm', `${entry}.js`);
  const target = relative(dirname(wrapper), join(dist, 'cjs', `${entry}.js`)).replaceAll('\\', '/');
  const names = Object.keys(require(join(dist, 'cjs', `${entry}.js`))).filter((name) => name !== '__esModule');
  writeFileSync(
    wrapper,
    '// The ES module entry re-exports the CommonJS build: both module systems share one copy.\n' +
      `export {\n${names.map((name) => `  ${name},\n`).join('')}} from '${target}';\n`,
  );
}
