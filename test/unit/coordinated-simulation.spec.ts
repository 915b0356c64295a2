import { describe, expect, it } from '@jest/globals';
import { hunt } from '../sim/runner.js';

// Coordinated election with a simulated coordinator (test/sim/coordinator.ts): preemptions drain leader work.
// SIM_SEED / SIM_RUNS explore others (see test/sim/README.md).
const seed = Number(process.env.SIM_SEED ?? 20261213);
const runs = Number(process.env.SIM_RUNS ?? 30);

describe('deterministic simulation of coordinated election (issue 25, item 2)', () => {
  it(`keeps every invariant over ${runs} seeded scenarios with preemptions`, async () => {
    const report = await hunt({ runs, seed, maxFaultMs: 180_000, maxFaults: 40, traceLines: 60, coordinated: true });
    expect(report.failure).toBeNull();
    expect(report.runs).toBe(runs);
    expect(report.preemptions).toBeGreaterThan(runs);
    // Most runs end with a better candidate joining in the quiet phase; it led within its bound.
    expect(report.quietPreemptions).toBeGreaterThan(runs / 2);
    expect(report.work!.drained).toBeGreaterThan(0);
  }, 120_000);
});
