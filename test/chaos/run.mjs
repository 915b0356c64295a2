// `npm run chaos -- --minutes M --seed S`: fault injection against a real
// control plane. Starts its own etcd + kube-apiserver (with --ha: three etcd
// members and two or three apiservers sharing them), runs N replicas of the
// sample Nest app (sample/dist/main.js), each talking to the apiserver
// through its own TCP fault proxy, applies a randomized fault schedule driven
// by a seeded PRNG, then checks every replica's event log against the
// harness's fault timeline (see checker.mjs) and prints a summary. Exits 1 on
// any violation. See test/chaos/README.md.
import { spawn } from 'node:child_process';
import {
  appendFileSync,
  closeSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startControlPlane } from '../support/control-plane/control-plane.mjs';
import { checkRun } from './checker.mjs';
import { startFaultProxy } from './fault-proxy.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');

// --------------------------------------------------------------- options

const { values: flags } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    seed: { type: 'string' },
    replicas: { type: 'string', default: '5' },
    'lease-duration': { type: 'string', default: '2000' },
    'renew-deadline': { type: 'string', default: '1000' },
    'retry-period': { type: 'string', default: '250' },
    slack: { type: 'string', default: '300' },
    'reconcile-interval': { type: 'string', default: '100' },
    'reconcile-work': { type: 'string', default: '60' },
    // A job that ignores its term's signal, run beside the well-behaved one to measure the overlap it causes.
    'naive-work': { type: 'string', default: '1500' },
    'naive-interval': { type: 'string', default: '1000' },
    // The sample's spreading group: this many leader-only jobs (0–6), one election each, spread over the replicas.
    'spread-jobs': { type: 'string', default: '3' },
    faults: { type: 'string' },
    // A highly available control plane: three etcd members, `--apiservers` kube-apiservers sharing them.
    ha: { type: 'boolean', default: false },
    apiservers: { type: 'string', default: '2' },
    // Clock-rate skew (libfaketime) inside the tolerance, and the self-test beyond it.
    'skew-rate': { type: 'string', default: '1.3' },
    'skew-beyond-rate': { type: 'string', default: '3' },
    'skew-self-test': { type: 'boolean', default: false },
    'max-faults': { type: 'string', default: '10000' },
    summary: { type: 'string' },
    dir: { type: 'string' },
    keep: { type: 'boolean', default: false },
    quiet: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});

const FAULT_TYPES = [
  'kill',
  'term',
  'stop',
  'partition',
  'latency',
  'apiserver-restart',
  'apiserver-restart-inflight',
  'malformed-keep',
  'malformed-steal',
  'malformed-unheld',
  'partition+apiserver-restart',
  'stop+apiserver-restart',
  'latency+kill',
  'oneway',
  'skew',
];
/** Faults that need the HA control plane (--ha). */
const HA_FAULT_TYPES = [
  'etcd-member-restart',
  'etcd-leader-kill',
  'apiserver-kill',
  'apiserver-move',
  'slow-watch',
  'slow-watch+kill',
];
/** The self-test fault: a skew beyond the tolerance, which must give overlap (not in any default list). */
const SELF_TEST_FAULT_TYPES = ['skew-beyond'];
const ALL_FAULT_TYPES = [...FAULT_TYPES, ...HA_FAULT_TYPES, ...SELF_TEST_FAULT_TYPES];

if (flags.help) {
  console.log(`usage: npm run chaos -- [--minutes M] [--seed S] [--replicas N]
       [--lease-duration MS --renew-deadline MS --retry-period MS] [--slack MS]
       [--faults type,type,...] [--max-faults N] [--summary FILE] [--dir DIR] [--keep] [--quiet]
       [--naive-work MS --naive-interval MS]  (a job that ignores the signal; --naive-work 0 turns it off)
       [--spread-jobs N]        (N leader-only jobs spread over the replicas, one election each; 0–6, default 3)
       [--ha [--apiservers N]]  (three etcd members and N (2) apiservers; each replica's proxy picks one)
       [--skew-rate R]          (the skew fault's clock rate factor, inside the tolerance; default 1.3)
       [--skew-self-test [--skew-beyond-rate R]]  (only skew-beyond faults: the leader's clock runs 1/R (3) as
                                fast; passes when the checker reports term overlap, which it must)

Fault types: ${FAULT_TYPES.join(', ')}.
With --ha also: ${HA_FAULT_TYPES.join(', ')}.
Every type runs once (in a seeded random order), then random faults follow until --minutes of
fault injection have passed. The run directory is kept on failure or with --keep.`);
  process.exit(0);
}

const minutes = Number(flags.minutes);
const seed = flags.seed !== undefined ? Number(flags.seed) >>> 0 : Math.floor(Math.random() * 2 ** 31);
const replicaCount = Number(flags.replicas);
const timings = {
  leaseDuration: Number(flags['lease-duration']),
  renewDeadline: Number(flags['renew-deadline']),
  retryPeriod: Number(flags['retry-period']),
};
const slackMs = Number(flags.slack);
const spreadJobs = Number(flags['spread-jobs']);
/** The default election's Lease; the spread jobs' are `<LEASE_NAME>-jobs-<job>`. */
const LEASE_NAME = 'chaos-leader';
const ha = flags.ha;
const apiserverCount = ha ? Number(flags.apiservers) : 1;
const skewSelfTest = flags['skew-self-test'];
const faultTypes = flags.faults
  ? flags.faults.split(',').map((type) => type.trim())
  : skewSelfTest
    ? SELF_TEST_FAULT_TYPES
    : [...FAULT_TYPES, ...(ha ? HA_FAULT_TYPES : [])];
for (const type of faultTypes) if (!ALL_FAULT_TYPES.includes(type)) throw new Error(`unknown fault type ${type}`);
for (const type of faultTypes) {
  if (HA_FAULT_TYPES.includes(type) && !ha) throw new Error(`fault type ${type} needs --ha`);
}
if (ha && !(apiserverCount >= 2 && apiserverCount <= 3)) throw new Error('--apiservers must be 2 or 3');
if (!(replicaCount >= 2 && replicaCount <= 8)) throw new Error('--replicas must be between 2 and 8');
if (!(minutes > 0)) throw new Error('--minutes must be positive');
if (!(Number.isInteger(spreadJobs) && spreadJobs >= 0 && spreadJobs <= 6))
  throw new Error('--spread-jobs must be an integer between 0 and 6');

const { leaseDuration: D, renewDeadline: RD, retryPeriod: RP } = timings;
const recoveryBoundMs = D + 2.2 * RP + slackMs;

// The seed comes first, so a failing run can be replayed.
const replay = `npm run chaos -- --minutes ${minutes} --seed ${seed} --replicas ${replicaCount} --lease-duration ${D} --renew-deadline ${RD} --retry-period ${RP}${ha ? ` --ha --apiservers ${apiserverCount}` : ''}${skewSelfTest ? ` --skew-self-test --skew-beyond-rate ${flags['skew-beyond-rate']}` : ''}${flags.faults ? ` --faults ${flags.faults}` : ''}${spreadJobs !== 3 ? ` --spread-jobs ${spreadJobs}` : ''}`;
console.log(`chaos: seed ${seed}  (replay: ${replay})`);

// ------------------------------------------------------------ utilities

/** mulberry32: a small seeded PRNG; the schedule only draws from it in a fixed order. */
function prng(seedValue) {
  let state = seedValue >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    uniform: (low, high) => low + next() * (high - low),
    int: (low, high) => low + Math.floor(next() * (high - low + 1)),
    pick: (list) => list[Math.floor(next() * list.length)],
    shuffle: (list) => {
      const copy = [...list];
      for (let index = copy.length - 1; index > 0; index--) {
        const other = Math.floor(next() * (index + 1));
        [copy[index], copy[other]] = [copy[other], copy[index]];
      }
      return copy;
    },
  };
}
const rng = prng(seed);

