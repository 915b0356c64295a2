// Building blocks of the benchmark: candidate fleets whose events carry
// CLOCK_MONOTONIC timestamps, child-process cleanup, audit-log counting and
// statistics. Nothing here knows either elector's internals: candidates are
// black boxes that print JSON event lines.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** CLOCK_MONOTONIC now, in ns; the same clock as the candidates' `at`. */
export const now = () => process.hrtime.bigint();
/** Nanoseconds between two `at` values, as milliseconds. */
export const msBetween = (from, to) => Number(to - from) / 1e6;
export const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ------------------------------------------------------------- cleanup

const live = new Set();
const pidFile = join(tmpdir(), `nle-bench-${process.pid}.pids`);
let watchdogStarted = false;

function writePids() {
  writeFileSync(pidFile, [...live].map((child) => child.pid).join('\n'));
}

/**
 * The control plane's watchdog SIGKILLs every pid in our pid file once this
 * process is gone, even after a SIGKILL of the harness, so no candidate keeps
 * polling an apiserver that no longer exists.
 */
function ensureWatchdog() {
  if (watchdogStarted) return;
  watchdogStarted = true;
  writePids();
  const watchdog = spawn(
    process.execPath,
    [join(here, '..', 'test', 'support', 'control-plane', 'watchdog.mjs'), String(process.pid), pidFile],
    { stdio: 'ignore', detached: true },
  );
  watchdog.unref();
}

/** SIGKILLs every candidate still running. Synchronous, so it works in an 'exit' handler. */
export function killAllCandidates() {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}

// -------------------------------------------------------------- fleets

/** How to start one implementation's candidate. */
export function implementation(name, command, args = []) {
  return { name, command, args };
}

/**
 * Candidates of one implementation on one Lease. Every printed line becomes
 * an event `{ candidate, event, at: bigint, identity?, reason? }`, where
 * `candidate` is the printing process and `identity` (new-leader only) the
 * leader it saw.
 */
export class Fleet {
  constructor(impl, env) {
    this.impl = impl;
    this.env = env;
    this.events = [];
    this.candidates = [];
    this.waiters = new Set();
  }

  /** Starts a candidate as `user` (its own kubeconfig, so the audit log tells candidates apart). */
  launch(identity, user, kubeconfig) {
    ensureWatchdog();
    const child = spawn(this.impl.command, this.impl.args, {
      env: { ...process.env, ...this.env, IDENTITY: identity, KUBECONFIG: kubeconfig },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const candidate = { identity, user, child, launchedAt: now(), stderr: '' };
    live.add(child);
    writePids();
    candidate.exited = new Promise((resolve) =>
      child.on('exit', (code, signal) => {
        live.delete(child);
        writePids();
        this.notify();
        resolve({ code, signal });
      }),
    );
    createInterface({ input: child.stdout }).on('line', (line) => {
      let parsed;
      try {
        parsed = JSON.parse(line);
      } catch {
        return; // not an event line
      }
      this.events.push({ ...parsed, candidate: identity, at: BigInt(parsed.at) });
      this.notify();
    });
    // Keep only a tail: client-go logs every failed acquire, and it only matters when a trial fails.
    child.stderr.on('data', (chunk) => (candidate.stderr = (candidate.stderr + chunk).slice(-4000)));
    this.candidates.push(candidate);
    return candidate;
  }

  alive() {
    return this.candidates.filter(({ child }) => child.exitCode === null && child.signalCode === null);
  }

  /**
   * Resolves with the first truthy value of `check()`, evaluated now and after
   * every event or exit, or with null after `timeoutMs`.
   */
  waitUntil(check, timeoutMs) {
    const first = check();
    if (first) return Promise.resolve(first);
    return new Promise((resolve) => {
      const waiter = () => {
        const value = check();
        if (!value) return;
        finish(value);
      };
      const finish = (value) => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
        resolve(value);
      };
      const timer = setTimeout(() => finish(null), timeoutMs);
      this.waiters.add(waiter);
    });
  }

  notify() {
    for (const waiter of [...this.waiters]) waiter();
  }

  /** First event matching `predicate`. */
  find(predicate) {
    return this.events.find(predicate);
  }

  /** Identities leading now by their events (a started without a later stopped), among live processes. */
  leaders() {
    const leading = new Set();
    for (const event of this.events) {
      if (event.event === 'started') leading.add(event.candidate);
      if (event.event === 'stopped' || event.event === 'exited') leading.delete(event.candidate);
    }
    const alive = new Set(this.alive().map((candidate) => candidate.identity));
    return [...leading].filter((identity) => alive.has(identity));
  }

  /**
   * Most candidates leading at once by their started/stopped events, among
   * events that pass `include` (all by default). A SIGKILLed leader never
   * prints stopped, so leave its later events out rather than count it.
   */
  maxConcurrentLeaders(include = () => true) {
    const points = [];
    for (const event of this.events) {
      if (!include(event)) continue;
      if (event.event === 'started') points.push({ at: event.at, delta: 1 });
      if (event.event === 'stopped') points.push({ at: event.at, delta: -1 });
    }
    points.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.delta - b.delta));
    let current = 0;
    let max = 0;
    for (const point of points) {
      current += point.delta;
      max = Math.max(max, current);
    }
    return max;
  }

  /** The leader every live candidate last reported with new-leader, if they all agree. */
  agreedLeader() {
    const alive = this.alive();
    if (alive.length === 0) return null;
    const latest = new Map();
    for (const event of this.events) if (event.event === 'new-leader') latest.set(event.candidate, event.identity);
    const views = alive.map((candidate) => latest.get(candidate.identity));
    const leader = views[0];
    return leader && views.every((view) => view === leader) ? leader : null;
  }

  /** Stderr tails of every candidate, for a failed trial's report. */
  diagnostics() {
    return this.candidates
      .filter((candidate) => candidate.stderr.trim())
      .map((candidate) => `--- ${candidate.identity} (stderr tail)\n${candidate.stderr.trim().slice(-1200)}`)
      .join('\n');
  }

  /** SIGKILLs every candidate and waits for them to exit. */
  async kill() {
    for (const { child } of this.alive()) child.kill('SIGKILL');
    await Promise.all(this.candidates.map((candidate) => candidate.exited));
  }
}

