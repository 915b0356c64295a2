import { appendFileSync } from 'node:fs';
import { Injectable } from '@nestjs/common';

/** One line of the replica's event log (read by the demo and the chaos checker). */
export interface TelemetryRecord {
  event:
    | 'term-start'
    | 'term-end'
    | 'work-begin'
    | 'work-end'
    | 'naive-begin'
    | 'naive-end'
    | 'leader-changed'
    | 'job-term-start'
    | 'job-term-end'
    | 'job-work-begin'
    | 'job-work-end';
  identity: string;
  /** CLOCK_MONOTONIC nanoseconds, comparable across processes on one machine. */
  at: string;
  [detail: string]: unknown;
}

/**
 * Appends leadership and leader-only work events as JSON lines to the file in
 * `EVENT_LOG`, if set. A real service would send these to its tracing system.
 */
@Injectable()
export class TelemetryService {
  private readonly path = process.env.EVENT_LOG;

  record(event: TelemetryRecord['event'], identity: string, details: Record<string, unknown> = {}): void {
    if (!this.path) return;
    const record: TelemetryRecord = { event, identity, at: process.hrtime.bigint().toString(), ...details };
    appendFileSync(this.path, `${JSON.stringify(record)}\n`);
  }
}
