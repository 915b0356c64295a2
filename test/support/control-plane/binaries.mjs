// Finds or builds the kube-apiserver and etcd binaries the test suite runs.
// Order: $KUBEBUILDER_ASSETS (envtest convention), then a per-version cache
// outside the repo, then a build from Go modules with the machine's Go.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Kubernetes release whose kube-apiserver the suite runs against. */
export const KUBERNETES_VERSION = process.env.NLE_KUBERNETES_VERSION ?? 'v1.36.3';
/** etcd release (3.6.x is what kube-apiserver 1.36 expects). */
export const ETCD_VERSION = process.env.NLE_ETCD_VERSION ?? 'v3.6.16';

/** Folder that keeps built binaries across clones: `$NLE_CACHE_DIR`, else `$XDG_CACHE_HOME/nestjs-lease-election`, else `~/.cache/nestjs-lease-election`. */
export function cacheRoot() {
  if (process.env.NLE_CACHE_DIR) return process.env.NLE_CACHE_DIR;
  const base = process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache');
  return join(base, 'nestjs-lease-election');
}

const HOW_TO_PROVIDE = [
  'Provide the control-plane binaries in one of these ways:',
  '  1. set KUBEBUILDER_ASSETS to a folder holding `kube-apiserver` and `etcd`',
  '     (for example the output of `setup-envtest use -p path`), or',
  `  2. install Go >= 1.25 (https://go.dev/dl) and re-run; the suite builds them into ${cacheRoot()}`,
  '     (a cold build takes 5-15 minutes on 2 cores; later runs reuse the cache).',
].join('\n');

function log(message) {
  process.stderr.write(`[control-plane] ${message}\n`);
}

/** The machine's `go version`, or null when Go is not on PATH. */
export function hasGo() {
  const probe = spawnSync('go', ['version'], { encoding: 'utf8' });
  return probe.status === 0 ? probe.stdout.trim() : null;
}

/**
 * Runs `go <args>` in `cwd` with modules enabled, reporting progress through
 * `log` every 30 s; resolves with the output, rejects with its tail.
 */
