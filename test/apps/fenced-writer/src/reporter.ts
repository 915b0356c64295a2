import { Injectable } from '@nestjs/common';
import { JsonLinesReporter } from '../../shared/src/json-lines-reporter.js';

/** What the process reports, one JSON line each on stdout, for the e2e test to read. */
export type Report =
  | { event: 'term-start'; token: string; leaseTransitions: number; scheme: string }
  | { event: 'term-end'; token: string | null; reason?: string }
  | { event: 'leader-changed'; holder: string | null }
  | { event: 'write'; token: string; writer: string; applied: boolean }
  | { event: 'write-error'; token: string; writer: string; message: string }
  | { event: 'stale-write-issued'; token: string; writer: string }
  | { event: 'stale-write'; token: string; writer: string; applied: boolean };

/** What the process reports, as one JSON line each. */
@Injectable()
export class Reporter extends JsonLinesReporter<Report> {
  constructor() {
    super('fenced-writer');
  }
}