const now = () => process.hrtime.bigint();
const msSince = (at) => Number(now() - at) / 1e6;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
const started = Date.now();
const log = (message) => {
  if (!flags.quiet) console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s] ${message}`);
};

async function waitUntil(condition, timeoutMs, stepMs = 50) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value) return value;
    if (Date.now() >= deadline) return null;
    await sleep(stepMs);
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// ------------------------------------------------------------- clock skew

/** libfaketime's multi-threaded library (Node runs threads); FAKETIME_LIB overrides the search. */
function findFaketime() {
  const candidates = [
    process.env.FAKETIME_LIB,
    '/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1',
    '/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1',
    '/usr/lib/faketime/libfaketimeMT.so.1',
    '/usr/local/lib/faketime/libfaketimeMT.so.1',
  ].filter(Boolean);
  return candidates.find((path) => existsSync(path)) ?? null;
}
const SKEW_FAULTS = ['skew', 'skew-beyond'];
const faketimeLib = faultTypes.some((type) => SKEW_FAULTS.includes(type)) ? findFaketime() : null;
if (faultTypes.some((type) => SKEW_FAULTS.includes(type)) && !faketimeLib) {
  throw new Error(
    'the skew faults need libfaketime (apt-get install faketime; or set FAKETIME_LIB); or leave them out with --faults',
  );
}
const skewRate = Number(flags['skew-rate']);
const skewBeyondRate = Number(flags['skew-beyond-rate']);
if (!(skewRate >= 1 && skewRate < D / RD)) {
  throw new Error(`--skew-rate must be at least 1 and below leaseDuration / renewDeadline (${D / RD})`);
}
if (!(skewBeyondRate > D / RD)) throw new Error(`--skew-beyond-rate must exceed leaseDuration / renewDeadline`);

// ------------------------------------------------------------- run state

const runDir = flags.dir ?? mkdtempSync(join(tmpdir(), 'nle-chaos-'));
for (const sub of ['events', 'logs', 'kubeconfigs']) mkdirSync(join(runDir, sub), { recursive: true });
const timelinePath = join(runDir, 'timeline.jsonl');
writeFileSync(timelinePath, '');
const timeline = [];
const serialize = (value) => JSON.stringify(value, (_key, item) => (typeof item === 'bigint' ? item.toString() : item));
function record(entry) {
  timeline.push(entry);
  appendFileSync(timelinePath, `${serialize(entry)}\n`);
  return entry;
}
writeFileSync(join(runDir, 'run.json'), serialize({ seed, timings, slackMs, replicas: replicaCount, spreadJobs }));
// Health probes (see probeLoop); checked by checker.mjs.
const probesPath = join(runDir, 'probes.jsonl');
writeFileSync(probesPath, '');
const probes = [];
function recordProbe(entry) {
  probes.push(entry);
  appendFileSync(probesPath, `${serialize(entry)}\n`);
}

/** Snapshot of the built package and sample, so a rebuild during a long soak cannot change the replicas under test. */
function snapshotApp() {
  const main = join(root, 'sample', 'dist', 'main.js');
  if (!existsSync(main) || !existsSync(join(root, 'dist', 'esm', 'index.js'))) {
    throw new Error('sample/dist/main.js or dist/ is missing: run `npm run build && npm run build:sample` first.');
  }
  const app = join(runDir, 'app');
  cpSync(join(root, 'dist'), join(app, 'dist'), { recursive: true });
  cpSync(join(root, 'sample', 'dist'), join(app, 'sample', 'dist'), { recursive: true });
  cpSync(join(root, 'package.json'), join(app, 'package.json'));
  symlinkSync(join(root, 'node_modules'), join(app, 'node_modules'), 'dir');
  return join(app, 'sample', 'dist', 'main.js');
}

let plane = null;
const proxies = [];
const slots = []; // slot index -> current Replica
const replicas = new Map(); // identity -> Replica
const pidFile = join(runDir, 'replica-pids');
let cleaning = null;
let faultSeq = 0;

function writePids() {
  writeFileSync(
    pidFile,
    [...replicas.values()]
      .filter((replica) => !replica.exited)
      .map((replica) => replica.child.pid)
      .join('\n'),
  );
}

// ------------------------------------------------------------ event logs

/**
 * Incremental reader of one replica's EVENT_LOG. A skewed replica logs faked times: `toReal` maps them to the real
 * clock for the harness's own waits (`at`), and `rawAt` keeps what was logged, for the checker, which maps them
 * through the clock samples itself.
 */
class EventTail {
  constructor(path, skewed = false) {
    this.path = path;
    // Until its first clock sample a skewed replica's times cannot be placed: they count as long past. (libfaketime
    // does not keep CLOCK_MONOTONIC near the real one: with FAKETIME='+0 x1.3' it reads like the epoch time.)
    this.toReal = skewed ? () => 0n : null;
    this.offset = 0;
    this.partial = '';
    this.events = [];
    this.openTerm = null;
  }

  /** Maps this replica's faked times through a clock sample (real `realAt` = faked `fakeAt`) at `rate`. */
  setClock(realAt, fakeAt, rate) {
    this.toReal = (fake) => realAt + BigInt(Math.round(Number(fake - fakeAt) / rate));
    for (const event of this.events) event.at = this.toReal(event.rawAt);
  }

  poll() {
    if (!existsSync(this.path)) return;
    const size = statSync(this.path).size;
    if (size <= this.offset) return;
    const fd = openSync(this.path, 'r');
    const buffer = Buffer.alloc(size - this.offset);
    readSync(fd, buffer, 0, buffer.length, this.offset);
    closeSync(fd);
    this.offset = size;
    const lines = (this.partial + buffer.toString('utf8')).split('\n');
    this.partial = lines.pop();
    for (const line of lines) {
      if (!line.trim()) continue;
      const event = JSON.parse(line);
      event.rawAt = BigInt(event.at);
      event.at = this.toReal ? this.toReal(event.rawAt) : event.rawAt;
      this.events.push(event);
      if (event.event === 'term-start') this.openTerm = event;
      if (event.event === 'term-end') this.openTerm = null;
    }
  }
}

// -------------------------------------------------------------- replicas

let appMain = null;

/**
 * Launches the replica of `slot`. With `clockRate`, its process runs under libfaketime with every clock
 * (CLOCK_MONOTONIC included: Node's timers, performance.now() and process.hrtime) at that rate, and a preloaded
 * probe answers clock pings over IPC (see clockSample).
 */
async function launch(slot, { clockRate = null } = {}) {
  const generation = (slots[slot]?.generation ?? -1) + 1;
  const identity = `r${slot}-${generation}`;
  const port = await freePort();
  const eventLog = join(runDir, 'events', `${identity}.jsonl`);
  const out = openSync(join(runDir, 'logs', `${identity}.log`), 'a');
  const skewEnv =
    clockRate === null
      ? {}
      : {
          LD_PRELOAD: [faketimeLib, process.env.LD_PRELOAD].filter(Boolean).join(' '),
          FAKETIME: `+0 x${clockRate}`,
          FAKETIME_DONT_FAKE_MONOTONIC: '0',
          DONT_FAKE_MONOTONIC: '0',
        };
  const args = clockRate === null ? [appMain] : ['--import', join(here, 'clock-probe.mjs'), appMain];
  const child = spawn(process.execPath, args, {
    env: {
      ...process.env,
      ...skewEnv,
      KUBECONFIG: proxies[slot].kubeconfig,
      POD_NAME: identity,
      PORT: String(port),
      HOST: '127.0.0.1',
      EVENT_LOG: eventLog,
      LEASE_NAME,
      LEASE_NAMESPACE: 'default',
      LEASE_DURATION_MS: String(D),
      RENEW_DEADLINE_MS: String(RD),
      RETRY_PERIOD_MS: String(RP),
      RECONCILE_INTERVAL_MS: flags['reconcile-interval'],
      RECONCILE_WORK_MS: flags['reconcile-work'],
      ...(Number(flags['naive-work']) > 0
        ? { NAIVE_WORK_MS: flags['naive-work'], NAIVE_INTERVAL_MS: flags['naive-interval'] }
        : {}),
      // Always set: the sample runs all 6 jobs when it is unset; 0 turns the group off.
      SPREAD_JOBS: String(spreadJobs),
      REPORT_CRON: '*/30 * * * * *',
      LOG_LEVEL: 'warn',
    },
    stdio: clockRate === null ? ['ignore', out, out] : ['ignore', out, out, 'ipc'],
  });
  closeSync(out);
  const replica = {
    slot,
    generation,
    identity,
    port,
    child,
    tail: new EventTail(eventLog, clockRate !== null),
    expectedExit: null,
    frozen: false,
    exited: false,
    metrics: null,
    clockRate,
  };
  replica.exitedPromise = new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      replica.exited = true;
      const expected =
        replica.expectedExit === 'SIGKILL'
          ? signal === 'SIGKILL'
          : replica.expectedExit === 'SIGTERM'
            ? code === 0 || signal === 'SIGTERM'
            : false;
      record({ kind: 'exit', identity, code, signal, expected, at: now() });
      if (!expected) log(`!! ${identity} exited unexpectedly (code ${code}, signal ${signal})`);
      writePids();
      resolve({ code, signal });
    }),
  );
  slots[slot] = replica;
  replicas.set(identity, replica);
  record({ kind: 'launch', identity, slot, pid: child.pid, at: now(), ...(clockRate === null ? {} : { clockRate }) });
  writePids();
  void probeLoop(replica);
  return replica;
}

/**
 * Reads a skewed replica's faked CLOCK_MONOTONIC over IPC, 7 times, and records the pair with the shortest round
 * trip: { real: the harness's clock at its midpoint, fake: the replica's reading }. The checker maps the replica's
 * event times to the real clock through these pairs.
 */
async function clockSample(replica) {
  if (replica.clockRate === null || replica.exited || !replica.child.connected) return null;
  let best = null;
  for (let ping = 0; ping < 7; ping++) {
    const sentAt = now();
    const answer = await new Promise((resolve) => {
      const timer = setTimeout(() => resolve(null), 1000);
      const onMessage = (message) => {
        if (message?.clockPong !== ping) return;
        clearTimeout(timer);
        replica.child.off('message', onMessage);
        resolve(BigInt(message.at));
      };
      replica.child.on('message', onMessage);
      try {
        replica.child.send({ clockPing: ping });
      } catch {
        clearTimeout(timer);
        replica.child.off('message', onMessage);
        resolve(null);
      }
    });
    const backAt = now();
    if (answer === null) continue;
    if (!best || backAt - sentAt < best.rtt)
      best = { rtt: backAt - sentAt, realAt: sentAt + (backAt - sentAt) / 2n, fakeAt: answer };
    await sleep(5);
  }
  if (!best) return null;
  if (!replica.clockSampled) {
    replica.tail.setClock(best.realAt, best.fakeAt, replica.clockRate);
    replica.clockSampled = true;
  }
  return record({
    kind: 'clock',
    identity: replica.identity,
    rate: replica.clockRate,
    realAt: best.realAt,
    fakeAt: best.fakeAt,
    rttMs: Number(best.rtt) / 1e6,
    at: now(),
  });
}

/** Sends a signal and records it. SIGKILL/SIGSTOP are stamped after delivery, SIGCONT/SIGTERM before. */
function signal(replica, name) {
  if (replica.exited) return null;
  if (name === 'SIGKILL') replica.expectedExit = 'SIGKILL';
  else if (name === 'SIGTERM') replica.expectedExit ??= 'SIGTERM';
  const before = now();
  replica.child.kill(name);
  const after = now();
  const at = name === 'SIGKILL' || name === 'SIGSTOP' ? after : before;
  if (name === 'SIGSTOP') replica.frozen = true;
  if (name === 'SIGCONT') replica.frozen = false;
  record({ kind: 'signal', identity: replica.identity, signal: name, at });
  return at;
}

function liveReplicas() {
  return slots.filter((replica) => replica && !replica.exited);
}

function pollAll() {
  for (const replica of replicas.values()) replica.tail.poll();
}

/** Identities with an open term in their log, among processes that are alive. */
function openTerms() {
  pollAll();
  return liveReplicas().filter((replica) => replica.tail.openTerm);
}

/** Waits for exactly one leader, in office for `settleMs`. */
async function waitForStableLeader(timeoutMs = 30_000, settleMs = Math.max(1000, 4 * RP)) {
  return waitUntil(() => {
    const open = openTerms();
    if (open.length !== 1) return null;
    const [leader] = open;
    if (leader.frozen || msSince(leader.tail.openTerm.at) < settleMs) return null;
    return leader;
  }, timeoutMs);
}

/** Waits until every slot's replica has logged something (it has booted and observed the Lease). */
async function waitForParticipants(timeoutMs = 30_000) {
  const ready = await waitUntil(() => {
    pollAll();
    return liveReplicas().length === slots.length && liveReplicas().every((replica) => replica.tail.events.length > 0);
  }, timeoutMs);
  if (!ready) {
    const missing = slots.filter((replica) => replica.exited || replica.tail.events.length === 0);
    const message = `replicas not taking part after ${timeoutMs}ms: ${missing.map((replica) => replica.identity).join(', ')}`;
    record({ kind: 'problem', problem: 'replica-not-participating', message, at: now() });
    log(`!! ${message}`);
  }
}

/** Waits for a term-start after `after` by anyone but `excluding`. */
async function waitForNewTerm(after, excluding, timeoutMs) {
  return waitUntil(() => {
    pollAll();
    for (const replica of replicas.values()) {
      if (replica.identity === excluding) continue;
      const start = replica.tail.events.find((event) => event.event === 'term-start' && event.at > after);
      if (start) return { replica, at: start.at };
    }
    return null;
  }, timeoutMs);
}

async function waitForTermEnd(replica, after, timeoutMs) {
  return waitUntil(() => {
    replica.tail.poll();
    return replica.tail.events.find((event) => event.event === 'term-end' && event.at > after) ?? null;
  }, timeoutMs);
}

async function relaunchLater(slot, delayMs) {
  await sleep(delayMs);
  if (cleaning) return;
  const replica = await launch(slot);
  log(`   relaunched slot ${slot} as ${replica.identity}`);
}

async function scrapeMetrics(replica) {
  if (replica.exited || replica.frozen) return;
  try {
    const response = await fetch(`http://127.0.0.1:${replica.port}/metrics`, { signal: AbortSignal.timeout(1500) });
    const text = await response.text();
    // The default election's Lease, and the spread jobs' (one `lease` label each, summed over the jobs).
    const errors = {};
    const demoted = {};
    const jobErrors = {};
    const jobDemoted = {};
    const add = (counts, key, value) => (counts[key] = (counts[key] ?? 0) + value);
    for (const line of text.split('\n')) {
      const match = /^(leader_election_errors_total|leader_election_lost_total)\{([^}]*)\}\s+(\S+)$/.exec(line);
      if (!match) continue;
      const labels = Object.fromEntries(
        [...match[2].matchAll(/(\w+)="([^"]*)"/g)].map(([, key, value]) => [key, value]),
      );
      const isJob = labels.lease !== undefined && labels.lease.startsWith(`${LEASE_NAME}-jobs-`);
      if (match[1] === 'leader_election_errors_total')
        add(isJob ? jobErrors : errors, `${labels.operation}/${labels.reason}`, Number(match[3]));
      else add(isJob ? jobDemoted : demoted, labels.reason, Number(match[3]));
    }
    replica.metrics = { errors, demoted, jobErrors, jobDemoted };
  } catch {
    // starting, frozen or gone: keep the last scrape
  }
}

