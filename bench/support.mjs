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

/**
 * How to start one implementation's candidate. `env` is added to every candidate's environment: an object, or a
 * function of the fleet's environment for values that must differ per fleet (such as a group name per Lease).
 */
export function implementation(name, command, args = [], env = {}) {
  return { name, command, args, env };
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
    const implEnv = typeof this.impl.env === 'function' ? this.impl.env(this.env) : this.impl.env;
    const child = spawn(this.impl.command, this.impl.args, {
      env: { ...process.env, ...implEnv, ...this.env, IDENTITY: identity, KUBECONFIG: kubeconfig },
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
   * `cutAt` (candidate -> ns) ends a candidate's term at that moment at the
   * latest and drops its later events: client-go prints stopped only after
   * its release, so a SIGTERMed leader's own line would come after its
   * successor's started.
   */
  maxConcurrentLeaders(include = () => true, cutAt = new Map()) {
    const points = [];
    const leading = new Set();
    for (const event of this.events) {
      if (!include(event)) continue;
      const cut = cutAt.get(event.candidate);
      if (cut !== undefined && event.at >= cut) continue;
      if (event.event === 'started') {
        points.push({ at: event.at, delta: 1 });
        leading.add(event.candidate);
      }
      if (event.event === 'stopped') {
        points.push({ at: event.at, delta: -1 });
        leading.delete(event.candidate);
      }
    }
    for (const [candidate, cut] of cutAt) if (leading.has(candidate)) points.push({ at: cut, delta: -1 });
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

/**
 * Replicas of one spreading group (test/support/group-member-process.mjs),
 * each leading some of the group's elections. Events are as in {@link Fleet}
 * plus `election` on started/stopped/error; a term is one started..stopped
 * of one election in one replica, and a term of a replica SIGKILLed with
 * {@link crash} ends at the kill.
 */
export class GroupFleet extends Fleet {
  constructor(impl, env) {
    super(impl, env);
    /** identity -> CLOCK_MONOTONIC ns of its SIGKILL */
    this.crashed = new Map();
  }

  /** SIGKILLs one replica; from now on it leads nothing. Returns the moment of the kill. */
  crash(identity) {
    const candidate = this.candidates.find((c) => c.identity === identity);
    const at = now();
    this.crashed.set(identity, at);
    candidate.child.kill('SIGKILL');
    return at;
  }

  /** Live replicas, a crashed one excluded at once (before its exit is reported). */
  live() {
    return this.alive().filter((candidate) => !this.crashed.has(candidate.identity));
  }

  /** Every term so far: `{ election, identity, start, end, reason }`, `end` null while it runs. */
  terms() {
    const terms = [];
    const open = new Map();
    for (const event of this.events) {
      const key = `${event.candidate}\n${event.election}`;
      if (event.event === 'started') {
        const term = { election: event.election, identity: event.candidate, start: event.at, end: null };
        open.set(key, term);
        terms.push(term);
      } else if (event.event === 'stopped' && open.has(key)) {
        Object.assign(open.get(key), { end: event.at, reason: event.reason });
        open.delete(key);
      }
    }
    for (const term of open.values()) {
      const killedAt = this.crashed.get(term.identity);
      if (killedAt !== undefined) Object.assign(term, { end: killedAt, reason: 'killed' });
    }
    return terms;
  }

  /** The elections each live replica leads now, by identity. */
  leading() {
    const result = new Map(this.live().map((candidate) => [candidate.identity, []]));
    for (const term of this.terms()) if (term.end === null) result.get(term.identity)?.push(term.election);
    return result;
  }

  /** Sorted loads of the live replicas, for example "4,4,4". */
  loads() {
    return [...this.leading().values()]
      .map((elections) => elections.length)
      .sort((a, b) => a - b)
      .join(',');
  }

  /** Whether every one of `elections` is led by exactly one live replica. */
  ledByOne(elections) {
    const holders = new Map();
    for (const led of this.leading().values()) for (const e of led) holders.set(e, (holders.get(e) ?? 0) + 1);
    return elections.every((election) => holders.get(election) === 1);
  }

  /** Every election led by exactly one of exactly `replicas` live replicas, loads within one (4/4/4 for 12 on 3). */
  evenlySpread(elections, replicas) {
    const loads = [...this.leading().values()].map((led) => led.length);
    return loads.length === replicas && Math.max(...loads) - Math.min(...loads) <= 1 && this.ledByOne(elections);
  }

  /**
   * Resolves with the moment `check()` first held, not before `since`, or
   * null after `timeoutMs`. The state changes with events (and with a
   * {@link crash}, which the caller passes as `since`), so that moment is the
   * `at` of the event whose arrival made it hold, or of the latest event if
   * it holds already.
   */
  waitForState(check, timeoutMs, since = 0n) {
    const moment = () => {
      const at = this.events.at(-1)?.at ?? now();
      return at > since ? at : since;
    };
    return this.waitUntil(() => (check() ? moment() : null), timeoutMs);
  }
}

/** Largest overlap in ms between two terms of the same election (0 when none overlap); running terms end now. */
export function maxElectionOverlapMs(terms) {
  const at = now();
  let worst = 0n;
  for (let i = 0; i < terms.length; i++) {
    for (let j = i + 1; j < terms.length; j++) {
      const [a, b] = [terms[i], terms[j]];
      if (a.election !== b.election) continue;
      const [aEnd, bEnd] = [a.end ?? at, b.end ?? at];
      const end = aEnd < bEnd ? aEnd : bEnd;
      const start = a.start > b.start ? a.start : b.start;
      if (end - start > worst) worst = end - start;
    }
  }
  return Number(worst) / 1e6;
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
 * Which Leases a count covers: the one named `lease`, and every Lease whose
 * name starts with `prefix` (a spreading group's election and member Leases
 * share one); name-less list/watch calls in the namespace too unless
 * `nameless` is false.
 */
function leaseFilter({ lease, prefix, nameless = true }) {
  return (ref, verb) =>
    ref.name
      ? ref.name === lease || (prefix !== undefined && ref.name.startsWith(prefix))
      : nameless && ['list', 'watch'].includes(verb);
}

/**
 * Counts requests by user and verb. A request is one auditID (a watch logs
 * ResponseStarted and later ResponseComplete; both are one request). Only
 * requests on `lease` (or on Leases named `prefix`...) count, plus name-less
 * list/watch calls in its namespace unless `nameless` is false, and only
 * those received within [fromMs, toMs) of wall time.
 *
 * @returns {Map<string, {verbs: Record<string, number>, codes: Record<string, number>}>}
 */
export function countRequests(events, { users, lease, prefix, nameless, namespace = 'default', fromMs, toMs }) {
  const seen = new Set();
  const byUser = new Map([...users].map((user) => [user, { verbs: {}, codes: {} }]));
  const covered = leaseFilter({ lease, prefix, nameless });
  for (const event of events) {
    const ref = event.objectRef;
    const user = event.user?.username;
    if (!ref || ref.resource !== 'leases' || !byUser.has(user) || seen.has(event.auditID)) continue;
    if (ref.namespace !== namespace) continue;
    if (!covered(ref, event.verb)) continue;
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
 * Watches of `users` on `lease` or Leases named `prefix`... (by name, or
 * name-less in its namespace) that have started and not yet completed:
 * long-lived connections a requests-per-minute count does not show.
 */
export function countOpenWatches(events, { users, lease, prefix, namespace = 'default' }) {
  const open = new Set();
  const wanted = new Set(users);
  const covered = leaseFilter({ lease, prefix });
  for (const event of events) {
    const ref = event.objectRef;
    if (event.verb !== 'watch' || !ref || ref.resource !== 'leases' || !wanted.has(event.user?.username)) continue;
    if (ref.namespace !== namespace || !covered(ref, event.verb)) continue;
    if (event.stage === 'ResponseStarted') open.add(event.auditID);
    else open.delete(event.auditID);
  }
  return open.size;
}

/** Sum of one HTTP status code (for example 409) over every user of a {@link countRequests} result. */
export function countStatus(counts, code) {
  let total = 0;
  for (const { codes } of counts.values()) total += codes[code] ?? 0;
  return total;
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
