// Packs the package exactly as `npm publish` would (prepack builds dist/) and
// lints what users would install:
//   1. the file list: package.json, README.md, CHANGELOG.md, LICENSE, and
//      dist/{cjs,esm}/**/*.js and *.d.ts, each built from a source file in lib/
//      (no tests, samples, maps, build info or stale output), plus
//      dist/cjs/package.json, which makes that folder CommonJS;
//   2. every target of `main`, `types` and `exports` is in the tarball;
//   3. publint (package.json fields against the files), warnings as errors;
//   4. @arethetypeswrong/cli with every resolution (node10, node16 from
//      CommonJS and from ESM, bundler): the package ships a CommonJS build
//      (`require`) and ES module entries (`import`) over it.
// Usage: node scripts/lint-package.mjs [--keep]   (--keep leaves the .tgz and prints its path)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => join(root, 'node_modules', '.bin', name);
const problems = [];

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { cwd: root, encoding: 'utf8', ...options });
  if (result.error) throw result.error;
  return result;
}

const out = mkdtempSync(join(tmpdir(), 'nle-pack-'));
try {
  const packed = run('npm', ['pack', '--json', '--pack-destination', out], { stdio: ['ignore', 'pipe', 'inherit'] });
  if (packed.status !== 0) throw new Error(`npm pack failed with exit code ${packed.status}`);
  const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('[')));
  const tarball = join(out, info.filename);
  const files = info.files.map((file) => file.path).sort();

  // 1. Only what a user needs.
  for (const file of files) {
    if (['package.json', 'README.md', 'CHANGELOG.md', 'LICENSE', 'dist/cjs/package.json'].includes(file)) continue;
    const built = /^dist\/(cjs|esm)\/(.+)\.(js|d\.ts)$/.exec(file);
    if (!built) problems.push(`unexpected file in the package: ${file}`);
    else if (!existsSync(join(root, 'lib', `${built[2]}.ts`))) {
      problems.push(`${file} has no source lib/${built[2]}.ts (stale build output? delete dist/ and rebuild)`);
    }
  }
  const required = ['package.json', 'README.md', 'CHANGELOG.md', 'LICENSE', 'dist/cjs/package.json'];
  for (const entry of ['index', 'elector/index', 'health/index', 'testing/index']) {
    required.push(`dist/cjs/${entry}.js`, `dist/esm/${entry}.js`);
  }
  for (const file of required) {
    if (!files.includes(file)) problems.push(`missing from the package: ${file}`);
  }
  for (const file of files.filter((name) => name.endsWith('.js'))) {
    if (!files.includes(file.replace(/\.js$/, '.d.ts'))) problems.push(`${file} ships without its .d.ts`);
  }

  // 2. Every entry point is shipped.
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const targets = [manifest.main, manifest.types];
  const collect = (value) => {
    if (typeof value === 'string') targets.push(value);
    else if (value && typeof value === 'object') Object.values(value).forEach(collect);
  };
  collect(manifest.exports);
  for (const target of targets.filter(Boolean)) {
    if (!files.includes(target.replace(/^\.\//, ''))) problems.push(`entry point ${target} is not in the package`);
  }

  console.log(
    `${info.filename}: ${files.length} files, ${(info.size / 1024).toFixed(1)} kB packed, ` +
      `${(info.unpackedSize / 1024).toFixed(1)} kB unpacked`,
  );
  for (const file of info.files.sort((a, b) => a.path.localeCompare(b.path))) {
    console.log(`  ${String(file.size).padStart(7)}  ${file.path}`);
  }

  // 3. publint, 4. attw, both on the tarball itself.
  console.log('\n$ publint run --strict <tarball>');
  if (run(bin('publint'), ['run', '--strict', tarball], { stdio: 'inherit' }).status !== 0) {
    problems.push('publint reported problems (above)');
  }
  console.log('\n$ attw <tarball>');
  if (run(bin('attw'), ['--no-emoji', tarball], { stdio: 'inherit' }).status !== 0) {
    problems.push('@arethetypeswrong/cli reported problems (above)');
  }
  if (process.argv.includes('--keep')) console.log(`\ntarball kept at ${tarball}`);
} finally {
  if (!process.argv.includes('--keep')) rmSync(out, { recursive: true, force: true });
}

if (problems.length > 0) {
  console.error(`\npackage lint failed:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
  process.exit(1);
}
console.log('\npackage lint passed');
