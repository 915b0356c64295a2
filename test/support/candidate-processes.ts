import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('./candidate-process.mjs', import.meta.url));

/** A line printed by candidate-process.mjs. */
export interface CandidateEvent {
  identity: string;
  event: 'candidate' | 'started' | 'stopped' | 'new-leader' | 'exited' | 'follower-mode' | 'error';
  at: bigint;
  token?: string;
  reason?: string;
}

/** A candidate running in a child process. */
export interface CandidateProcess {
  identity: string;
  child: ChildProcess;
  exited: Promise<number | null>;
}

/** Launches candidates in child processes and collects their events in one ordered log. */
export class CandidateFleet {
  readonly events: CandidateEvent[] = [];
  readonly candidates: CandidateProcess[] = [];

  constructor(private readonly env: Record<string, string>) {}

  /** Starts our candidate, or with `executable` another one speaking the same protocol (the client-go reference). */
  launch(
    identity: string,
    kubeconfig: string,
    executable?: string,
    env: Record<string, string> = {},
  ): CandidateProcess {
    const child = spawn(executable ?? process.execPath, executable ? [] : [script], {
      env: { ...process.env, ...this.env, ...env, IDENTITY: identity, KUBECONFIG: kubeconfig },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const parsed = JSON.parse(line) as Omit<CandidateEvent, 'at' | 'identity'> & { at: string };
      this.events.push({ ...parsed, identity, at: BigInt(parsed.at) });
    });
    let stderr = '';
    child.stderr!.on('data', (chunk) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) =>
      child.on('exit', (code) => {
        if (code !== 0 && code !== null && stderr) process.stderr.write(`[${identity}] ${stderr}\n`);
        resolve(code);
      }),
    );
    const candidate = { identity, child, exited };
    this.candidates.push(candidate);
    return candidate;
  }

  /** Identities whose latest started event has no later stopped event and whose process is alive. */
  leaders(): string[] {
    return this.candidates
      .filter((candidate) => candidate.child.exitCode === null && candidate.child.signalCode === null)
      .map((candidate) => candidate.identity)
      .filter((identity) => {
        const own = this.events.filter((event) => event.identity === identity);
        const lastStart = own.findLastIndex((event) => event.event === 'started');
        return lastStart >= 0 && !own.slice(lastStart).some((event) => event.event === 'stopped');
      });
  }

  /**
   * Terms as [start, end) intervals on CLOCK_MONOTONIC. A term of a killed
   * process ends at the kill time passed in `killedAt`.
   */
  terms(killedAt: Map<string, bigint> = new Map()): { identity: string; start: bigint; end: bigint; token: string }[] {
    const terms: { identity: string; start: bigint; end: bigint; token: string }[] = [];
    const open = new Map<string, { start: bigint; token: string }>();
    for (const event of this.events) {
      if (event.event === 'started') open.set(event.identity, { start: event.at, token: event.token ?? '-1' });
      if (event.event === 'stopped' && open.has(event.identity)) {
        const { start, token } = open.get(event.identity)!;
        terms.push({ identity: event.identity, start, end: event.at, token });
        open.delete(event.identity);
      }
    }
    for (const [identity, { start, token }] of open) {
      terms.push({ identity, start, end: killedAt.get(identity) ?? process.hrtime.bigint(), token });
    }
    return terms.sort((a, b) => (a.start < b.start ? -1 : 1));
  }

  async stopAll(): Promise<void> {
    for (const candidate of this.candidates) {
      if (candidate.child.exitCode === null && candidate.child.signalCode === null) candidate.child.kill('SIGKILL');
    }
    await Promise.all(this.candidates.map((candidate) => candidate.exited));
  }
}

/** Largest overlap, in ms, between any two terms (0 when terms never overlap). */
export function maxOverlapMs(terms: { start: bigint; end: bigint }[]): number {
  let worst = 0n;
  for (let i = 0; i < terms.length; i++) {
    for (let j = i + 1; j < terms.length; j++) {
      const overlap =
        (terms[i].end < terms[j].end ? terms[i].end : terms[j].end) -
        (terms[i].start > terms[j].start ? terms[i].start : terms[j].start);
      if (overlap > worst) worst = overlap;
    }
  }
  return Number(worst) / 1e6;
}