// ---------------------------------------------------------- health probes

const PROBE_TIMEOUT_MS = 2000;
let probing = true;

/** One GET of /health/<path>: status and the leader-election indicator's details (null status: no answer). */
async function probe(replica, path) {
  const sentAt = now();
  const entry = { identity: replica.identity, path, sentAt };
  try {
    const response = await fetch(`http://127.0.0.1:${replica.port}/health/${path}`, {
      signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
    });
    const text = await response.text();
    entry.status = response.status;
    try {
      const body = JSON.parse(text);
      const details = body.details?.['leader-election'] ?? body.error?.['leader-election'] ?? {};
      for (const key of ['status', 'reason', 'mode', 'state', 'isLeader']) {
        if (details[key] !== undefined) entry[key === 'status' ? 'indicator' : key] = details[key];
      }
    } catch {
      entry.reason = `unparsable body: ${text.slice(0, 120)}`;
    }
  } catch (error) {
    entry.status = null;
    entry.error = error.name === 'TimeoutError' ? 'timeout' : (error.cause?.code ?? error.name);
  }
  entry.at = now();
  recordProbe(entry);
}

/**
 * Probes /health/live, then /health/ready, on this replica every 250–500 ms while it runs. A frozen replica is
 * skipped (it cannot answer); so is one that is being stopped. The jitter comes from Math.random, not the seeded
 * PRNG, so probing cannot change the fault schedule of a seed.
 */
async function probeLoop(replica) {
  while (probing && !cleaning && !replica.exited && replica.expectedExit === null) {
    if (!replica.frozen) {
      await probe(replica, 'live');
      if (!replica.frozen && !replica.exited) await probe(replica, 'ready');
    }
    await sleep(250 + Math.random() * 250);
  }
}

/** One line of probe counts for the summary. */
function formatProbeCounts(counts) {
  return (
    `${counts.sent} sent, ${counts.ok} × 200, ${counts.down} × non-200, ${counts.noAnswer} no answer` +
    ` (not counted as failures: ${counts.excused.frozen} frozen or just woken, ${counts.excused.startup} starting, ${counts.excused.stopping} stopping)`
  );
}

// ------------------------------------------------------------- the Lease

const LEASE_PATH = '/apis/coordination.k8s.io/v1/namespaces/default/leases/chaos-leader';
const OUTSIDER = 'chaos-outsider';
const micro = (date) => date.toISOString().replace('Z', '000Z');
const FAR_FUTURE = '2999-01-01T00:00:00.000000Z';
const leaseSeconds = Math.max(1, Math.ceil(D / 1000));

/**
 * Malformed shapes (lib/elector/lease-record.ts normalizeLeaseSpec). `held`
 * shapes keep a holder (the leader itself, or an outsider); `unheld` ones
 * leave the Lease without a holder. Each returns a spec from the current one.
 */
const HELD_SHAPES = {
  'lease-duration-zero': (spec) => ({ ...spec, leaseDurationSeconds: 0 }),
  'lease-duration-negative': (spec) => ({ ...spec, leaseDurationSeconds: -5 }),
  'lease-duration-missing': (spec) => omit(spec, 'leaseDurationSeconds'),
  'acquire-time-missing': (spec) => omit(spec, 'acquireTime'),
  'renew-time-missing': (spec) => omit(spec, 'renewTime'),
  'times-missing': (spec) => omit(omit(spec, 'acquireTime'), 'renewTime'),
  'acquire-time-unparsable': (spec) => ({ ...spec, acquireTime: 'yesterday' }),
  'renew-time-unparsable': (spec) => ({ ...spec, renewTime: '2025-01-01 00:00:00' }),
  'renew-time-future': (spec) => ({ ...spec, renewTime: FAR_FUTURE }),
  'acquire-time-future': (spec) => ({ ...spec, acquireTime: FAR_FUTURE }),
  'preferred-holder-set': (spec) => ({ ...spec, preferredHolder: 'r0-0' }),
  'strategy-set': (spec) => ({ ...spec, strategy: 'OldestEmulationVersion' }),
  'strategy-and-preferred-holder-set': (spec) => ({
    ...spec,
    strategy: 'OldestEmulationVersion',
    preferredHolder: 'r0-0',
  }),
};
const UNHELD_SHAPES = {
  'no-spec': () => undefined,
  'holder-null': (spec) => ({ ...spec, holderIdentity: null }),
  'holder-empty': (spec) => ({ ...spec, holderIdentity: '' }),
};
/** Shapes whose lease duration the apiserver stores as written (otherwise the configured duration applies). */
const USABLE_DURATION = (spec) =>
  Number.isInteger(spec?.leaseDurationSeconds) && spec.leaseDurationSeconds > 0 ? spec.leaseDurationSeconds * 1000 : D;
function omit(object, key) {
  const copy = { ...object };
  delete copy[key];
  return copy;
}

const shapeResults = {};

/**
 * Puts a Lease spec derived from the current one by `build`, as the admin
 * (an outside writer), retrying on 409. Records the write in the timeline.
 */
async function writeLease(shape, build, extra) {
  for (let attempt = 0; attempt < 8; attempt++) {
    const current = await plane.request('GET', LEASE_PATH);
    if (current.status !== 200) throw new Error(`GET lease: HTTP ${current.status} ${current.text}`);
    const spec = build(current.json.spec ?? {});
    const body = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'chaos-leader', namespace: 'default', resourceVersion: current.json.metadata.resourceVersion },
      ...(spec === undefined ? {} : { spec }),
    };
    const sentAt = now();
    const result = await plane.request('PUT', LEASE_PATH, body);
    const doneAt = now();
    if (result.status === 409) continue;
    const accepted = result.status === 200;
    const entry = (shapeResults[shape] ??= { attempts: 0, accepted: 0, rejected: {} });
    entry.attempts++;
    if (accepted) entry.accepted++;
    else entry.rejected[result.status] = (result.json?.message ?? result.text).slice(0, 160);
    if (accepted) {
      const stored = result.json.spec ?? {};
      for (const field of ['strategy', 'preferredHolder']) {
        if (spec && spec[field] !== undefined && stored[field] === undefined) {
          entry.droppedByApiserver = [...new Set([...(entry.droppedByApiserver ?? []), field])];
        }
      }
    }
    return record({
      kind: 'lease-write',
      shape,
      accepted,
      status: result.status,
      holder: spec?.holderIdentity ?? null,
      validForMs: USABLE_DURATION(spec),
      sentAt,
      doneAt,
      at: doneAt,
      ...extra,
    });
  }
  throw new Error(`writing lease shape ${shape}: 8 conflicts in a row`);
}

