import { Injectable } from '@nestjs/common';

/** What the process reports, one JSON line each on stdout, for the e2e test to read. */
export type Report =
  | { event: 'term-start'; token: string }
  | { event: 'term-end'; token: string | null; reason?: string }
  | { event: 'leader-changed'; holder: string | null }
  | { event: 'worker-running' }
  | { event: 'worker-paused' }
  | { event: 'job-active'; jobId: string }
  | { event: 'job-start'; jobId: string; token: string; attempt: number }
  | { event: 'job-end'; jobId: string; token: string; applied: boolean }
  | { event: 'job-aborted'; jobId: string; token: string }
  | { event: 'job-failed'; jobId: string; message: string }
  | { event: 'job-completed'; jobId: string }
  | { event: 'late-result-issued'; jobId: string; token: string }
  | { event: 'late-result'; jobId: string; token: string; applied: boolean };

@Injectable()
export class Reporter {
  readonly identity = process.env.IDENTITY ?? 'queue-worker';

  emit(report: Report): void {
    // CLOCK_MONOTONIC, comparable across processes on one machine.
    const line = { ...report, identity: this.identity, at: process.hrtime.bigint().toString() };
    process.stdout.write(`${JSON.stringify(line)}\n`);
  }
}
