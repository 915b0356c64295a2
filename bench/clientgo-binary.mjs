// Builds the client-go reference candidate (bench/clientgo-candidate/main.go)
// with the machine's Go, from Go modules, into the same user cache as the
// control-plane binaries. The cache key is the client-go version plus a hash of
// main.go and the generated go.mod, so an edit rebuilds and a rerun does not.
// Usage: node bench/clientgo-binary.mjs   (prints the binary's path)
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheRoot } from '../test/support/control-plane/binaries.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const source = join(here, 'clientgo-candidate', 'main.go');

/** client-go release of the reference candidate; v0.36 matches the kube-apiserver v1.36 the harness runs. */
export const CLIENT_GO_VERSION = process.env.NLE_CLIENT_GO_VERSION ?? 'v0.36.3';

function log(message) {
  process.stderr.write(`[clientgo-candidate] ${message}\n`);
}

function goMod() {
  // apimachinery is imported directly, so pin it to the same release as client-go.
  const apimachinery = CLIENT_GO_VERSION;
  return (
    'module nle/clientgo-candidate\n\ngo 1.25\n\n' +
    `require (\n\tk8s.io/apimachinery ${apimachinery}\n\tk8s.io/client-go ${CLIENT_GO_VERSION}\n)\n`
  );
}

function runGo(args, cwd) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn('go', args, {
      cwd,
      env: { ...process.env, GOFLAGS: '-mod=mod', CGO_ENABLED: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const collect = (chunk) => {
      output = (output + chunk).slice(-100_000);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const ticker = setInterval(
      () => log(`  still running: go ${args[0]} ... (${Math.round((Date.now() - started) / 1000)}s)`),
      20_000,
    );
    child.on('error', (error) => {
      clearInterval(ticker);
      reject(new Error(`cannot run go (${error.message}); install Go >= 1.25 to build the client-go candidate`));
    });
    child.on('close', (code) => {
      clearInterval(ticker);
      if (code === 0) resolve(output);
      else reject(new Error(`go ${args.join(' ')} failed in ${cwd} (exit ${code}):\n${output.slice(-8000)}`));
    });
  });
}

/**
 * Returns `{ path, source, buildMs }` for the built candidate, building it into
 * `<cacheRoot>/clientgo-candidate-<version>-<hash>/` when missing.
 */
export async function ensureClientGoCandidate() {
  const mainGo = readFileSync(source, 'utf8');
  const hash = createHash('sha256').update(mainGo).update(goMod()).digest('hex').slice(0, 12);
  const dir = join(cacheRoot(), `clientgo-candidate-${CLIENT_GO_VERSION}-${hash}`);
  const binary = join(dir, 'clientgo-candidate');
  if (existsSync(binary)) return { path: binary, source: 'cache', buildMs: 0 };

  const goVersion = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (goVersion.status !== 0) {
    throw new Error(`Go is needed to build the client-go reference candidate (looked for \`go\` on PATH).`);
  }
  const started = Date.now();
  const workDir = join(dir, 'src');
  mkdirSync(workDir, { recursive: true });
  log(`building with ${goVersion.stdout.trim()}, client-go ${CLIENT_GO_VERSION}, into ${dir}`);
  writeFileSync(join(workDir, 'go.mod'), goMod());
  writeFileSync(join(workDir, 'main.go'), mainGo);
  log('  resolving modules (go mod tidy)...');
  await runGo(['mod', 'tidy'], workDir);
  log('  compiling (go build)...');
  await runGo(['build', '-trimpath', '-ldflags', '-s -w', '-o', `${binary}.tmp`, '.'], workDir);
  // Rename last, so an interrupted build never leaves a half-written binary in the cache.
  renameSync(`${binary}.tmp`, binary);
  const buildMs = Date.now() - started;
  log(`built in ${(buildMs / 1000).toFixed(1)}s`);
  return { path: binary, source: 'built', buildMs };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  ensureClientGoCandidate().then(
    (found) => console.log(JSON.stringify(found)),
    (error) => {
      console.error(error.message);
      process.exit(1);
    },
  );
}
