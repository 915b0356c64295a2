// The npm registry reachable here answers 404 for some platform-specific
// optional packages (for example @unrs/resolver-binding-darwin-arm64), so
// `npm install` leaves them out of package-lock.json and `npm ci` then refuses
// the lock ("Missing: … from lock file"). This adds a platform-tagged entry for
// each missing optional dependency; npm skips them on non-matching platforms
// without fetching anything. Run it after `npm install`: npm run lock:complete
import { readFileSync, writeFileSync } from 'node:fs';

const OS = ['android', 'darwin', 'freebsd', 'linux', 'openharmony', 'win32', 'sunos', 'aix', 'netbsd', 'openbsd'];
const CPU = ['arm64', 'arm', 'x64', 'ia32', 'loong64', 'ppc64', 'riscv64', 's390x', 'wasm32'];

const path = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(path, 'utf8'));
const added = [];
for (const [location, entry] of Object.entries(lock.packages)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const base = location.slice(
      0,
      location.lastIndexOf('node_modules/') === 0 ? 0 : location.lastIndexOf('node_modules/'),
    );
    const candidates = [`${location}/node_modules/${name}`, `${base}node_modules/${name}`, `node_modules/${name}`];
    if (candidates.some((candidate) => lock.packages[candidate])) continue;
    const parts = name.split('/').pop().split('-');
    const os = OS.find((value) => parts.includes(value));
    const cpu = CPU.find((value) => parts.includes(value));
    if (!os && !cpu) continue; // not a platform binding: leave it to npm
    const stub = {
      version,
      dev: entry.dev,
      optional: true,
      ...(os ? { os: [os] } : {}),
      ...(cpu ? { cpu: [cpu] } : {}),
    };
    if (parts.includes('musl')) stub.libc = ['musl'];
    else if (parts.some((part) => part.startsWith('gnu'))) stub.libc = ['glibc'];
    if (!stub.dev) delete stub.dev;
    lock.packages[`node_modules/${name}`] = stub;
    added.push(`${name}@${version}`);
  }
}
lock.packages = Object.fromEntries(
  Object.entries(lock.packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))),
);
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
console.log(
  added.length ? `added ${added.length} platform stubs:\n  ${added.join('\n  ')}` : 'lock file already complete',
);
