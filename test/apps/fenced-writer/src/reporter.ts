import { Injectable } from '@nestjs/common';

/** What the process reports, one JSON line each on stdout, for the e2e test to read. */
export type Report =
  | { event: 'term-start'; token: string; leaseTransitions: number; scheme: string }
  | { event: 'term-end'; token: string | null; reason?: string }
  | { event: 'leader-changed'; holder: string | null }
  | { event: 'write'; token: string; writer: string; applied: boolean }
  | { event: 'write-error'; token: string; writer: string; message: string }
  | { event: 'stale-write-issued'; token: string; writer: string }
  | { event: 'stale-write'; token: string; writer: string; applied: boolean };

@Injectable()
export class Reporter {
  readonly identity = process.env.IDENTITY ?? 'fenced-writer';

  emit(report: Report): void {
    // CLOCK_MONOTONIC, comparable across processes on one machine.
    const line = { ...report, identity: this.identity, at: process.hrtime.bigint().toString() };
    process.stdout.write(`${JSON.stringify(line)}\n`);
  }
}
