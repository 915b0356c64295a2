// Times `elector.isLeader` of the built package while leading an in-memory
// Lease, and prints `{"nsPerCall":[...]}`. Run in its own process by run.mjs
// so the harness's pipes and timers do not disturb the tight loop.
// Usage: node bench/isleader-cost.mjs [iterations] [runs]
import { LeaderElector, MemoryLeaseLock } from '../dist/esm/elector/index.js';

const iterations = Number(process.argv[2] ?? 5_000_000);
const runs = Number(process.argv[3] ?? 7);
const quiet = { log: () => undefined, warn: () => undefined, error: (message) => process.stderr.write(`${message}\n`) };

const elector = new LeaderElector({ lock: new MemoryLeaseLock('isleader-bench'), identity: 'bench', logger: quiet });
elector.start();
await elector.waitForLeadership();

let sink = 0;
const nsPerCall = [];
// Run 0 warms the JIT up and is not reported.
for (let run = 0; run <= runs; run++) {
  const started = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) if (elector.isLeader) sink++;
  const elapsed = process.hrtime.bigint() - started;
  if (run > 0) nsPerCall.push(Number(elapsed) / iterations);
}
// Every call must have seen leadership, or we timed something else.
const expected = iterations * (runs + 1);
await elector.stop();
process.stdout.write(`${JSON.stringify({ nsPerCall, iterations, allLeader: sink === expected })}\n`);