export function runGo(args, cwd, { env = {}, log: report = log } = {}) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn('go', args, {
      cwd,
      env: { ...process.env, GOFLAGS: '-mod=mod', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const collect = (chunk) => {
      output += chunk;
      if (output.length > 200_000) output = output.slice(-100_000);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const ticker = setInterval(
      () => report(`  still running: go ${args[0]} ... (${Math.round((Date.now() - started) / 1000)}s)`),
      30_000,
    );
    child.on('error', (error) => {
      clearInterval(ticker);
      reject(error);
    });
    child.on('close', (code) => {
      clearInterval(ticker);
      if (code === 0) resolve(output);
      else reject(new Error(`go ${args.join(' ')} failed in ${cwd} (exit ${code}):\n${output.slice(-8000)}`));
    });
  });
}

/**
 * Reads the staging `replace` directives from k8s.io/kubernetes' own go.mod
 * and points each at the published module of the matching v0.x version.
 */
async function stagingReplaces(kubernetesVersion, workDir) {
  const json = await runGo(['mod', 'download', '-json', `k8s.io/kubernetes@${kubernetesVersion}`], workDir);
  const { GoMod } = JSON.parse(json);
  const goMod = readFileSync(GoMod, 'utf8');
  const stagingVersion = kubernetesVersion.replace(/^v1\./, 'v0.');
  const replaces = [];
  for (const match of goMod.matchAll(/^\s*(?:replace\s+)?(k8s\.io\/[\w.-]+)\s+=>\s+\.\/staging\/src\/\S+/gm)) {
    replaces.push(`replace ${match[1]} => ${match[1]} ${stagingVersion}`);
  }
  if (replaces.length === 0) throw new Error(`no staging replaces found in ${GoMod}`);
  return replaces;
}

async function buildKubeApiserver(outDir) {
  const workDir = join(outDir, 'src-kube-apiserver');
  mkdirSync(workDir, { recursive: true });
  log(`building kube-apiserver ${KUBERNETES_VERSION} from Go modules in ${workDir}`);
  writeFileSync(join(workDir, 'go.mod'), 'module nle/kubeapiserver\n\ngo 1.25\n');
  const replaces = await stagingReplaces(KUBERNETES_VERSION, workDir);
  log(`  ${replaces.length} staging modules replaced (read from k8s.io/kubernetes@${KUBERNETES_VERSION}/go.mod)`);
  writeFileSync(
    join(workDir, 'go.mod'),
    `module nle/kubeapiserver\n\ngo 1.25\n\nrequire k8s.io/kubernetes ${KUBERNETES_VERSION}\n\n${replaces.join('\n')}\n`,
  );
  writeFileSync(
    join(workDir, 'tools.go'),
    '//go:build tools\n\npackage tools\n\nimport _ "k8s.io/kubernetes/cmd/kube-apiserver"\n',
  );
  log('  resolving modules (go mod tidy)...');
  await runGo(['mod', 'tidy'], workDir);
  log('  compiling (go build)...');
  const target = join(outDir, 'kube-apiserver');
  const ldflags = [
    `-X k8s.io/component-base/version.gitVersion=${KUBERNETES_VERSION}`,
    `-X k8s.io/component-base/version.gitMajor=1`,
    `-X k8s.io/component-base/version.gitMinor=${KUBERNETES_VERSION.split('.')[1]}`,
    '-s -w',
  ].join(' ');
  await runGo(
    ['build', '-trimpath', '-ldflags', ldflags, '-o', `${target}.tmp`, 'k8s.io/kubernetes/cmd/kube-apiserver'],
    workDir,
    { env: { CGO_ENABLED: '0' } },
  );
  renameSync(`${target}.tmp`, target);
}

async function buildEtcd(outDir) {
  const workDir = join(outDir, 'src-etcd');
  mkdirSync(workDir, { recursive: true });
  log(`building etcd ${ETCD_VERSION} from Go modules in ${workDir}`);
  writeFileSync(
    join(workDir, 'go.mod'),
    `module nle/etcd\n\ngo 1.25\n\nrequire go.etcd.io/etcd/server/v3 ${ETCD_VERSION}\n`,
  );
  writeFileSync(
    join(workDir, 'main.go'),
    'package main\n\nimport (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\nfunc main() { etcdmain.Main(os.Args) }\n',
  );
  log('  resolving modules (go mod tidy)...');
  await runGo(['mod', 'tidy'], workDir);
  log('  compiling (go build)...');
  const target = join(outDir, 'etcd');
  await runGo(['build', '-trimpath', '-ldflags', '-s -w', '-o', `${target}.tmp`, '.'], workDir, {
    env: { CGO_ENABLED: '0' },
  });
  renameSync(`${target}.tmp`, target);
}

/**
 * Returns `{ kubeApiserver, etcd, source }` with absolute paths to usable
 * binaries, building them into the cache when needed. Throws with
 * instructions when neither binaries nor Go are available.
 */
export async function ensureBinaries() {
  const assets = process.env.KUBEBUILDER_ASSETS;
  if (assets) {
    const kubeApiserver = join(assets, 'kube-apiserver');
    const etcd = join(assets, 'etcd');
    if (existsSync(kubeApiserver) && existsSync(etcd)) return { kubeApiserver, etcd, source: 'KUBEBUILDER_ASSETS' };
    throw new Error(`KUBEBUILDER_ASSETS=${assets} does not contain both kube-apiserver and etcd.\n${HOW_TO_PROVIDE}`);
  }
  const apiDir = join(cacheRoot(), `kube-apiserver-${KUBERNETES_VERSION}`);
  const etcdDir = join(cacheRoot(), `etcd-${ETCD_VERSION}`);
  const kubeApiserver = join(apiDir, 'kube-apiserver');
  const etcd = join(etcdDir, 'etcd');
  const missing = [!existsSync(etcd) && 'etcd', !existsSync(kubeApiserver) && 'kube-apiserver'].filter(Boolean);
  if (missing.length === 0) return { kubeApiserver, etcd, source: 'cache' };

  const goVersion = hasGo();
  if (!goVersion) throw new Error(`Cannot find ${missing.join(' and ')} and Go is not installed.\n${HOW_TO_PROVIDE}`);
  log(`${missing.join(' and ')} not cached; building with ${goVersion} (cache: ${cacheRoot()})`);
  const started = Date.now();
  if (!existsSync(etcd)) await buildEtcd(etcdDir);
  if (!existsSync(kubeApiserver)) await buildKubeApiserver(apiDir);
  log(`build finished in ${Math.round((Date.now() - started) / 1000)}s`);
  return { kubeApiserver, etcd, source: 'built' };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  ensureBinaries().then(
    (found) => console.log(JSON.stringify(found, null, 2)),
    (error) => {
      console.error(error.message);
      process.exit(1);
    },
  );
}
