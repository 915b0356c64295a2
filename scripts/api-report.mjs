// The API report of each entry point (@microsoft/api-extractor), in api/<entry>.api.md.
//   node scripts/api-report.mjs           fails when the public API differs from the committed reports
//   node scripts/api-report.mjs --update  rewrites the reports; commit them with the change
// Reads the declarations of dist/esm, so run `npm run build` first (npm run lint does).
import { Extractor, ExtractorConfig } from '@microsoft/api-extractor';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
/** Entry point (as in the exports map) → its declarations and report name. */
const ENTRIES = [
  { name: 'nestjs-lease-election', types: 'dist/esm/index.d.ts' },
  { name: 'nestjs-lease-election-elector', types: 'dist/esm/elector/index.d.ts' },
  { name: 'nestjs-lease-election-terminus', types: 'dist/esm/health/index.d.ts' },
  { name: 'nestjs-lease-election-testing', types: 'dist/esm/testing/index.d.ts' },
];
const update = process.argv.includes('--update');
const base = ExtractorConfig.loadFile(join(root, 'api', 'api-extractor.base.json'));
let failed = 0;
for (const entry of ENTRIES) {
  const config = ExtractorConfig.prepare({
    configObject: {
      ...base,
      mainEntryPointFilePath: join(root, entry.types),
      apiReport: { ...base.apiReport, reportFileName: `${entry.name}.api.md` },
    },
    configObjectFullPath: join(root, 'api', 'api-extractor.base.json'),
    packageJsonFullPath: join(root, 'package.json'),
  });
  const result = Extractor.invoke(config, { localBuild: update, showVerboseMessages: false });
  if (result.apiReportChanged && !update) {
    console.error(
      `api/${entry.name}.api.md: the public API of ${entry.types} changed. If that is intended, run ` +
        '`npm run api:update` and commit the report (and a CHANGELOG line).',
    );
    failed++;
  } else if (result.errorCount > 0) {
    failed++;
  }
}
process.exit(failed > 0 ? 1 : 0);
