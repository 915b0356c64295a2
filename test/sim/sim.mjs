// Launcher for `npm run sim`: the compiled output lives under node_modules/.cache, outside this package's
// scope, so it needs its own package.json to be loaded as ESM.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const out = join(dirname(fileURLToPath(import.meta.url)), '../../node_modules/.cache/lease-sim');
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'package.json'), '{ "type": "module" }\n');
await import(pathToFileURL(join(out, 'test/sim/cli.js')).href);
