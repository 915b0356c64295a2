import { huntGroups } from './group-runner.js';

const usage = `npm run sim -- --group [--runs N] [--seed S] [--path P] [--max-fault-ms MS] [--max-faults K]
                        [--max-elections E] [--legacy-directory] [--no-blips] [--no-shrink] [--trace N]

Runs N seeded scenarios of spreading groups (default 50) and shrinks the
first failure; replay it with the --seed and --path it prints (and the same
flags). --legacy-directory models the member directory before issue 25
(its follow can die silently); --no-blips leaves out 403 blips;
--no-shrink reports the first failure as found.`;

function parse(argv: string[]): Record<string, string | true> {
  const args: Record<string, string | true> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new Error(`unexpected argument ${arg}\n${usage}`);
    const next = argv[i + 1];
    if (next === undefined || next.startsWith('--')) args[arg.slice(2)] = true;
    else args[arg.slice(2)] = argv[++i];
  }
  return args;
}

function integer(value: string | true | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed)) throw new Error(`not an integer: ${String(value)}\n${usage}`);
  return parsed;
}

const args = parse(process.argv.slice(2).filter((arg) => arg !== '--group'));
if (args.help) {
  console.log(usage);
  process.exit(0);
}
const started = performance.now();
const seed = args.seed === undefined ? Date.now() ^ (Math.random() * 2 ** 31) : integer(args.seed, 0);
const runs = integer(args.runs, 50);
console.log(
  `simulating ${runs} group run(s), seed ${seed}${typeof args.path === 'string' ? `, path ${args.path}` : ''}`,
);
let lastPrint = started;
let firstFailure: string | null = null;
let runsSoFar = 0;
const report = await huntGroups({
  runs,
  seed,
  ...(typeof args.path === 'string' ? { path: args.path } : {}),
  maxFaultMs: integer(args['max-fault-ms'], 60_000),
  maxFaults: integer(args['max-faults'], 30),
  maxElections: integer(args['max-elections'], 20),
  directory: args['legacy-directory'] === true ? 'legacy' : 'current',
  blips: args['no-blips'] !== true,
  shrink: args['no-shrink'] !== true,
  traceLines: integer(args.trace, 120),
  onRun: (_scenario, result) => {
    runsSoFar++;
    if (result.violation !== null && firstFailure === null) {
      firstFailure = `first violation in run ${runsSoFar}, after ${((performance.now() - started) / 1000).toFixed(1)}s`;
    }
    if (performance.now() - lastPrint < 10_000) return;
    lastPrint = performance.now();
    console.log(`  ... ${((performance.now() - started) / 1000) | 0}s elapsed, ${runsSoFar} run(s)`);
  },
});
const minutes = (performance.now() - started) / 60_000;
if (firstFailure !== null) console.log(firstFailure);
const hours = report.simulatedMs / 3_600_000;
console.log(
  `${report.runs} run(s), ${hours.toFixed(2)} simulated hours, ${report.terms} terms, ${report.quietRuns} quiet phases ` +
    `with ${report.handovers} handovers, ${report.steps} events in ${(minutes * 60).toFixed(1)}s`,
);
if (report.failure !== null) {
  console.log(`\nFAILED\n${report.failure}`);
  process.exit(1);
}
console.log('all invariants held');
process.exit(0);
