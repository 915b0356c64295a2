import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('./group-member-process.mjs', import.meta.url));

/** A line printed by group-member-process.mjs. */
export interface MemberEvent {
  identity: string;
  event: 'member' | 'campaigning' | 'started' | 'stopped' | 'error' | 'leaving' | 'exited';
  election?: string;
  reason?: string;
  token?: string;
  at: bigint;
}

/** A term of one election: [start, end) on CLOCK_MONOTONIC. */
export interface GroupTerm {
  election: string;
  identity: string;
  start: bigint;
  end: bigint | null;
  reason?: string;
}

interface Member {
  identity: string;
  child: ChildProcess;
  exited: Promise<number | null>;
  killedAt?: bigint;
}

/** Replicas of one spreading group in child processes, with their events in one ordered log. */
export class GroupFleet {
  readonly events: MemberEvent[] = [];
  readonly members: Member[] = [];
  private readonly waiters = new Set<() => void>();

  constructor(private readonly env: Record<string, string>) {}

  launch(identity: string, kubeconfig: string): Member {
    const child = spawn(process.execPath, [script], {
      env: { ...process.env, ...this.env, IDENTITY: identity, KUBECONFIG: kubeconfig },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const parsed = JSON.parse(line) as Omit<MemberEvent, 'at' | 'identity'> & { at: string };
      this.events.push({ ...parsed, identity, at: BigInt(parsed.at) });
      for (const wake of this.waiters) wake();
    });
    let stderr = '';
    child.stderr!.on('data', (chunk) => (stderr = (stderr + chunk).slice(-4000)));
    const exited = new Promise<number | null>((resolve) =>
      child.on('exit', (code) => {
        if (code !== 0 && code !== null && stderr) process.stderr.write(`[${identity}] ${stderr}\n`);
        for (const wake of this.waiters) wake();
        resolve(code);
      }),
    );
    const member = { identity, child, exited };
    this.members.push(member);
    return member;
  }

  kill(identity: string): bigint {
    const member = this.members.find((m) => m.identity === identity)!;
    member.killedAt = process.hrtime.bigint();
    member.child.kill('SIGKILL');
    return member.killedAt;
  }

  /** Every term so far; a term of a killed process ends at its kill, a running one has `end: null`. */
  terms(): GroupTerm[] {
    const terms: GroupTerm[] = [];
    const open = new Map<string, GroupTerm>();
    for (const event of this.events) {
      const key = `${event.identity}\n${event.election}`;
      if (event.event === 'started') {
        const term = { election: event.election!, identity: event.identity, start: event.at, end: null };
        open.set(key, term);
        terms.push(term);
      } else if (event.event === 'stopped' && open.has(key)) {
        Object.assign(open.get(key)!, { end: event.at, reason: event.reason });
        open.delete(key);
      }
    }
    for (const term of open.values()) {
      const killedAt = this.members.find((m) => m.identity === term.identity)?.killedAt;
      if (killedAt !== undefined) Object.assign(term, { end: killedAt, reason: 'killed' });
    }
    return terms;
  }

  /** Elections each live member leads now, by identity. */
  leading(): Map<string, string[]> {
    const live = new Set(
      this.members.filter((m) => m.child.exitCode === null && m.child.signalCode === null).map((m) => m.identity),
    );
    const result = new Map([...live].map((identity) => [identity, [] as string[]]));
    for (const term of this.terms())
      if (term.end === null && live.has(term.identity)) result.get(term.identity)!.push(term.election);
    return result;
  }

  /** Sorted loads of the live members, for example "4,4,4". */
  loads(): string {
    return [...this.leading().values()]
      .map((elections) => elections.length)
      .sort((a, b) => a - b)
      .join(',');
  }

  /** Resolves with the time `check()` first held (checked on every event), or rejects after `ms`. */
  waitFor(check: () => boolean, ms: number, what: string): Promise<bigint> {
    return new Promise((resolve, reject) => {
      const done = (outcome: () => void) => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        outcome();
      };
      const wake = () => {
        if (check()) done(() => resolve(process.hrtime.bigint()));
      };
      const timer = setTimeout(
        () => done(() => reject(new Error(`${what}: not within ${ms}ms; loads ${this.loads()}`))),
        ms,
      );
      this.waiters.add(wake);
      wake();
    });
  }

  async stopAll(): Promise<void> {
    for (const member of this.members) {
      if (member.child.exitCode === null && member.child.signalCode === null) member.child.kill('SIGKILL');
    }
    await Promise.all(this.members.map((member) => member.exited));
  }
}

/** Largest overlap in ms between two terms of the same election (0 when none overlap). */
export function maxElectionOverlapMs(terms: GroupTerm[]): number {
  let worst = 0n;
  const now = process.hrtime.bigint();
  for (let i = 0; i < terms.length; i++) {
    for (let j = i + 1; j < terms.length; j++) {
      const [a, b] = [terms[i]!, terms[j]!];
      if (a.election !== b.election) continue;
      const end = (a.end ?? now) < (b.end ?? now) ? (a.end ?? now) : (b.end ?? now);
      const start = a.start > b.start ? a.start : b.start;
      if (end - start > worst) worst = end - start;
    }
  }
  return Number(worst) / 1e6;
}
