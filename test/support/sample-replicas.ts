import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freeLoopbackPort } from './server-process.mjs';

const main = fileURLToPath(new URL('../../sample/dist/main.js', import.meta.url));

/** A line of the sample app's EVENT_LOG. */
export interface SampleEvent {
  event: 'term-start' | 'term-end' | 'work-begin' | 'work-end' | 'leader-changed';
  identity: string;
  at: bigint;
  token?: number;
  reason?: string;
  holder?: string | null;
}

/** A running replica of the sample app (sample/dist/main.js, a real Nest HTTP app). */
export interface SampleReplica {
  name: string;
  port: number;
  child: ChildProcess;
  exited: Promise<number | null>;
  events(): SampleEvent[];
  get(path: string): Promise<{ status: number; text: string }>;
  /** Value of one sample of a Prometheus metric, or undefined when absent. */
  metric(name: string, labels?: Record<string, string>): Promise<number | undefined>;
  output(): string;
}

/** Parses Prometheus text format and finds one sample. */
export function findSample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(\{([^}]*)\})?\s+(\S+)$/.exec(line.trim());
    if (!match || match[1] !== name) continue;
    const present = Object.fromEntries(
      [...(match[3] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(([, key, value]) => [key, value]),
    );
    if (Object.entries(labels).every(([key, value]) => present[key] === value)) return Number(match[4]);
  }
  return undefined;
}

/** Launches sample replicas and kills leftovers. */
export class SampleFleet {
  readonly replicas: SampleReplica[] = [];
  private readonly dir = mkdtempSync(join(tmpdir(), 'nle-sample-'));

  constructor(private readonly env: Record<string, string>) {}

  async launch(name: string, kubeconfig: string, env: Record<string, string> = {}): Promise<SampleReplica> {
    const port = await freeLoopbackPort();
    const eventLog = join(this.dir, `${name}.jsonl`);
    const child = spawn(process.execPath, [main], {
      env: {
        ...process.env,
        ...this.env,
        ...env,
        KUBECONFIG: kubeconfig,
        POD_NAME: name,
        PORT: String(port),
        HOST: '127.0.0.1',
        EVENT_LOG: eventLog,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const collect = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-20_000));
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const base = `http://127.0.0.1:${port}`;
    const replica: SampleReplica = {
      name,
      port,
      child,
      exited,
      events: () => {
        try {
          return readFileSync(eventLog, 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((line) => {
              const parsed = JSON.parse(line);
              return { ...parsed, at: BigInt(parsed.at) } as SampleEvent;
            });
        } catch {
          return [];
        }
      },
      get: async (path) => {
        const response = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(2000) });
        return { status: response.status, text: await response.text() };
      },
      metric: async (metricName, labels) => findSample((await replica.get('/metrics')).text, metricName, labels),
      output: () => output,
    };
    this.replicas.push(replica);
    return replica;
  }

  async stopAll(): Promise<void> {
    for (const { child } of this.replicas) {
      if (child.signalCode === 'SIGSTOP') child.kill('SIGCONT');
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    await Promise.all(this.replicas.map((replica) => replica.exited));
  }
}
