import fc from 'fast-check';
import type { DirectoryModel } from './faulty-member-directory.js';
import { groupScenarioArb, type GroupScenario, type GroupScenarioOptions } from './group-scenario.js';
import { runGroupScenario, type GroupRunResult } from './group-world.js';

/** Options of a hunt over spreading groups. */
export interface GroupHuntOptions extends GroupScenarioOptions {
  runs: number;
  /** fast-check seed; a failure prints the seed and path that replay it. */
  seed?: number;
  /** Replays one shrunk counterexample (with its seed). */
  path?: string;
  /** Which member directory to model (default `current`). */
  directory?: DirectoryModel;
  /** Lines of trace kept in the failure message. */
  traceLines?: number;
  /** Shrink a failure to a minimal scenario (default true; slow: minutes). */
  shrink?: boolean;
  /** Called after every run. */
  onRun?: (scenario: GroupScenario, result: GroupRunResult) => void;
}

/** Totals of a hunt. */
export interface GroupHuntReport {
  runs: number;
  simulatedMs: number;
  steps: number;
  terms: number;
  /** Runs that reached their quiet phase, and the handovers made in it. */
  quietRuns: number;
  handovers: number;
  /** fast-check's report on failure (seed, path, counterexample and our trace), else null. */
  failure: string | null;
}

/** A violation, carrying the trace of its run. */
export class GroupSimulationFailure extends Error {
  constructor(result: GroupRunResult, traceLines: number) {
    const trace = result.trace.split('\n').slice(-traceLines).join('\n');
    super(`${result.violation}\n--- last events (virtual ms) ---\n${trace}`);
    this.name = 'GroupSimulationFailure';
  }
}

/** Runs group scenarios from fast-check, shrinking the first failing one to a minimal seed/path. */
export async function huntGroups(options: GroupHuntOptions): Promise<GroupHuntReport> {
  const report: GroupHuntReport = {
    runs: 0,
    simulatedMs: 0,
    steps: 0,
    terms: 0,
    quietRuns: 0,
    handovers: 0,
    failure: null,
  };
  const world = options.directory === undefined ? {} : { directory: options.directory };
  const property = fc.asyncProperty(groupScenarioArb(options), async (scenario) => {
    const result = await runGroupScenario(scenario, world);
    report.runs++;
    report.simulatedMs += result.simulatedMs;
    report.steps += result.steps;
    report.terms += result.terms;
    report.handovers += result.handovers;
    if (result.quietMs !== null) report.quietRuns++;
    options.onRun?.(scenario, result);
    if (result.violation !== null) throw new GroupSimulationFailure(result, options.traceLines ?? 80);
  });
  const details = await fc.check(property, {
    numRuns: options.runs,
    ...(options.seed === undefined ? {} : { seed: options.seed }),
    ...(options.path === undefined ? {} : { path: options.path }),
    endOnFailure: options.shrink === false,
  });
  if (details.failed) {
    const error =
      details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
    report.failure = `${fc.defaultReportMessage(details) ?? 'failed'}\n\n${error}`;
  }
  return report;
}
