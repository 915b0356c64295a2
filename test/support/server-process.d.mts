import type { ChildProcess } from 'node:child_process';

/** A free TCP port on 127.0.0.1 (closed again before it is returned). */
export function freeLoopbackPort(): Promise<number>;

/** First `name` found in `dirs`, then on PATH; undefined when none exists. */
export function findExecutable(name: string, dirs?: string[]): string | undefined;

/** uid and gid of a local account, from /etc/passwd; undefined when it does not exist. */
export function localAccount(name: string): { uid: number; gid: number } | undefined;

/** A server child process that cannot outlive the test process. */
export interface ServerProcess {
  child: ChildProcess;
  logPath: string;
  /** True until the process has exited. */
  running(): boolean;
  /** The last 4 KB of the server's log, for error messages. */
  logTail(): string;
  /** Sends `signal`, SIGKILLs after `timeoutMs` (10 s), and removes the folder. Idempotent. */
  stop(signal: NodeJS.Signals, timeoutMs?: number): Promise<void>;
}

export function startServerProcess(options: {
  name: string;
  command: string;
  args: string[];
  dir: string;
  /** Run as this account (e.g. `postgres`, which refuses root). */
  account?: { uid: number; gid: number };
}): ServerProcess;
