// Builds the client-go reference candidate (bench/clientgo-candidate/main.go)
// with the machine's Go, from Go modules, into the same user cache as the
// control-plane binaries. The cache key is the client-go version plus a hash of
// main.go and the generated go.mod, so an edit rebuilds and a rerun does not.
// Usage: node bench/clientgo-binary.mjs   (prints the binary's path)
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheRoot, hasGo, runGo } from '../test/support/control-plane/binaries.mjs';

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

  const goVersion = hasGo();
  if (!goVersion) {
    throw new Error(`Go is needed to build the client-go reference candidate (looked for \`go\` on PATH).`);
  }
  const started = Date.now();
  const workDir = join(dir, 'src');
  mkdirSync(workDir, { recursive: true });
  log(`building with ${goVersion}, client-go ${CLIENT_GO_VERSION}, into ${dir}`);
  writeFileSync(join(workDir, 'go.mod'), goMod());
  writeFileSync(join(workDir, 'main.go'), mainGo);
  log('  resolving modules (go mod tidy)...');
  const go = { env: { CGO_ENABLED: '0' }, log };
  await runGo(['mod', 'tidy'], workDir, go);
  log('  compiling (go build)...');
  await runGo(['build', '-trimpath', '-ldflags', '-s -w', '-o', `${binary}.tmp`, '.'], workDir, go);
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
