import { hunt } from './runner.js';

// Spreading groups have a CLI of their own (group-cli.ts), which exits when done.
if (process.argv.includes('--group')) await import('./group-cli.js');

const usage = `npm run sim -- [--runs N] [--seed S] [--path P] [--max-fault-ms MS] [--max-faults K] [--logger-faults] [--trace N] [--work] [--coordinated]

Runs N seeded scenarios (default 100) and shrinks the first failure to a
minimal one; replay it with the --seed and --path it prints (and the same flags).
--work: leader-only work on every node (nested gated calls, fenced writes);
--coordinated: coordinated election with a coordinator, drains and preemptions (implies --work).`;

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

const args = parse(process.argv.slice(2));
if (args.help) {
  console.log(usage);
  process.exit(0);
}
const started = performance.now();
const seed = args.seed === undefined ? Date.now() ^ (Math.random() * 2 ** 31) : integer(args.seed, 0);
const runs = integer(args.runs, 100);
console.log(`simulating ${runs} run(s), seed ${seed}${typeof args.path === 'string' ? `, path ${args.path}` : ''}`);
let lastPrint = started;
let firstFailure: string | null = null;
let runsSoFar = 0;
let failovers = 0;
let slowestFailover = 0;
let slowestPreemption = 0;
const report = await hunt({
  runs,
  seed,
  ...(typeof args.path === 'string' ? { path: args.path } : {}),
  maxFaultMs: integer(args['max-fault-ms'], 180_000),
  maxFaults: integer(args['max-faults'], 40),
  loggerFaults: args['logger-faults'] === true,
  work: args.work === true,
  coordinated: args.coordinated === true,
  traceLines: integer(args.trace, 120),
  onRun: (_scenario, result) => {
    runsSoFar++;
    if (result.violation !== null && firstFailure === null) {
      firstFailure = `first violation in run ${runsSoFar}, after ${((performance.now() - started) / 1000).toFixed(1)}s`;
    }
    if (result.failoverMs !== null && firstFailure === null) {
      failovers++;
      slowestFailover = Math.max(slowestFailover, result.failoverMs / result.failoverBoundMs!);
    }
    if (result.preemptMs !== null)
      slowestPreemption = Math.max(slowestPreemption, result.preemptMs / result.preemptBoundMs!);
    if (performance.now() - lastPrint < 10_000) return;
    lastPrint = performance.now();
    console.log(`  ... ${((performance.now() - started) / 1000) | 0}s elapsed`);
  },
});
const minutes = (performance.now() - started) / 60_000;
console.log(
  `${failovers} quiet-phase failover(s) before any violation; the slowest took ${(slowestFailover * 100).toFixed(0)}% of its bound`,
);
if (firstFailure !== null) console.log(firstFailure);
if (report.work !== null) {
  console.log(`leader work: ${JSON.stringify(report.work)}`);
  if (args.coordinated === true) {
    console.log(
      `${report.preemptions} preemption(s); ${report.quietPreemptions} quiet-phase preemption(s) led in time, ` +
        `the slowest in ${(slowestPreemption * 100).toFixed(0)}% of its bound`,
    );
  }
}
const hours = report.simulatedMs / 3_600_000;
console.log(
  `${report.runs} run(s), ${hours.toFixed(2)} simulated hours, ${report.terms} terms, ${report.steps} events ` +
    `in ${(minutes * 60).toFixed(1)}s (${(hours / minutes).toFixed(1)} simulated hours per minute)`,
);
if (report.failure !== null) {
  console.log(`\nFAILED\n${report.failure}`);
  process.exit(1);
}
console.log('all invariants held');