// ----------------------------------------------------------- audit log

/**
 * The apiserver's audit log (JSON lines, Metadata level, leases only). Reads
 * only what was appended since an offset, so a long run stays cheap.
 */
export class AuditLog {
  constructor(path) {
    this.path = path;
  }

  offset() {
    return statSync(this.path, { throwIfNoEntry: false })?.size ?? 0;
  }

  /** Parsed events written after `from` (a byte offset from {@link offset}). */
  readSince(from) {
    const size = this.offset();
    if (size <= from) return [];
    const buffer = Buffer.alloc(size - from);
    const fd = openSync(this.path, 'r');
    try {
      readSync(fd, buffer, 0, buffer.length, from);
    } finally {
      closeSync(fd);
    }
    const events = [];
    for (const line of buffer.toString('utf8').split('\n')) {
      if (!line.trim()) continue;
      try {
        events.push(JSON.parse(line));
      } catch {
        // a line still being written
      }
    }
    return events;
  }
}

/**
 * Counts requests by user and verb. A request is one auditID (a watch logs
 * ResponseStarted and later ResponseComplete; both are one request). Only
 * requests on `lease` count, plus name-less list/watch calls in its
 * namespace, and only those received within [fromMs, toMs) of wall time.
 *
 * @returns {Map<string, {verbs: Record<string, number>, codes: Record<string, number>}>}
 */
export function countRequests(events, { users, lease, namespace = 'default', fromMs, toMs }) {
  const seen = new Set();
  const byUser = new Map([...users].map((user) => [user, { verbs: {}, codes: {} }]));
  for (const event of events) {
    const ref = event.objectRef;
    const user = event.user?.username;
    if (!ref || ref.resource !== 'leases' || !byUser.has(user) || seen.has(event.auditID)) continue;
    if (ref.namespace !== namespace) continue;
    if (ref.name ? ref.name !== lease : !['list', 'watch'].includes(event.verb)) continue;
    const received = Date.parse(event.requestReceivedTimestamp);
    if (received < fromMs || received >= toMs) continue;
    seen.add(event.auditID);
    const counts = byUser.get(user);
    counts.verbs[event.verb] = (counts.verbs[event.verb] ?? 0) + 1;
    const code = event.responseStatus?.code;
    if (code !== undefined) counts.codes[code] = (counts.codes[code] ?? 0) + 1;
  }
  return byUser;
}

/**
 * Watches of `users` on `lease` (by name, or name-less in its namespace) that
 * have started and not yet completed: long-lived connections a requests-per-
 * minute count does not show.
 */
export function countOpenWatches(events, { users, lease, namespace = 'default' }) {
  const open = new Set();
  const wanted = new Set(users);
  for (const event of events) {
    const ref = event.objectRef;
    if (event.verb !== 'watch' || !ref || ref.resource !== 'leases' || !wanted.has(event.user?.username)) continue;
    if (ref.namespace !== namespace || (ref.name && ref.name !== lease)) continue;
    if (event.stage === 'ResponseStarted') open.add(event.auditID);
    else open.delete(event.auditID);
  }
  return open.size;
}

/** Sums per-user counts into requests per minute per candidate, by verb and in total. */
export function perMinutePerCandidate(counts, users, minutes) {
  const verbs = {};
  for (const user of users) {
    for (const [verb, count] of Object.entries(counts.get(user)?.verbs ?? {})) verbs[verb] = (verbs[verb] ?? 0) + count;
  }
  const divisor = Math.max(users.length, 1) * minutes;
  const rates = Object.fromEntries(Object.entries(verbs).map(([verb, count]) => [verb, count / divisor]));
  rates.total = Object.values(verbs).reduce((sum, count) => sum + count, 0) / divisor;
  return rates;
}

// ---------------------------------------------------------- statistics

/** Percentile by linear interpolation between closest ranks (p in [0, 100]). */
export function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  return sorted[low] + (sorted[high] - sorted[low]) * (rank - low);
}

export function summarize(values) {
  if (values.length === 0) return { n: 0 };
  return {
    n: values.length,
    min: Math.min(...values),
    p50: percentile(values, 50),
    p95: percentile(values, 95),
    p99: percentile(values, 99),
    max: Math.max(...values),
    mean: values.reduce((sum, value) => sum + value, 0) / values.length,
  };
}

// --------------------------------------------------------------- table

/** Formats rows of [label, ours, clientGo, ratio] as an aligned text table; a row with one cell is a heading. */
export function formatTable(rows, header) {
  const widths = [0, 0, 0, 0];
  for (const row of [header, ...rows]) {
    if (row.length === 1) continue;
    row.forEach((cell, index) => (widths[index] = Math.max(widths[index], String(cell).length)));
  }
  const line = (row) =>
    row.length === 1
      ? row[0]
      : row
          .map((cell, index) => (index === 0 ? String(cell).padEnd(widths[0]) : String(cell).padStart(widths[index])))
          .join('   ');
  const rule = '-'.repeat(widths.reduce((sum, width) => sum + width, 0) + 9);
  return [line(header), rule, ...rows.map(line)].join('\n');
}