/**
 * Polls the job Leases (as admin, straight to an apiserver) every retryPeriod and records each change of holder.
 * A candidate whose write landed but whose answer did not (a partition heals, a delay, a one-way partition, a
 * kill mid-request) holds a Lease without a term: its events do not show it, this does. The checker counts faults
 * on such a holder as touching that job (ownership bound).
 */
let observingLeases = true;
async function observeJobLeases() {
  const prefix = `${LEASE_NAME}-jobs-`;
  const holders = new Map();
  while (observingLeases && !cleaning) {
    const sentAt = now();
    try {
      const result = await plane.request('GET', '/apis/coordination.k8s.io/v1/namespaces/default/leases');
      for (const item of result.status === 200 ? (result.json?.items ?? []) : []) {
        const name = item.metadata?.name ?? '';
        // Member records are `<group>-member-<hash>`.
        if (!name.startsWith(prefix) || name.startsWith(`${prefix}member-`)) continue;
        const election = name.slice(prefix.length);
        const holder = item.spec?.holderIdentity || null;
        if (holders.has(election) && holders.get(election) === holder) continue;
        holders.set(election, holder);
        record({ kind: 'lease-holder', election, holder, sentAt, at: now() });
      }
    } catch {
      // an apiserver restarting: its faults touch every job anyway
    }
    await sleep(RP);
  }
}

// ------------------------------------------------------------------ faults

/** The apiserver a replica reaches (through its proxy); always 0 without --ha. */
const apiserverOf = (replica) => proxies[replica.slot].apiserver;

/** Points slot's proxy at apiserver `index`, resetting its open connections (a load balancer moving a client). */
function moveProxy(slot, index, why) {
  const proxy = proxies[slot];
  const from = proxy.apiserver;
  proxy.apiserver = index;
  proxy.retarget(Number(new URL(plane.servers[index]).port));
  return record({ kind: 'move', slot, from, to: index, why, at: now() });
}

async function restartApiserver(how, index = 0) {
  const stopBegan = now();
  await plane.stopApiserver(how, index);
  const stoppedAt = now();
  const downtime = rng.uniform(0, 1500);
  await sleep(downtime);
  const startMs = await plane.startApiserver(index);
  const readyAt = now();
  log(
    `   apiserver ${index} ${how}: stopped after ${(Number(stoppedAt - stopBegan) / 1e6).toFixed(0)}ms, down ${downtime.toFixed(0)}ms, ready ${startMs}ms after relaunch`,
  );
  return { stopBegan, stoppedAt, readyAt, downtimeMs: Number(readyAt - stoppedAt) / 1e6 };
}

function faultRecord(type, leader, fields) {
  return record({ kind: 'fault', id: ++faultSeq, type, target: leader.identity, at: now(), ...fields });
}

