import { describe, expect, it } from '@jest/globals';
import { hunt } from '../sim/runner.js';

// Leader-only work in the simulated world (test/sim/work.ts): nested gated calls keep their outer call's term.
// SIM_SEED / SIM_RUNS explore others (see test/sim/README.md).
const seed = Number(process.env.SIM_SEED ?? 20261213);
const runs = Number(process.env.SIM_RUNS ?? 25);

describe('deterministic simulation with leader-only work (issue 25, item 1)', () => {
  it(`keeps every invariant, the work ones included, over ${runs} seeded scenarios`, async () => {
    const report = await hunt({ runs, seed, maxFaultMs: 180_000, maxFaults: 40, traceLines: 60, work: true });
    expect(report.failure).toBeNull();
    expect(report.runs).toBe(runs);
    const work = report.work!;
    expect(work.jobs).toBeGreaterThan(runs * 50);
    expect(work.writes).toBeGreaterThan(runs * 50);
    // The case item 1 is about happened: a node led again while calls of its earlier term still ran.
    expect(work.refusedUnderLaterTerm).toBeGreaterThan(0);
    expect(work.laterTermJobs).toBeGreaterThan(0);
  }, 120_000);
});
