import fc from 'fast-check';
import { scenarioArb, type Scenario, type ScenarioOptions } from './scenario.js';
import type { WorkStats } from './work.js';
import { runScenario, type RunResult } from './world.js';

/** Options of a hunt. */
export interface HuntOptions extends ScenarioOptions {
  runs: number;
  /** fast-check seed; a failure prints the seed and path that replay it. */
  seed?: number;
  /** Replays one shrunk counterexample (with its seed). */
  path?: string;
  /** Lines of trace kept in the failure message. */
  traceLines?: number;
  /** Called after every run. */
  onRun?: (scenario: Scenario, result: RunResult) => void;
}

/** Totals of a hunt. */
export interface HuntReport {
  runs: number;
  simulatedMs: number;
  steps: number;
  terms: number;
  /** Runs that staged a quiet-phase leader crash and saw a new leader in time. */
  failovers: number;
  /** Leader work totals over all runs (runs with work only), else null. */
  work: WorkStats | null;
  /** Coordinated runs: preemptions the coordinator made; quiet-phase preemptions whose preferred node led in time. */
  preemptions: number;
  quietPreemptions: number;
  /** fast-check's report on failure (seed, path, counterexample and our trace), else null. */
  failure: string | null;
}

/** A violation, carrying the trace of its run. */
export class SimulationFailure extends Error {
  constructor(
    readonly result: RunResult,
    traceLines: number,
  ) {
    const trace = result.trace.split('\n').slice(-traceLines).join('\n');
    super(`${result.violation}\n--- last events (virtual ms) ---\n${trace}`);
    this.name = 'SimulationFailure';
  }
}

/** Runs scenarios from fast-check, shrinking the first failing one to a minimal seed/path. */
export async function hunt(options: HuntOptions): Promise<HuntReport> {
  const report: HuntReport = {
    runs: 0,
    simulatedMs: 0,
    steps: 0,
    terms: 0,
    failovers: 0,
    work: null,
    preemptions: 0,
    quietPreemptions: 0,
    failure: null,
  };
  const property = fc.asyncProperty(scenarioArb(options), async (scenario) => {
    const result = await runScenario(scenario);
    report.runs++;
    report.simulatedMs += result.simulatedMs;
    report.steps += result.steps;
    report.terms += result.terms;
    if (result.failoverMs !== null) report.failovers++;
    if (result.work && report.work === null) report.work = { ...result.work };
    else if (result.work)
      for (const key of Object.keys(result.work) as (keyof WorkStats)[]) report.work![key] += result.work[key];
    report.preemptions += result.coordinator?.preemptions ?? 0;
    if (result.preemptMs !== null) report.quietPreemptions++;
    options.onRun?.(scenario, result);
    if (result.violation !== null) throw new SimulationFailure(result, options.traceLines ?? 80);
  });
  const details = await fc.check(property, {
    numRuns: options.runs,
    ...(options.seed === undefined ? {} : { seed: options.seed }),
    ...(options.path === undefined ? {} : { path: options.path }),
    endOnFailure: false,
  });
  if (details.failed) {
    const error =
      details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
    report.failure = `${fc.defaultReportMessage(details) ?? 'failed'}\n\n${error}`;
  }
  return report;
}