const FAULTS = {
  async kill(leader) {
    const killAt = signal(leader, 'SIGKILL');
    await leader.exitedPromise;
    void relaunchLater(leader.slot, rng.uniform(0, 1000));
    const next = await waitForNewTerm(killAt, leader.identity, recoveryBoundMs * 3);
    faultRecord('kill', leader, {
      startAt: killAt,
      clearAt: killAt,
      recoverFromAt: killAt,
      exclude: leader.identity,
      excludeUntilAt: killAt,
    });
    return next ? `${next.replica.identity} leads after ${(Number(next.at - killAt) / 1e6).toFixed(0)}ms` : 'no leader';
  },

  async term(leader) {
    const termAt = signal(leader, 'SIGTERM');
    const exited = await Promise.race([leader.exitedPromise, sleep(10_000).then(() => null)]);
    if (!exited) {
      record({
        kind: 'problem',
        problem: 'shutdown-timeout',
        message: `${leader.identity} did not exit within 10s of SIGTERM`,
        at: now(),
      });
      signal(leader, 'SIGKILL');
      await leader.exitedPromise;
    }
    void relaunchLater(leader.slot, rng.uniform(0, 1000));
    const next = await waitForNewTerm(termAt, leader.identity, recoveryBoundMs * 3);
    faultRecord('term', leader, {
      startAt: termAt,
      clearAt: termAt,
      recoverFromAt: termAt,
      exclude: leader.identity,
      excludeUntilAt: termAt,
    });
    return next ? `${next.replica.identity} leads after ${(Number(next.at - termAt) / 1e6).toFixed(0)}ms` : 'no leader';
  },

  async stop(leader) {
    const holdMs = rng.uniform(1.1 * D, 2.5 * D);
    const stopAt = signal(leader, 'SIGSTOP');
    await sleep(holdMs);
    const contAt = signal(leader, 'SIGCONT');
    await waitForTermEnd(leader, stopAt, RD + 2000);
    faultRecord('stop', leader, {
      startAt: stopAt,
      clearAt: contAt,
      recoverFromAt: stopAt,
      exclude: leader.identity,
      excludeUntilAt: contAt,
      holdMs,
    });
    return `frozen ${holdMs.toFixed(0)}ms`;
  },

  async partition(leader) {
    const holdMs = rng.uniform(1.1 * D, 2.5 * D);
    const proxy = proxies[leader.slot];
    const startAt = now();
    proxy.setMode('blackhole');
    await sleep(holdMs);
    const clearAt = now();
    proxy.setMode('pass');
    faultRecord('partition', leader, {
      startAt,
      clearAt,
      recoverFromAt: startAt,
      exclude: leader.identity,
      excludeUntilAt: clearAt,
      holdMs,
    });
    return `blackholed ${holdMs.toFixed(0)}ms`;
  },

  async latency(leader) {
    const delayMs = Math.round(rng.uniform(0.3 * RD, 1.0 * RD));
    const holdMs = rng.uniform(0.5 * D, 2 * D);
    const proxy = proxies[leader.slot];
    const startAt = now();
    proxy.setMode('delay', delayMs);
    await sleep(holdMs);
    const clearAt = now();
    proxy.setMode('pass');
    faultRecord('latency', leader, { startAt, clearAt, recoverFromAt: clearAt, delayMs, holdMs });
    return `+${delayMs}ms per chunk each way for ${holdMs.toFixed(0)}ms`;
  },

  async 'apiserver-restart'(leader) {
    const how = rng.pick(['SIGTERM', 'SIGKILL']);
    const restart = await restartApiserver(how, apiserverOf(leader));
    faultRecord('apiserver-restart', leader, {
      startAt: restart.stopBegan,
      clearAt: restart.readyAt,
      recoverFromAt: restart.readyAt,
      how,
      downtimeMs: restart.downtimeMs,
    });
    return `${how}, down ${restart.downtimeMs.toFixed(0)}ms`;
  },

  async 'apiserver-restart-inflight'(leader) {
    // Kill the apiserver a few ms after the leader's next request hits the wire.
    const afterMs = rng.uniform(0, 15);
    const proxy = proxies[leader.slot];
    let triggeredAt = null;
    let byRequest = false;
    const stopped = new Promise((resolve) => {
      const trigger = (fromRequest) => {
        if (triggeredAt !== null) return;
        triggeredAt = now();
        byRequest = fromRequest;
        setTimeout(() => resolve(plane.stopApiserver('SIGKILL', apiserverOf(leader))), afterMs);
      };
      proxy.onNextRequest(() => trigger(true));
      setTimeout(() => trigger(false), 5 * RP);
    });
    const stopBegan = now();
    await stopped;
    const stoppedAt = now();
    await sleep(rng.uniform(0, 1500));
    const startMs = await plane.startApiserver(apiserverOf(leader));
    const readyAt = now();
    faultRecord('apiserver-restart-inflight', leader, {
      startAt: stopBegan,
      clearAt: readyAt,
      recoverFromAt: readyAt,
      killedMsAfterRequest: afterMs,
      triggeredAt,
      inFlight: byRequest,
      downtimeMs: Number(readyAt - stoppedAt) / 1e6,
    });
    return `SIGKILL ${afterMs.toFixed(1)}ms after ${byRequest ? 'a leader request went out' : 'a timeout (no leader request seen)'}, ready again after ${startMs}ms`;
  },

  async 'malformed-keep'(leader) {
    // Every held shape, naming the current leader: it must keep leading and nobody else may start.
    const order = rng.shuffle(Object.keys(HELD_SHAPES));
    const gaps = order.map(() => rng.uniform(2 * RP, 3 * RP));
    const startAt = now();
    const statuses = [];
    for (const [index, shape] of order.entries()) {
      const write = await writeLease(
        shape,
        (spec) => HELD_SHAPES[shape]({ ...spec, holderIdentity: leader.identity }),
        {
          expect: 'leader-keeps',
          leader: leader.identity,
        },
      );
      statuses.push(`${shape}:${write.status}`);
      await sleep(gaps[index]);
    }
    await sleep(RD);
    const clearAt = now();
    faultRecord('malformed-keep', leader, { startAt, clearAt, recoverFromAt: clearAt, shapes: statuses });
    return statuses.join(' ');
  },

  async 'malformed-steal'(leader) {
    // An outsider takes the Lease with a malformed record: the leader steps down, nobody leads until it expires.
    const candidates = rng.shuffle(Object.keys(HELD_SHAPES));
    const startAt = now();
    let write = null;
    for (const shape of candidates) {
      write = await writeLease(
        shape,
        (spec) =>
          HELD_SHAPES[shape]({
            ...spec,
            holderIdentity: OUTSIDER,
            leaseDurationSeconds: leaseSeconds,
            acquireTime: micro(new Date()),
            renewTime: micro(new Date()),
          }),
        { expect: 'no-takeover-until', leader: leader.identity },
      );
      if (write.accepted) break;
    }
    await waitForNewTerm(write.sentAt, null, write.validForMs + recoveryBoundMs * 2);
    const clearAt = write.sentAt + BigInt(Math.round(write.validForMs * 1e6));
    faultRecord('malformed-steal', leader, { startAt, clearAt, recoverFromAt: clearAt, shape: write.shape });
    return `${write.shape} held by ${OUTSIDER} for ${write.validForMs}ms`;
  },

  async 'malformed-unheld'(leader) {
    // Each unheld shape, put once the leader has stood down before an outsider:
    // anyone may take the Lease at once; nobody may crash.
    const order = rng.shuffle(Object.keys(UNHELD_SHAPES));
    const notes = [];
    let current = leader;
    for (const shape of order) {
      const steal = await writeLease(
        'well-formed-outsider',
        (spec) => ({
          ...spec,
          holderIdentity: OUTSIDER,
          leaseDurationSeconds: leaseSeconds,
          acquireTime: micro(new Date()),
          renewTime: micro(new Date()),
        }),
        { expect: 'no-takeover-until', leader: current.identity },
      );
      const ended = await waitForTermEnd(current, steal.sentAt, RD + 2000);
      await sleep(50);
      const write = await writeLease(shape, UNHELD_SHAPES[shape], { expect: 'anyone-may-take' });
      const next = await waitForNewTerm(write.sentAt, null, recoveryBoundMs * 2);
      faultRecord('malformed-unheld', current, {
        startAt: steal.sentAt,
        clearAt: write.sentAt,
        recoverFromAt: write.sentAt,
        shape,
        leaderStoodDown: Boolean(ended),
        status: write.status,
      });
      notes.push(
        `${shape}:${write.status}${next ? ` → ${next.replica.identity} in ${(Number(next.at - write.sentAt) / 1e6).toFixed(0)}ms` : ''}`,
      );
      current = next?.replica ?? (await waitForStableLeader());
      if (!current) break;
      await sleep(RP);
    }
    return notes.join(' ');
  },

  async 'partition+apiserver-restart'(leader) {
    const proxy = proxies[leader.slot];
    const startAt = now();
    proxy.setMode('blackhole');
    await sleep(rng.uniform(0.2 * D, 0.8 * D));
    const how = rng.pick(['SIGTERM', 'SIGKILL']);
    const restart = await restartApiserver(how, apiserverOf(leader));
    await sleep(rng.uniform(0, D));
    const healAt = now();
    proxy.setMode('pass');
    faultRecord('partition+apiserver-restart', leader, {
      startAt,
      clearAt: healAt,
      recoverFromAt: restart.readyAt,
      exclude: leader.identity,
      excludeUntilAt: healAt,
      how,
    });
    return `partitioned ${msSince(startAt).toFixed(0)}ms, apiserver ${how}`;
  },

  async 'stop+apiserver-restart'(leader) {
    const stopAt = signal(leader, 'SIGSTOP');
    await sleep(rng.uniform(0.2 * D, 0.8 * D));
    const how = rng.pick(['SIGTERM', 'SIGKILL']);
    const restart = await restartApiserver(how, apiserverOf(leader));
    await sleep(rng.uniform(0, D));
    const contAt = signal(leader, 'SIGCONT');
    await waitForTermEnd(leader, stopAt, RD + 2000);
    faultRecord('stop+apiserver-restart', leader, {
      startAt: stopAt,
      clearAt: contAt,
      recoverFromAt: restart.readyAt,
      exclude: leader.identity,
      excludeUntilAt: contAt,
      how,
    });
    return `frozen ${(Number(contAt - stopAt) / 1e6).toFixed(0)}ms, apiserver ${how}`;
  },

  async 'latency+kill'(leader) {
    // A slow leader dies with requests in flight; they still land up to delayMs later.
    const delayMs = Math.round(rng.uniform(0.3 * RD, 1.0 * RD));
    const proxy = proxies[leader.slot];
    const startAt = now();
    proxy.setMode('delay', delayMs);
    await sleep(rng.uniform(0.2 * D, 0.6 * D));
    const killAt = signal(leader, 'SIGKILL');
    proxy.setMode('pass');
    await leader.exitedPromise;
    void relaunchLater(leader.slot, rng.uniform(0, 1000));
    await waitForNewTerm(killAt, leader.identity, recoveryBoundMs * 3);
    faultRecord('latency+kill', leader, {
      startAt,
      clearAt: killAt,
      recoverFromAt: killAt + BigInt(delayMs) * 1_000_000n,
      exclude: leader.identity,
      excludeUntilAt: killAt,
      delayMs,
    });
    return `+${delayMs}ms, killed after ${(Number(killAt - startAt) / 1e6).toFixed(0)}ms`;
  },

  async oneway(leader) {
    // The leader's requests reach the apiserver and are applied; every answer is dropped. It cannot know that its
    // renewals land, so it stands down at its renew deadline, and the Lease it last renewed expires after that.
    const holdMs = rng.uniform(1.1 * D, 2.5 * D);
    const proxy = proxies[leader.slot];
    const startAt = now();
    proxy.setMode('oneway');
    const dropped = proxy.stats.droppedBytes;
    const ended = await waitForTermEnd(leader, startAt, Math.min(holdMs, RD + 2000));
    await sleep(holdMs - msSince(startAt));
    const clearAt = now();
    proxy.setMode('pass');
    // The clock starts when the leader stood down (or its renew deadline passed): a renewal it sent until then
    // may have landed, and it holds the Lease for leaseDuration from there.
    const standDownAt = ended?.at ?? startAt + BigInt(RD) * 1_000_000n;
    faultRecord('oneway', leader, {
      startAt,
      clearAt,
      recoverFromAt: standDownAt < clearAt ? standDownAt : clearAt,
      exclude: leader.identity,
      excludeUntilAt: clearAt,
      holdMs,
      leaderStoodDownMs: ended ? Number(ended.at - startAt) / 1e6 : null,
    });
    return `answers dropped for ${holdMs.toFixed(0)}ms (${proxy.stats.droppedBytes - dropped} bytes); leader ${ended ? `stood down after ${(Number(ended.at - startAt) / 1e6).toFixed(0)}ms` : 'did not stand down in time'}`;
  },

  async skew(leader) {
    return skewEpisode(leader, {
      type: 'skew',
      how: rng.pick(['slow-leader', 'fast-follower']),
      rate: skewRate,
    });
  },

  async 'skew-beyond'(leader) {
    return skewEpisode(leader, { type: 'skew-beyond', how: 'slow-leader', rate: skewBeyondRate });
  },

  async 'etcd-member-restart'(leader) {
    const index = rng.int(0, plane.etcdUrls.length - 1);
    const how = rng.pick(['SIGTERM', 'SIGKILL']);
    const downMs = rng.uniform(0, D);
    const wasLeader = (await plane.etcdLeader()) === index;
    const startAt = now();
    await plane.stopEtcdMember(index, how);
    const stoppedAt = now();
    const etcdLeader = await plane.waitEtcdHealthy(30_000);
    const healthyAt = now();
    await sleep(downMs);
    await plane.startEtcdMember(index);
    const clearAt = now();
    faultRecord('etcd-member-restart', leader, {
      startAt,
      clearAt,
      recoverFromAt: healthyAt,
      member: index,
      how,
      wasLeader,
      electionMs: Number(healthyAt - stoppedAt) / 1e6,
    });
    return `member ${index}${wasLeader ? ' (the etcd leader)' : ''} ${how}, quorum with leader ${etcdLeader} after ${(Number(healthyAt - stoppedAt) / 1e6).toFixed(0)}ms, back after ${(Number(clearAt - startAt) / 1e6).toFixed(0)}ms`;
  },

  async 'etcd-leader-kill'(leader) {
    const index = await plane.etcdLeader();
    if (index === null) throw new Error('etcd-leader-kill: no etcd leader agreed');
    const downMs = rng.uniform(0, D);
    const startAt = now();
    await plane.stopEtcdMember(index, 'SIGKILL');
    const stoppedAt = now();
    const next = await plane.waitEtcdHealthy(30_000);
    const electedAt = now();
    await sleep(downMs);
    await plane.startEtcdMember(index);
    const clearAt = now();
    // Writes stall until the other members elect a leader; the clock starts then (like /readyz after a restart).
    faultRecord('etcd-leader-kill', leader, {
      startAt,
      clearAt,
      recoverFromAt: electedAt,
      member: index,
      newEtcdLeader: next,
      electionMs: Number(electedAt - stoppedAt) / 1e6,
    });
    return `etcd leader ${index} SIGKILLed, member ${next} elected after ${(Number(electedAt - stoppedAt) / 1e6).toFixed(0)}ms, ${index} back after ${(Number(clearAt - startAt) / 1e6).toFixed(0)}ms`;
  },

  async 'apiserver-kill'(leader) {
    // The leader's apiserver dies; after a health-check delay the load balancer moves everyone behind it.
    const index = apiserverOf(leader);
    const detectMs = rng.uniform(0, 0.5 * D);
    const startAt = now();
    await plane.stopApiserver('SIGKILL', index);
    await sleep(detectMs);
    const live = plane.servers
      .map((_url, other) => other)
      .filter((other) => other !== index && plane.apiserverRunning(other));
    const behind = proxies
      .map((proxy, slot) => (proxy.apiserver === index ? slot : null))
      .filter((slot) => slot !== null);
    const targets = behind.map((slot) => {
      const to = rng.pick(live);
      moveProxy(slot, to, 'apiserver-kill');
      return `${slot}→${to}`;
    });
    const movedAt = now();
    const startMs = await plane.startApiserver(index);
    const clearAt = now();
    faultRecord('apiserver-kill', leader, {
      startAt,
      clearAt,
      recoverFromAt: movedAt,
      apiserver: index,
      detectMs,
      moved: behind,
    });
    return `apiserver ${index} SIGKILLed; after ${detectMs.toFixed(0)}ms slots moved ${targets.join(' ')}; it was back ${startMs}ms after its restart`;
  },

  async 'apiserver-move'(leader) {
    // The load balancer moves the leader (and maybe one follower) to another apiserver.
    const from = apiserverOf(leader);
    const to = rng.pick(plane.servers.map((_url, index) => index).filter((index) => index !== from));
    const follower = rng.pick(liveReplicas().filter((replica) => replica !== leader));
    const alsoFollower = rng.next() < 0.5 && follower;
    const followerTo = rng.int(0, plane.servers.length - 1);
    const startAt = now();
    moveProxy(leader.slot, to, 'apiserver-move');
    if (alsoFollower) moveProxy(follower.slot, followerTo, 'apiserver-move');
    faultRecord('apiserver-move', leader, { startAt, clearAt: startAt, recoverFromAt: startAt, from, to });
    return `leader moved ${from}→${to}${alsoFollower ? `, ${follower.identity} → ${followerTo}` : ''}`;
  },

  async 'slow-watch'(leader) {
    // Watch events from one apiserver arrive late at every replica behind it; answers to requests do not.
    const index = rng.int(0, plane.servers.length - 1);
    const delayMs = Math.round(rng.uniform(0.3 * D, 1.5 * D));
    const holdMs = rng.uniform(1 * D, 3 * D);
    const behind = proxies.filter((proxy) => proxy.apiserver === index);
    const delayedBefore = behind.reduce((sum, proxy) => sum + proxy.stats.delayedChunks, 0);
    const startAt = now();
    for (const proxy of behind) proxy.setMode('slow-watch', delayMs);
    await sleep(holdMs);
    const clearAt = now();
    for (const proxy of behind) proxy.setMode('pass');
    const delayed = behind.reduce((sum, proxy) => sum + proxy.stats.delayedChunks, 0) - delayedBefore;
    faultRecord('slow-watch', leader, {
      startAt,
      clearAt,
      recoverFromAt: clearAt,
      apiserver: index,
      delayMs,
      holdMs,
      slots: behind.map((proxy) => proxy.slot),
      delayedChunks: delayed,
    });
    return `apiserver ${index}: watch events +${delayMs}ms for ${holdMs.toFixed(0)}ms to slots ${behind.map((proxy) => proxy.slot).join(',') || '(none)'} (${delayed} chunks delayed)`;
  },

  async 'slow-watch+kill'(leader) {
    // Every follower is behind one apiserver whose watch events arrive late; then the leader dies. A follower
    // that follows by watch does not poll: it sees the leader's last renewal `delayMs` late and waits
    // leaseDuration from then. So the clock starts at the kill + the lag (as latency+kill's does at the kill + the
    // latency); measured from the kill, recovery is about leaseDuration + the lag.
    const index = rng.pick(plane.servers.map((_url, other) => other).filter((other) => other !== apiserverOf(leader)));
    const delayMs = Math.round(rng.uniform(0.3 * D, 1.0 * D));
    const followers = liveReplicas().filter((replica) => replica !== leader);
    for (const follower of followers) {
      if (apiserverOf(follower) !== index) moveProxy(follower.slot, index, 'slow-watch+kill');
    }
    await sleep(2 * RP);
    const behind = proxies.filter((proxy) => proxy.apiserver === index);
    const startAt = now();
    for (const proxy of behind) proxy.setMode('slow-watch', delayMs);
    await sleep(rng.uniform(RP, D));
    const killAt = signal(leader, 'SIGKILL');
    await leader.exitedPromise;
    const next = await waitForNewTerm(killAt, leader.identity, recoveryBoundMs * 3);
    for (const proxy of behind) proxy.setMode('pass');
    const clearAt = now();
    void relaunchLater(leader.slot, rng.uniform(0, 1000));
    faultRecord('slow-watch+kill', leader, {
      startAt,
      clearAt,
      recoverFromAt: killAt + BigInt(delayMs) * 1_000_000n,
      exclude: leader.identity,
      excludeUntilAt: killAt,
      apiserver: index,
      delayMs,
      recoveryFromKillMs: next ? Number(next.at - killAt) / 1e6 : null,
    });
    return `followers behind apiserver ${index}, watch events +${delayMs}ms; leader killed; ${next ? `${next.replica.identity} leads after ${(Number(next.at - killAt) / 1e6).toFixed(0)}ms` : 'no leader'}`;
  },
};

