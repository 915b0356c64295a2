import { Injectable } from '@nestjs/common';
import { JsonLinesReporter } from '../../shared/src/json-lines-reporter.js';

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

/** What the process reports, as one JSON line each. */
@Injectable()
export class Reporter extends JsonLinesReporter<Report> {
  constructor() {
    super('queue-worker');
  }
}
