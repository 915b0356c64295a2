import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../apps/dist/fenced-writer/src/main.js', import.meta.url));

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

/** A fenced-writer app process. */
export interface WriterProcess {
  identity: string;
  child: ChildProcess;
  /** Exit code, or the signal that ended it (Nest re-raises SIGTERM after its shutdown hooks). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  reports(event?: WriterReport['event']): WriterReport[];
}

/** Launches fenced-writer processes (build: `npm run build:sample`) and kills leftovers. */
export class WriterFleet {
  readonly processes: WriterProcess[] = [];
  private readonly all: WriterReport[] = [];

  constructor(private readonly env: Record<string, string>) {}

  launch(identity: string, kubeconfig: string): WriterProcess {
    const child = spawn(process.execPath, [main], {
      env: { ...process.env, ...this.env, IDENTITY: identity, KUBECONFIG: kubeconfig },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const own: WriterReport[] = [];
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let parsed: Omit<WriterReport, 'at'> & { at: string };
      try {
        parsed = JSON.parse(line);
      } catch {
        process.stderr.write(`[${identity}] ${line}\n`);
        return;
      }
      const report = { ...parsed, at: BigInt(parsed.at) };
      own.push(report);
      this.all.push(report);
    });
    let stderr = '';
    child.stderr!.on('data', (chunk) => (stderr = (stderr + chunk).slice(-8000)));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('exit', (code, signal) => {
        if (code && stderr) process.stderr.write(`[${identity}] exited ${code}: ${stderr}\n`);
        resolve({ code, signal });
      }),
    );
    const writer: WriterProcess = {
      identity,
      child,
      exited,
      reports: (event) => (event ? own.filter((report) => report.event === event) : [...own]),
    };
    this.processes.push(writer);
    return writer;
  }

  /** Every report of every process, in arrival order. */
  reports(event?: WriterReport['event']): WriterReport[] {
    return event ? this.all.filter((report) => report.event === event) : [...this.all];
  }

  async stopAll(): Promise<void> {
    for (const { child } of this.processes) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    await Promise.all(this.processes.map((writer) => writer.exited));
  }
}