/**
 * Restarts a follower's slot with its clock at `rate` (slow-leader: 1/rate, and it is made the leader; fast-follower:
 * rate), partitions the leader for 1.1–2.5 × leaseDuration, then replaces the skewed replica with a normal one.
 * Inside the tolerance (rate < leaseDuration / renewDeadline) there must be no overlap; beyond it there will be.
 */
async function skewEpisode(leader, { type, how, rate }) {
  const clockRate = how === 'slow-leader' ? Number((1 / rate).toFixed(6)) : rate;
  // Beyond the tolerance the partition outlasts a successor's takeover for sure (1.5 × leaseDuration or more).
  const holdMs = rng.uniform(type === 'skew-beyond' ? 1.5 * D : 1.1 * D, 2.5 * D);
  const others = liveReplicas().filter((replica) => replica !== leader);
  const victim = rng.pick(others);
  const releaseDelay = rng.uniform(0, 1000);
  // 1. Replace a follower with a skewed process.
  signal(victim, 'SIGTERM');
  await Promise.race([victim.exitedPromise, sleep(10_000)]);
  if (!victim.exited) {
    signal(victim, 'SIGKILL');
    await victim.exitedPromise;
  }
  const skewed = await launch(victim.slot, { clockRate });
  await waitForParticipants();
  if (!(await clockSample(skewed))) {
    const message = `${skewed.identity}: no answer to clock pings; its times cannot be placed`;
    record({ kind: 'problem', problem: 'clock-sample-failed', message, at: now() });
    log(`!! ${message}`);
  }
  let target = leader;
  if (how === 'slow-leader') {
    // 2. Make it the leader: the other followers are cut off, the leader releases (SIGTERM), the skewed one takes over.
    const fenced = liveReplicas().filter((replica) => replica !== leader && replica !== skewed);
    const fenceStartAt = now();
    for (const replica of fenced) proxies[replica.slot].setMode('blackhole');
    const termAt = signal(leader, 'SIGTERM');
    await Promise.race([leader.exitedPromise, sleep(10_000)]);
    if (!leader.exited) {
      signal(leader, 'SIGKILL');
      await leader.exitedPromise;
    }
    const next = await waitForNewTerm(termAt, leader.identity, recoveryBoundMs * 3);
    for (const replica of fenced) proxies[replica.slot].setMode('pass');
    faultRecord(`${type}-handover`, leader, {
      startAt: termAt,
      clearAt: termAt,
      recoverFromAt: termAt,
      exclude: leader.identity,
      excludeUntilAt: termAt,
      // Every follower but the skewed one cut off: the checker's ownership bound counts from the end of the fence.
      fenceStartAt,
      fenceClearAt: now(),
      fenced: fenced.map((replica) => replica.identity),
    });
    await sleep(releaseDelay);
    await launch(leader.slot);
    target = (await waitForStableLeader(recoveryBoundMs * 4)) ?? next?.replica ?? skewed;
    if (target !== skewed)
      log(`   ${skewed.identity} did not take over (${target.identity} leads); partitioning it anyway`);
  }
  // 3. Partition the leader.
  const proxy = proxies[target.slot];
  const startAt = now();
  proxy.setMode('blackhole');
  await sleep(holdMs);
  const clearAt = now();
  proxy.setMode('pass');
  faultRecord(type, target, {
    startAt,
    clearAt,
    recoverFromAt: startAt,
    exclude: target.identity,
    excludeUntilAt: clearAt,
    holdMs,
    how,
    clockRate,
    skewed: skewed.identity,
    skewedLed: target === skewed,
  });
  await waitForStableLeader(recoveryBoundMs * 4);
  // 4. A second clock sample (the checker fits the rate through both), then a normal process in its place.
  const sample = await clockSample(skewed);
  signal(skewed, 'SIGTERM');
  skewed.child.disconnect?.();
  await Promise.race([skewed.exitedPromise, sleep(10_000)]);
  if (!skewed.exited) {
    signal(skewed, 'SIGKILL');
    await skewed.exitedPromise;
  }
  await launch(skewed.slot);
  return `${how}: ${skewed.identity} at clock rate ${clockRate}${sample ? '' : ' (no second clock sample)'}; ${target.identity}${target === skewed ? ' (skewed)' : ''} partitioned ${holdMs.toFixed(0)}ms`;
}

// ------------------------------------------------------------- cleanup

async function cleanup() {
  if (cleaning) return cleaning;
  cleaning = (async () => {
    for (const replica of replicas.values()) {
      if (replica.exited) continue;
      if (replica.frozen) signal(replica, 'SIGCONT');
      signal(replica, 'SIGKILL');
    }
    await Promise.race([Promise.all([...replicas.values()].map((replica) => replica.exitedPromise)), sleep(5000)]);
    await Promise.all(proxies.map((proxy) => proxy.close()));
    await plane?.stop();
  })();
  return cleaning;
}
function killAllSync() {
  for (const replica of replicas.values()) {
    try {
      if (!replica.exited) replica.child.kill('SIGKILL');
    } catch {
      // gone
    }
  }
}
process.on('exit', killAllSync);
for (const name of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(name, () => {
    console.log(`\nchaos: ${name}; stopping replicas and the control plane (run dir kept: ${runDir})`);
    void cleanup().finally(() => process.exit(130));
  });
}

