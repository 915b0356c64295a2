import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** Test apps under test/apps, built by `npm run build:sample`. */
export type TestApp = 'fenced-writer' | 'queue-worker';

/** A JSON line an app reports on stdout; `at` is CLOCK_MONOTONIC, comparable across processes. */
export interface AppReport {
  event: string;
  identity: string;
  at: bigint;
}

/** One running app process. */
export interface AppProcess<R extends AppReport> {
  identity: string;
  child: ChildProcess;
  /** Exit code, or the signal that ended it (Nest re-raises SIGTERM after its shutdown hooks). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  reports(event?: R['event']): R[];
}

/** Launches processes of one test app and kills leftovers. */
export class AppFleet<R extends AppReport> {
  readonly processes: AppProcess<R>[] = [];
  private readonly all: R[] = [];
  private readonly main: string;

  constructor(
    app: TestApp,
    private readonly env: Record<string, string>,
  ) {
    this.main = fileURLToPath(new URL(`../apps/dist/${app}/src/main.js`, import.meta.url));
  }

  launch(identity: string, kubeconfig: string, env: Record<string, string> = {}): AppProcess<R> {
    const child = spawn(process.execPath, [this.main], {
      env: { ...process.env, ...this.env, ...env, IDENTITY: identity, KUBECONFIG: kubeconfig },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const own: R[] = [];
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let parsed: Omit<R, 'at'> & { at: string };
      try {
        parsed = JSON.parse(line);
      } catch {
        process.stderr.write(`[${identity}] ${line}\n`);
        return;
      }
      const report = { ...parsed, at: BigInt(parsed.at) } as unknown as R;
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
    const app: AppProcess<R> = {
      identity,
      child,
      exited,
      reports: (event) => (event ? own.filter((report) => report.event === event) : [...own]),
    };
    this.processes.push(app);
    return app;
  }

  /** Every report of every process, in arrival order. */
  reports(event?: R['event']): R[] {
    return event ? this.all.filter((report) => report.event === event) : [...this.all];
  }

  async stopAll(): Promise<void> {
    for (const { child } of this.processes) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    await Promise.all(this.processes.map((app) => app.exited));
  }
}
