import { AppFleet, type AppProcess } from './app-processes.js';

/** A line reported by the fenced-writer app (test/apps/fenced-writer/src/reporter.ts). */
export interface WriterReport {
  event: 'term-start' | 'term-end' | 'leader-changed' | 'write' | 'write-error' | 'stale-write-issued' | 'stale-write';
  identity: string;
  at: bigint;
  token?: string | null;
  leaseTransitions?: number;
  scheme?: string;
  writer?: string;
  applied?: boolean;
  holder?: string | null;
  reason?: string;
  message?: string;
}

export type WriterProcess = AppProcess<WriterReport>;

/** fenced-writer processes (test/apps/fenced-writer). */
export class WriterFleet extends AppFleet<WriterReport> {
  constructor(env: Record<string, string>) {
    super('fenced-writer', env);
  }
}