// ------------------------------------------------------------------- run

function formatSummary(summary) {
  const lines = [];
  const { check } = summary;
  lines.push('');
  lines.push(`chaos summary: seed ${summary.seed}, ${summary.replicas} replicas, lease ${D}/${RD}/${RP} ms`);
  lines.push(`  fault injection ${summary.faultMinutes.toFixed(2)} min, wall time ${summary.wallSeconds.toFixed(0)} s`);
  lines.push(
    summary.ha
      ? `  control plane: HA, ${summary.ha.etcdMembers} etcd members, ${summary.ha.apiservers} apiservers; ${summary.ha.moves} proxy moves`
      : '  control plane: one etcd, one apiserver',
  );
  const clocks = Object.entries(check.clocks ?? {});
  if (clocks.length > 0) {
    lines.push(
      `  skewed clocks (libfaketime; rate set → measured over IPC): ${clocks
        .map(([identity, clock]) => `${identity} ${clock.rate} → ${clock.measuredRate ?? '?'}`)
        .join(', ')}`,
    );
  }
  lines.push(
    `  faults injected (${Object.values(check.faults).reduce((a, b) => a + b, 0)}): ${Object.entries(check.faults)
      .map(([type, count]) => `${type} ${count}`)
      .join(', ')}`,
  );
  lines.push(
    `  malformed Lease shapes: ${Object.entries(summary.malformedShapes)
      .map(
        ([shape, result]) =>
          `${shape} ${result.accepted}/${result.attempts} stored${Object.keys(result.rejected).length ? ` (rejected ${Object.keys(result.rejected).join('/')})` : ''}${result.droppedByApiserver ? ` (apiserver dropped ${result.droppedByApiserver.join(' and ')})` : ''}`,
      )
      .join('; ')}`,
  );
  lines.push(
    `  terms: ${check.terms} (${check.termsClampedAtFreeze} cut at a freeze), replicas launched: ${summary.replicasLaunched}, fencing tokens ${check.fencingTokens ? `${check.fencingTokens.first} → ${check.fencingTokens.last}` : '-'}`,
  );
  lines.push(`  max term overlap: ${check.maxTermOverlapMs.toFixed(3)} ms (goal 0)`);
  lines.push(`  max leader-only work overlap: ${check.maxWorkOverlapMs.toFixed(3)} ms (goal 0)`);
  lines.push(
    `  leader-only executions: ${check.leaderOnlyExecutions} (${check.leaderOnlyExecutionsAborted} ended by their term's signal, ${check.leaderOnlyWorkLost} lost: begun, never ended, no SIGKILL)`,
  );
  const naive = check.naiveWork;
  const spread = check.spread;
  if (spread) {
    lines.push(
      `  spread jobs (${summary.spreadJobs} configured, ${spread.elections} elections seen): ${spread.terms} job terms (${spread.handovers} handed over, ${spread.termsClampedAtFreeze} cut at a freeze); ` +
        `max job term overlap ${spread.maxTermOverlapMs.toFixed(3)} ms, max job work overlap ${spread.maxWorkOverlapMs.toFixed(3)} ms (goal 0)`,
    );
    lines.push(
      `    job work units: ${spread.workUnits} (${spread.workAborted} ended by their term's signal, ${spread.workLost} lost); ` +
        `longest gap without a holder ${spread.maxGapMs.toFixed(0)} ms, after a handover ${spread.maxHandoverGapMs === null ? '-' : `${spread.maxHandoverGapMs.toFixed(0)} ms`}`,
    );
    const { worst, bound, checkedGaps } = spread.ownership;
    lines.push(
      `    ownership (${checkedGaps} gaps checked): longest after the faults touching the job cleared ${
        worst
          ? `${worst.afterMs.toFixed(0)} ms (${worst.election}, a gap of ${worst.gapMs.toFixed(0)} ms; cleared by ${worst.clearedBy}), bound ${worst.boundMs.toFixed(0)} ms with ${worst.members} members`
          : '-'
      }; bound ${bound.boundMs.toFixed(0)} ms = leaseDuration + 2.2 × retryPeriod + ${bound.standBackMs} ms stand-back (${bound.members} members) + 2 × requestTimeout + ${slackMs} ms slack`,
    );
    lines.push(
      `    job terms ended by reason: ${Object.entries(spread.endReasons)
        .map(([reason, count]) => `${reason} ${count}`)
        .join(', ')}`,
    );
    lines.push(
      `    job terms per replica: ${Object.entries(spread.termsPerIdentity)
        .map(([identity, count]) => `${identity} ${count}`)
        .join(', ')}`,
    );
    lines.push(
      `    per job (terms/handovers/units/holders, tokens): ${Object.entries(spread.byElection)
        .map(
          ([election, value]) =>
            `${election} ${value.terms}/${value.handovers}/${value.workUnits}/${value.holders} ${value.fencingTokens ? `${value.fencingTokens.first} → ${value.fencingTokens.last}` : '-'}`,
        )
        .join(', ')}`,
    );
    lines.push(
      `    job errors (operation/reason): ${
        Object.entries(summary.jobErrorsByReason)
          .sort((a, b) => b[1] - a[1])
          .map(([key, count]) => `${key} ${count}`)
          .join(', ') || 'none'
      }; job demotions: ${
        Object.entries(summary.jobDemotionsByReason)
          .map(([key, count]) => `${key} ${count}`)
          .join(', ') || 'none'
      }`,
    );
  } else {
    lines.push(`  spread jobs (${summary.spreadJobs} configured): no job events`);
  }
  lines.push(
    `  naive job (ignores the signal): ${naive.executions} executions, ${naive.overlapping} ran beside another replica's term; ` +
      `overlap max ${naive.maxOverlapMs.toFixed(0)} ms, total ${naive.totalOverlapMs.toFixed(0)} ms (why work must stop on term.signal)`,
  );
  lines.push(
    `  worst recovery: ${check.worstRecovery ? `${check.worstRecovery.ms} ms = ${check.worstRecovery.timesLeaseDuration} × leaseDuration (${check.worstRecovery.fault})` : '-'}; bound ${check.recoveryBoundMs.toFixed(0)} ms = leaseDuration + 2.2 × retryPeriod + ${slackMs} ms slack`,
  );
  lines.push(
    `  recovery by fault type (max/mean ms): ${Object.entries(check.recoveryByType)
      .map(([type, value]) => `${type} ${value.maxMs}/${value.meanMs}`)
      .join(', ')}`,
  );
  lines.push(
    `  errors by reason (operation/reason, summed over replicas): ${
      Object.entries(summary.errorsByReason)
        .sort((a, b) => b[1] - a[1])
        .map(([key, count]) => `${key} ${count}`)
        .join(', ') || 'none'
    }`,
  );
  lines.push(
    `  demotions by reason: ${
      Object.entries(summary.demotionsByReason)
        .map(([key, count]) => `${key} ${count}`)
        .join(', ') || 'none'
    }`,
  );
  if (check.health) {
    const reasons = (counts) =>
      Object.entries(counts.downReasons)
        .sort((a, b) => b[1] - a[1])
        .map(([reason, count]) => `${count} × ${reason}`)
        .join('; ') || 'none';
    lines.push(
      `  health probes (every 250–500 ms while running and not frozen; a non-200 within ${check.health.startupGraceMs} ms of launch or ${check.health.postWakeGraceMs} ms of SIGCONT is excused):`,
    );
    lines.push(`    /health/live:  ${formatProbeCounts(check.health.live)}`);
    lines.push(`      non-200 answers: ${reasons(check.health.live)}`);
    lines.push(`    /health/ready: ${formatProbeCounts(check.health.ready)}`);
    lines.push(`      non-200 answers: ${reasons(check.health.ready)}`);
    for (const [identity, counts] of Object.entries(check.health.byReplica)) {
      const short = (c) => `${c.sent}/${c.ok}/${c.down}/${c.noAnswer}`;
      lines.push(
        `    ${identity.padEnd(6)} live ${short(counts.live)}, ready ${short(counts.ready)} (sent/200/non-200/no answer)`,
      );
    }
  }
  lines.push(`  crashes (unexpected exits): ${summary.crashes}`);
  if (check.violations.length === 0) lines.push('  violations: none');
  else {
    lines.push(`  VIOLATIONS (${check.violations.length}):`);
    for (const item of check.violations.slice(0, 40)) lines.push(`    - [${item.kind}] ${item.message}`);
    if (check.violations.length > 40)
      lines.push(`    ... and ${check.violations.length - 40} more (see the summary JSON)`);
  }
  return lines.join('\n');
}

// Everything is bounded: the fault phase (with the first round's overrun), plus setup and teardown.
// The first round runs every type (about 10 s each, apiserver restarts more): its overrun scales with their number.
const overrunMs = Math.max(120_000, minutes * 30_000, faultTypes.length * 15_000);
const hardLimitMs = (minutes * 60_000 + overrunMs) * 1.2 + 180_000;
setTimeout(() => {
  console.error(
    `chaos: hard time limit (${(hardLimitMs / 60_000).toFixed(1)} min) reached; aborting (run dir kept: ${runDir})`,
  );
  void cleanup().finally(() => process.exit(3));
}, hardLimitMs).unref();

let exitCode;
try {
  appMain = snapshotApp();
  plane = await startControlPlane({
    candidates: replicaCount,
    dir: join(runDir, 'control-plane'),
    log: (message) => log(`control plane ${message}`),
    ...(ha ? { ha: { etcdMembers: 3, apiservers: apiserverCount } } : {}),
  });
  // With --ha each replica reaches a random apiserver (seeded, spread evenly); the kubeconfigs name the proxy.
  const spread = ha ? rng.shuffle(Array.from({ length: replicaCount }, (_slot, index) => index % apiserverCount)) : [];
  for (let slot = 0; slot < replicaCount; slot++) {
    const apiserver = ha ? spread[slot] : 0;
    const apiPort = Number(new URL(plane.servers[apiserver]).port);
    const proxy = await startFaultProxy({ target: { host: '127.0.0.1', port: apiPort }, name: `slot-${slot}` });
    proxy.apiserver = apiserver;
    proxy.slot = slot;
    // Every mode change goes to the timeline: the checker's ownership bound counts from when a replica's proxy passes
    // again (plus the delay of chunks already queued).
    const setMode = proxy.setMode;
    proxy.setMode = (mode, delayMs = 0) => {
      setMode(mode, delayMs);
      record({ kind: 'proxy', slot, mode, delayMs, at: now() });
    };
    const original = readFileSync(plane.kubeconfigs[`candidate-${slot}`], 'utf8');
    proxy.kubeconfig = join(runDir, 'kubeconfigs', `slot-${slot}.yaml`);
    writeFileSync(proxy.kubeconfig, original.replace(plane.server, `https://127.0.0.1:${proxy.port}`));
    proxies.push(proxy);
  }
  // Replicas die with us even if we are SIGKILLed.
  spawn(process.execPath, [join(root, 'test/support/control-plane/watchdog.mjs'), String(process.pid), pidFile], {
    stdio: 'ignore',
    detached: true,
  }).unref();
  const leaseObserver = spreadJobs > 0 ? observeJobLeases() : null;
  for (let slot = 0; slot < replicaCount; slot++) await launch(slot);
  log(
    `${replicaCount} replicas launched (run dir ${runDir})${ha ? `; apiserver per slot: ${proxies.map((proxy) => proxy.apiserver).join(',')}` : ''}`,
  );
  const first = await waitForStableLeader(60_000);
  if (!first) throw new Error('no stable leader within 60s of launch');
  log(`leader: ${first.identity}`);

  const scraper = setInterval(() => liveReplicas().forEach((replica) => void scrapeMetrics(replica)), 5000);
  const faultPhaseBegan = Date.now();
  const deadline = faultPhaseBegan + minutes * 60_000;
  // Every type once, then random ones; the first round completes even past the deadline, within a hard cap.
  const hardCap = deadline + overrunMs;
  const queue = rng.shuffle(faultTypes);
  let injected = 0;
  while (injected < Number(flags['max-faults'])) {
    if (queue.length === 0) {
      if (Date.now() >= deadline) break;
      queue.push(rng.pick(faultTypes));
    }
    if (Date.now() >= hardCap) break;
    const type = queue.shift();
    const cooldown = rng.uniform(300, 1500);
    await waitForParticipants();
    const leader = await waitForStableLeader(recoveryBoundMs * 4);
    if (!leader) {
      record({ kind: 'problem', problem: 'no-stable-leader', message: `no stable leader before ${type}`, at: now() });
      log(`!! no stable leader before ${type}; continuing`);
      const any = await waitForStableLeader(60_000);
      if (!any) throw new Error('no leader for a whole minute; giving up');
      continue;
    }
    injected++;
    log(`fault ${injected}: ${type} on ${leader.identity}`);
    const outcome = await FAULTS[type](leader);
    log(`   ${outcome}`);
    await sleep(cooldown);
  }
  const faultMinutes = (Date.now() - faultPhaseBegan) / 60_000;

  // Final scrape, then a graceful stop of everyone (stragglers are killed).
  await waitForStableLeader(recoveryBoundMs * 4);
  clearInterval(scraper);
  probing = false;
  await Promise.all(liveReplicas().map((replica) => scrapeMetrics(replica)));
  // Jobs are released from here on: the checker's ownership gaps stop at this moment.
  record({ kind: 'shutdown', at: now() });
  observingLeases = false;
  await leaseObserver;
  for (const replica of liveReplicas()) signal(replica, 'SIGTERM');
  await Promise.race([Promise.all(liveReplicas().map((replica) => replica.exitedPromise)), sleep(15_000)]);
  for (const replica of liveReplicas()) {
    record({
      kind: 'problem',
      problem: 'shutdown-timeout',
      message: `${replica.identity} did not exit within 15s of SIGTERM`,
      at: now(),
    });
    signal(replica, 'SIGKILL');
  }
  await Promise.all([...replicas.values()].map((replica) => replica.exitedPromise));
  const endAt = now();
  pollAll();

  // The checker gets what each replica logged (a skewed one's faked times are mapped through its clock samples).
  const events = new Map(
    [...replicas.values()].map((replica) => [
      replica.identity,
      replica.tail.events.map((event) => (event.rawAt === event.at ? event : { ...event, at: event.rawAt })),
    ]),
  );
  const check = checkRun({ events, timeline, probes, timings, slackMs, endAt, spreadJobs, replicas: replicaCount });
  // Crash markers in replica output that did not kill the process.
  for (const replica of replicas.values()) {
    const output = readFileSync(join(runDir, 'logs', `${replica.identity}.log`), 'utf8');
    for (const marker of ['elector loop crashed', 'listener threw', 'UnhandledPromiseRejection', 'uncaughtException']) {
      if (output.includes(marker)) {
        check.violations.push({ kind: 'crash', message: `${replica.identity} logged "${marker}"` });
      }
    }
  }
  check.ok = check.violations.length === 0;

  const errorsByReason = {};
  const demotionsByReason = {};
  const jobErrorsByReason = {};
  const jobDemotionsByReason = {};
  const sum = (into, counts) => {
    for (const [key, count] of Object.entries(counts ?? {})) into[key] = (into[key] ?? 0) + count;
  };
  for (const replica of replicas.values()) {
    sum(errorsByReason, replica.metrics?.errors);
    sum(demotionsByReason, replica.metrics?.demoted);
    sum(jobErrorsByReason, replica.metrics?.jobErrors);
    sum(jobDemotionsByReason, replica.metrics?.jobDemoted);
  }
  const summary = {
    seed,
    replay,
    ha: ha
      ? {
          etcdMembers: plane.etcdUrls.length,
          apiservers: plane.servers.length,
          moves: timeline.filter((entry) => entry.kind === 'move').length,
        }
      : null,
    faultTypes,
    malformedShapeNames: [...Object.keys(HELD_SHAPES), ...Object.keys(UNHELD_SHAPES)],
    replicas: replicaCount,
    timings,
    slackMs,
    faultMinutes,
    wallSeconds: (Date.now() - started) / 1000,
    replicasLaunched: replicas.size,
    malformedShapes: shapeResults,
    errorsByReason,
    demotionsByReason,
    spreadJobs,
    jobErrorsByReason,
    jobDemotionsByReason,
    crashes: check.violations.filter((item) => item.kind === 'crash').length,
    ok: check.ok,
    check,
    runDir,
  };
  if (skewSelfTest) {
    // The checker must see the overlap a clock beyond the tolerance causes, and only there.
    const skewed = new Set(timeline.filter((entry) => entry.kind === 'clock').map((entry) => entry.identity));
    const pairs = check.violations.filter((item) => item.kind === 'term-overlap');
    const stray = pairs.filter((item) => !skewed.has(item.first.identity) && !skewed.has(item.second.identity));
    // The skewed leader may hold spread jobs too: their overlaps must involve it as well (they are not required).
    const jobPairs = check.violations.filter((item) => item.kind === 'job-term-overlap');
    const strayJobs = jobPairs.filter((item) => !skewed.has(item.first.identity) && !skewed.has(item.second.identity));
    summary.skewSelfTest = {
      ok: check.maxTermOverlapMs > 0 && stray.length === 0 && strayJobs.length === 0,
      termOverlaps: pairs.length,
      maxTermOverlapMs: check.maxTermOverlapMs,
      strayOverlaps: stray.length,
      jobTermOverlaps: jobPairs.length,
      strayJobOverlaps: strayJobs.length,
    };
  }
  console.log(formatSummary(summary));
  if (flags.summary) writeFileSync(flags.summary, serialize(summary));
  exitCode = check.ok ? 0 : 1;
  if (skewSelfTest) {
    const result = summary.skewSelfTest;
    console.log(
      `\nskew self-test (leader clock at 1/${skewBeyondRate}, beyond leaseDuration / renewDeadline = ${D / RD}): ` +
        (result.ok
          ? `ok: the checker reported ${result.termOverlaps} term overlap(s), max ${result.maxTermOverlapMs.toFixed(0)} ms, all involving the skewed replica` +
            ` (spread jobs: ${result.jobTermOverlaps} term overlap(s), all involving it)`
          : `FAILED: ${result.termOverlaps} term overlap(s) (max ${result.maxTermOverlapMs.toFixed(0)} ms), ${result.strayOverlaps} not involving the skewed replica;` +
            ` spread jobs: ${result.jobTermOverlaps} term overlap(s), ${result.strayJobOverlaps} not involving it`),
    );
    exitCode = result.ok ? 0 : 1;
  }
  if (exitCode !== 0)
    console.log(
      `\nchaos: FAILED; run dir kept for inspection: ${runDir} (re-check: node test/chaos/checker.mjs ${runDir})`,
    );
} catch (error) {
  console.error(`chaos: aborted: ${error.stack ?? error}`);
  console.error(`chaos: run dir kept: ${runDir}`);
  exitCode = 2;
}
await cleanup();
if (exitCode === 0 && !flags.keep && !flags.dir) rmSync(runDir, { recursive: true, force: true });
else if (exitCode === 0) console.log(`chaos: run dir kept: ${runDir}`);
// A failed run keeps its logs, events and timeline, but not the etcd data and app copy (tens of MB) unless --keep.
if (exitCode !== 0 && !flags.keep) {
  for (const bulky of [join(runDir, 'control-plane', 'etcd-data'), join(runDir, 'app')]) {
    rmSync(bulky, { recursive: true, force: true });
  }
}
process.exit(exitCode);
