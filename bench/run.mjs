// `npm run bench`: our elector side by side with client-go's, against one real
// kube-apiserver on loopback. See bench/README.md for what each scenario
// measures. `--quick` runs a reduced set and fails (exit 1) only if ours is
// slower than client-go on graceful handover or busier on follower requests.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { KUBERNETES_VERSION } from '../test/support/control-plane/binaries.mjs';
import { startControlPlane } from '../test/support/control-plane/control-plane.mjs';
import { CLIENT_GO_VERSION, ensureClientGoCandidate } from './clientgo-binary.mjs';
import {
  AuditLog,
  Fleet,
  countOpenWatches,
  countRequests,
  delay,
  formatTable,
  implementation,
  killAllCandidates,
  msBetween,
  now,
  perMinutePerCandidate,
  summarize,
} from './support.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');

/** Named lease timings in ms: client-go's defaults, and a short variant that makes trials cheap. */
const TIMINGS = {
  default: { leaseDuration: 15_000, renewDeadline: 10_000, retryPeriod: 2_000 },
  short: { leaseDuration: 4_000, renewDeadline: 2_000, retryPeriod: 500 },
};
const SCENARIOS = ['graceful', 'crash', 'steady', 'scale', 'isleader', 'deadline'];

// ------------------------------------------------------------- options

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    scenarios: { type: 'string' },
    timings: { type: 'string' },
    'cost-timings': { type: 'string' },
    'graceful-trials': { type: 'string' },
    'crash-trials': { type: 'string' },
    'handover-candidates': { type: 'string' },
    window: { type: 'string' },
    followers: { type: 'string' },
    scale: { type: 'string' },
    'scale-window': { type: 'string' },
    'isleader-iterations': { type: 'string' },
    'deadline-terms': { type: 'string' },
    'max-minutes': { type: 'string' },
    out: { type: 'string' },
    gate: { type: 'boolean' },
    // Node 20's parseArgs has no negated booleans, so --no-gate is its own flag.
    'no-gate': { type: 'boolean' },
    help: { type: 'boolean', default: false },
  },
});

if (flags.help) {
  process.stdout.write(`Usage: node bench/run.mjs [--quick] [options]
  --scenarios LIST            ${SCENARIOS.join(',')} (default: all)
  --timings LIST              timing variants for handover and failover: default,short (quick: short)
  --cost-timings NAME         timing variant for steady-state cost and scale (default: default; quick: short)
  --graceful-trials N         graceful handover trials per implementation and variant (30; quick 8)
  --crash-trials N            crash failover trials per implementation and variant (6; quick 3)
  --handover-candidates N     candidates per handover/failover trial (3)
  --window SECONDS            steady-state counting window (120; quick 20)
  --followers N               steady-state followers besides the leader (4)
  --scale N                   candidates on one Lease in the scale scenario (50)
  --scale-window SECONDS      request-counting window of the scale scenario (60; quick 10)
  --isleader-iterations N     isLeader calls per timed run (5000000)
  --deadline-terms N          terms measured for the lateness of a term's end after its renew deadline (400; quick 120)
  --max-minutes M             stop starting trials after M minutes (45; quick 10)
  --out FILE                  JSON result file (bench/results/latest.json)
  --gate / --no-gate          exit 1 if ours is slower on graceful handover or busier per follower (quick: on)
timings: ${Object.entries(TIMINGS)
    .map(([name, t]) => `${name} = ${t.leaseDuration}/${t.renewDeadline}/${t.retryPeriod} ms`)
    .join(', ')}
`);
  process.exit(0);
}

const quick = flags.quick;
const int = (value, fallback) => (value === undefined ? fallback : Number.parseInt(value, 10));
const list = (value, fallback) => (value === undefined ? fallback : value.split(',').map((item) => item.trim()));
const options = {
  scenarios: list(flags.scenarios, SCENARIOS),
  timings: list(flags.timings, quick ? ['short'] : ['default', 'short']),
  costTimings: flags['cost-timings'] ?? (quick ? 'short' : 'default'),
  gracefulTrials: int(flags['graceful-trials'], quick ? 8 : 30),
  crashTrials: int(flags['crash-trials'], quick ? 3 : 6),
  handoverCandidates: int(flags['handover-candidates'], 3),
  windowSeconds: int(flags.window, quick ? 20 : 120),
  followers: int(flags.followers, 4),
  scale: int(flags.scale, 50),
  scaleWindowSeconds: int(flags['scale-window'], quick ? 10 : 60),
  isLeaderIterations: int(flags['isleader-iterations'], 5_000_000),
  deadlineTerms: int(flags['deadline-terms'], quick ? 120 : 400),
  maxMinutes: int(flags['max-minutes'], quick ? 10 : 45),
  out: flags.out ?? join(here, 'results', 'latest.json'),
  gate: flags['no-gate'] ? false : (flags.gate ?? quick),
};
for (const name of [...options.timings, options.costTimings]) {
  if (!TIMINGS[name]) throw new Error(`unknown timing variant ${name}; use ${Object.keys(TIMINGS).join(', ')}`);
}
for (const name of options.scenarios) {
  if (!SCENARIOS.includes(name)) throw new Error(`unknown scenario ${name}; use ${SCENARIOS.join(', ')}`);
}
if (options.handoverCandidates < 2) throw new Error('--handover-candidates must be at least 2');

const benchStarted = Date.now();
const deadline = benchStarted + options.maxMinutes * 60_000;
const outOfTime = () => Date.now() > deadline;
const log = (message) => process.stderr.write(`[bench] ${message}\n`);
const timingLabel = (t) => `${t.leaseDuration / 1000}s/${t.renewDeadline / 1000}s/${t.retryPeriod / 1000}s`;
const timingEnv = (t) => ({
  LEASE_DURATION: String(t.leaseDuration),
  RENEW_DEADLINE: String(t.renewDeadline),
  RETRY_PERIOD: String(t.retryPeriod),
  LEASE_NAMESPACE: 'default',
});

// ------------------------------------------------------------- cleanup

let plane;
let shuttingDown = false;
process.on('exit', killAllCandidates);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, async () => {
    if (shuttingDown) return;
    shuttingDown = true;
    log(`${signal}: killing candidates and stopping the control plane`);
    killAllCandidates();
    await plane?.stop().catch(() => undefined);
    process.exit(130);
  });
}

// --------------------------------------------------------------- setup

log(`options: ${JSON.stringify({ ...options, out: relative(root, options.out) })}`);
const clientGo = await ensureClientGoCandidate();
log(`client-go candidate: ${clientGo.path} (${clientGo.source})`);
const build = snapshotBuild();
log(`ours: dist/ ${build.hash} (snapshot in ${relative(root, build.dir)})`);
const IMPLS = {
  ours: implementation('ours', process.execPath, [join(build.dir, 'test', 'support', 'candidate-process.mjs')]),
  'client-go': implementation('client-go', clientGo.path),
};
const IMPL_NAMES = Object.keys(IMPLS);
// Alternate which implementation goes first, so neither always runs on a warmer or quieter machine.
const orderFor = (trial) => (trial % 2 === 0 ? IMPL_NAMES : [...IMPL_NAMES].reverse());

const candidateUsers = Math.max(options.scale, 2 * (options.followers + 1), options.handoverCandidates);
plane = await startControlPlane({ auditLog: true, candidates: candidateUsers, log });
const audit = new AuditLog(plane.auditLogPath);
const user = (index) => `candidate-${index}`;
let leaseCounter = 0;
const leaseName = (scenario, impl) => `bench-${scenario}-${impl}-${++leaseCounter}`;

const results = {
  meta: {
    startedAt: new Date(benchStarted).toISOString(),
    node: process.version,
    go: spawnSync('go', ['version'], { encoding: 'utf8' }).stdout?.trim(),
    clientGo: CLIENT_GO_VERSION,
    kubernetes: KUBERNETES_VERSION,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    gitCommit: git(['rev-parse', '--short', 'HEAD']),
    gitDirty: git(['status', '--porcelain', '--', 'lib']) !== '',
    distHash: build.hash,
    clientGoCandidate: clientGo,
    timings: TIMINGS,
    options: { ...options, out: relative(root, options.out) },
    truncated: false,
  },
  graceful: {},
  crash: {},
  steady: {},
  scale: {},
  isLeader: {},
  deadline: {},
  /** Trials that failed, or graceful handovers slower than leaseDuration, with their evidence. */
  anomalies: [],
};

/**
 * Copies dist/ and the scripts that import it into bench/results/.build-<pid>/, keeping their relative layout
 * (so `../../dist/esm/index.js` and the node_modules lookup still resolve). A test run or a parallel session that
 * rebuilds dist/ during a long benchmark then cannot change our implementation between trials.
 */
function snapshotBuild() {
  const results = join(here, 'results');
  for (const stale of existsSync(results) ? readdirSync(results) : []) {
    const pid = Number(/^\.build-(\d+)$/.exec(stale)?.[1]);
    if (pid && !isAlive(pid)) rmSync(join(results, stale), { recursive: true, force: true });
  }
  if (!existsSync(join(root, 'dist', 'esm', 'index.js')))
    throw new Error('dist/ is missing: run `npm run build` first');
  const dir = join(results, `.build-${process.pid}`);
  cpSync(join(root, 'dist'), join(dir, 'dist'), { recursive: true });
  for (const file of [
    'test/support/candidate-process.mjs',
    'bench/isleader-cost.mjs',
    'bench/rss-cost.mjs',
    'bench/term-deadline-lateness.mjs',
    'bench/support.mjs',
  ]) {
    cpSync(join(root, file), join(dir, file));
  }
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const hash = createHash('sha256');
  for (const file of readdirSync(join(dir, 'dist'), { recursive: true }).sort()) {
    if (file.endsWith('.js')) hash.update(file).update(readFileSync(join(dir, 'dist', file)));
  }
  return { dir, hash: hash.digest('hex').slice(0, 12) };
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}

function git(args) {
  try {
    return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------- scenarios

/**
 * Launches `count` candidates on a fresh Lease and waits until one leads and
 * every candidate has reported that leader, so followers have seen it at
 * least once. Returns null (after logging why) if that does not happen.
 */
async function startSettledFleet(impl, t, count, scenario, firstUser = 0) {
  const lease = leaseName(scenario, impl);
  const fleet = new Fleet(IMPLS[impl], { ...timingEnv(t), LEASE_NAME: lease });
  fleet.lease = lease;
  for (let i = 0; i < count; i++) {
    fleet.launch(`${lease}-${i}`, user(firstUser + i), plane.kubeconfigs[user(firstUser + i)]);
  }
  const leader = await fleet.waitUntil(() => {
    const agreed = fleet.agreedLeader();
    return agreed && fleet.alive().length === count && fleet.leaders().includes(agreed) ? agreed : null;
  }, 30_000 + t.leaseDuration);
  if (!leader) {
    log(`${impl}: no settled leader on ${lease} within the timeout\n${fleet.diagnostics()}`);
    await fleet.kill();
    return null;
  }
  fleet.leader = leader;
  return fleet;
}

/** Waits a random part of the follower retry cycle, so a stop lands at a random phase of the polling. */
const randomPhase = (t) => delay(Math.random() * 2.2 * t.retryPeriod);

/**
 * Stops the leader with `signal` and measures until another candidate's
 * started event. Returns the latency in ms, or null on timeout.
 */
async function handoverTrial(impl, t, signal, scenario) {
  const auditOffset = audit.offset();
  const fleet = await startSettledFleet(impl, t, options.handoverCandidates, scenario);
  if (!fleet) return null;
  try {
    await randomPhase(t);
    const old = fleet.candidates.find((candidate) => candidate.identity === fleet.leader);
    const stoppedAt = now();
    old.child.kill(signal);
    const next = await fleet.waitUntil(
      () =>
        fleet.find((event) => event.event === 'started' && event.candidate !== old.identity && event.at > stoppedAt),
      t.leaseDuration + 6 * t.retryPeriod + 10_000,
    );
    const ms = next ? msBetween(stoppedAt, next.at) : null;
    if (!next) log(`${impl}: no new leader after ${signal} on ${fleet.lease}\n${fleet.diagnostics()}`);
    // A graceful handover never has to wait for expiry: when one seemingly did, keep the evidence in the JSON.
    if (ms === null || (signal === 'SIGTERM' && ms > t.leaseDuration)) {
      await delay(1000);
      results.anomalies.push(evidence(fleet, auditOffset, stoppedAt, { scenario, impl, timings: t, ms }));
    }
    return ms;
  } finally {
    await fleet.kill();
  }
}

/** A trial's audit-log lines for its Lease, events and stderr tails, with times relative to the stop signal. */
function evidence(fleet, auditOffset, stoppedAt, facts) {
  const stoppedWall = Date.now() - msBetween(stoppedAt, now());
  return {
    ...facts,
    lease: fleet.lease,
    leader: fleet.leader,
    requests: audit
      .readSince(auditOffset)
      .filter((event) => event.objectRef?.name === fleet.lease && event.stage === 'ResponseComplete')
      .map((event) => ({
        user: event.user?.username,
        verb: event.verb,
        code: event.responseStatus?.code,
        msAfterStop: Date.parse(event.requestReceivedTimestamp) - stoppedWall,
      })),
    events: fleet.events.map(({ at, ...event }) => ({ ...event, msAfterStop: msBetween(stoppedAt, at) })),
    stderr: Object.fromEntries(fleet.candidates.map((candidate) => [candidate.identity, candidate.stderr])),
  };
}

async function latencyScenario(scenario, signal, trials) {
  for (const variant of options.timings) {
    const t = TIMINGS[variant];
    const samples = Object.fromEntries(IMPL_NAMES.map((impl) => [impl, []]));
    const failures = Object.fromEntries(IMPL_NAMES.map((impl) => [impl, 0]));
    log(`${scenario} (${signal}), timings ${timingLabel(t)}: ${trials} trials per implementation`);
    for (let trial = 0; trial < trials; trial++) {
      if (outOfTime()) {
        results.meta.truncated = true;
        log(`--max-minutes reached; ${scenario} ${variant} stops after ${trial} trials`);
        break;
      }
      for (const impl of orderFor(trial)) {
        const ms = await handoverTrial(impl, t, signal, scenario);
        if (ms === null) failures[impl]++;
        else samples[impl].push(ms);
        log(
          `  ${variant} trial ${trial + 1}/${trials} ${impl.padEnd(9)} ${ms === null ? 'FAILED' : `${ms.toFixed(1)} ms`}`,
        );
      }
    }
    results[scenario][variant] = {
      timings: t,
      signal,
      candidates: options.handoverCandidates,
      ...Object.fromEntries(
        IMPL_NAMES.map((impl) => {
          const entry = { samplesMs: samples[impl], failures: failures[impl], summary: summarize(samples[impl]) };
          // A crash can only be survived by waiting the lease out, so also report the time beyond it.
          if (scenario === 'crash') {
            entry.beyondLeaseSummary = summarize(samples[impl].map((ms) => ms - t.leaseDuration));
          }
          return [impl, entry];
        }),
      ),
    };
  }
}

/**
 * 1 leader + N followers per implementation for a window, request counts from
 * the audit log. Both fleets run at the same time on separate Leases and
 * users: what is counted is requests, which the other fleet cannot change,
 * and running them together halves the wall time.
 */
async function steadyScenario() {
  const t = TIMINGS[options.costTimings];
  const size = options.followers + 1;
  log(
    `steady state, timings ${timingLabel(t)}: 1 leader + ${options.followers} followers, ${options.windowSeconds}s window`,
  );
  const fleets = {};
  const launchOffset = audit.offset();
  for (const [index, impl] of IMPL_NAMES.entries()) {
    fleets[impl] = await startSettledFleet(impl, t, size, 'steady', index * size);
  }
  try {
    if (Object.values(fleets).some((fleet) => !fleet)) {
      results.steady[options.costTimings] = {
        timings: t,
        followers: options.followers,
        error: 'a fleet did not settle',
      };
      return;
    }
    // Let start-up traffic (first GETs, a watch's initial list) pass before counting.
    await delay(Math.max(5_000, 3 * t.retryPeriod));
    const fromMs = Date.now();
    const startedNs = now();
    await delay(options.windowSeconds * 1000);
    const toMs = Date.now();
    const endedNs = now();
    await delay(1000); // the audit log is written in blocking mode; leave a moment for the last lines
    // From launch, not from the window: a watch opened before the window is not a request in it, but is still open.
    const events = audit.readSince(launchOffset);
    const minutes = (toMs - fromMs) / 60_000;
    const entry = { timings: t, windowSeconds: (toMs - fromMs) / 1000, followers: options.followers };
    for (const impl of IMPL_NAMES) {
      const fleet = fleets[impl];
      const users = fleet.candidates.map((candidate) => candidate.user);
      const counts = countRequests(events, { users, lease: fleet.lease, fromMs, toMs });
      const leaderUser = fleet.candidates.find((candidate) => candidate.identity === fleet.leader).user;
      const followerUsers = users.filter((name) => name !== leaderUser);
      const changes = fleet.events.filter(
        (event) => event.event === 'started' && event.at >= startedNs && event.at < endedNs,
      ).length;
      entry[impl] = {
        lease: fleet.lease,
        leaderChangesInWindow: changes,
        followerPerMinute: perMinutePerCandidate(counts, followerUsers, minutes),
        leaderPerMinute: perMinutePerCandidate(counts, [leaderUser], minutes),
        openWatchesAtEnd: countOpenWatches(events, { users, lease: fleet.lease }),
        perUser: Object.fromEntries(counts),
      };
      log(
        `  ${impl}: follower ${entry[impl].followerPerMinute.total.toFixed(2)} req/min, ` +
          `leader ${entry[impl].leaderPerMinute.total.toFixed(2)} req/min`,
      );
    }
    results.steady[options.costTimings] = entry;
  } finally {
    await Promise.all(Object.values(fleets).map((fleet) => fleet?.kill()));
  }
}

/**
 * N candidates on one Lease, one implementation at a time: exactly one leader,
 * time to converge from launch, the apiserver request rate in steady state,
 * then a graceful handover with N-1 candidates racing.
 */
async function scaleScenario() {
  const t = TIMINGS[options.costTimings];
  const n = options.scale;
  const entry = { timings: t, candidates: n, windowSeconds: options.scaleWindowSeconds };
  log(`scale, timings ${timingLabel(t)}: ${n} candidates on one Lease, ${options.scaleWindowSeconds}s window`);
  for (const impl of IMPL_NAMES) {
    if (outOfTime()) {
      results.meta.truncated = true;
      break;
    }
    const lease = leaseName('scale', impl);
    const fleet = new Fleet(IMPLS[impl], { ...timingEnv(t), LEASE_NAME: lease });
    const launchedNs = now();
    try {
      for (let i = 0; i < n; i++) fleet.launch(`${lease}-${i}`, user(i), plane.kubeconfigs[user(i)]);
      const timeout = 60_000 + n * 1_000 + t.leaseDuration;
      // Process start-up (a Node process loading its modules) is not election work, so convergence is also
      // reported from the first/last "candidate" event, not only from launch.
      const ups = await fleet.waitUntil(() => {
        const up = fleet.events.filter((event) => event.event === 'candidate').map((event) => event.at);
        return up.length === n ? up.sort((a, b) => (a < b ? -1 : 1)) : null;
      }, timeout);
      const first = await fleet.waitUntil(() => fleet.find((event) => event.event === 'started'), timeout);
      const agreed = await fleet.waitUntil(() => fleet.agreedLeader(), timeout);
      // Agreement happened at the last of the new-leader events that name the agreed leader.
      const agreedAt = agreed
        ? fleet.events
            .filter((event) => event.event === 'new-leader' && event.identity === agreed)
            .reduce((latest, event) => (event.at > latest ? event.at : latest), 0n)
        : null;
      await delay(Math.max(3_000, 2 * t.retryPeriod));
      const offset = audit.offset();
      const fromMs = Date.now();
      await delay(options.scaleWindowSeconds * 1000);
      const toMs = Date.now();
      await delay(1000);
      const users = fleet.candidates.map((candidate) => candidate.user);
      const counts = countRequests(audit.readSince(offset), { users, lease, fromMs, toMs });
      const minutes = (toMs - fromMs) / 60_000;
      const perCandidate = perMinutePerCandidate(counts, users, minutes);

      // Handover at scale: SIGTERM the leader and let the other n-1 race for the released Lease; this is election
      // work at scale without the process start-up in it. Then wait a few retry periods, so a second winner would show.
      const oldLeader = fleet.leaders()[0];
      const terminatedAt = now();
      fleet.candidates.find((candidate) => candidate.identity === oldLeader)?.child.kill('SIGTERM');
      const next = await fleet.waitUntil(
        () =>
          fleet.find((event) => event.event === 'started' && event.candidate !== oldLeader && event.at > terminatedAt),
        t.leaseDuration + 6 * t.retryPeriod + 10_000,
      );
      await delay(Math.max(2_000, 4 * t.retryPeriod));
      // The old leader's stopped line may be printed after the release lands (client-go releases first), so judge
      // overlap separately before the SIGTERM, and among the others for the whole run.
      const maxConcurrentLeaders = Math.max(
        fleet.maxConcurrentLeaders((event) => event.at < terminatedAt),
        fleet.maxConcurrentLeaders((event) => event.candidate !== oldLeader),
      );
      const distinctLeaders = new Set(fleet.events.filter((e) => e.event === 'started').map((e) => e.candidate));
      entry[impl] = {
        lease,
        allProcessesUpMs: ups ? msBetween(launchedNs, ups.at(-1)) : null,
        firstLeaderMs: first ? msBetween(launchedNs, first.at) : null,
        firstLeaderAfterFirstUpMs: first && ups ? msBetween(ups[0], first.at) : null,
        allAgreeMs: agreedAt ? msBetween(launchedNs, agreedAt) : null,
        allAgreeAfterAllUpMs: agreedAt && ups ? Math.max(0, msBetween(ups.at(-1), agreedAt)) : null,
        handoverMs: next ? msBetween(terminatedAt, next.at) : null,
        maxConcurrentLeaders,
        distinctLeaders: distinctLeaders.size,
        leadersAtEnd: fleet.leaders().length,
        apiserverPerMinute: Object.fromEntries(Object.entries(perCandidate).map(([verb, rate]) => [verb, rate * n])),
        perCandidatePerMinute: perCandidate,
      };
      log(
        `  ${impl}: all up ${fmt(entry[impl].allProcessesUpMs, 0)} ms, first leader ${fmt(entry[impl].firstLeaderMs, 0)} ms, ` +
          `all agree ${fmt(entry[impl].allAgreeMs, 0)} ms after launch, ` +
          `handover ${fmt(entry[impl].handoverMs, 0)} ms, max leaders at once ${entry[impl].maxConcurrentLeaders}, ` +
          `${entry[impl].apiserverPerMinute.total.toFixed(0)} req/min`,
      );
      if (!first || !agreed) log(`  ${impl}: did not converge\n${fleet.diagnostics()}`);
    } finally {
      await fleet.kill();
    }
  }
  results.scale[options.costTimings] = entry;
}

/** ns per isLeader call: ours from dist with an in-memory Lease, client-go's IsLeader() in Go. */
function isLeaderScenario() {
  const iterations = options.isLeaderIterations;
  const runs = 7;
  log(`isLeader cost: ${runs} runs of ${iterations} calls per implementation`);
  const run = (command, args) => {
    const result = spawnSync(command, args, { encoding: 'utf8', timeout: 120_000 });
    if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr}`);
    return JSON.parse(result.stdout.trim().split('\n').pop());
  };
  const ours = run(process.execPath, [join(build.dir, 'bench', 'isleader-cost.mjs'), String(iterations), String(runs)]);
  const go = run(clientGo.path, ['-bench-isleader', String(iterations), '-bench-runs', String(runs)]);
  results.isLeader = {
    iterations,
    runs,
    ours: { nsPerCall: ours.nsPerCall, summary: summarize(ours.nsPerCall), note: 'leader, MemoryLeaseLock' },
    'client-go': { nsPerCall: go.nsPerCall, summary: summarize(go.nsPerCall), note: 'LeaderElector.IsLeader()' },
  };
  // Added RSS: a minimal Nest application context with and without the module, alternating, median of 5 pairs.
  log('added RSS: 5 pairs of minimal Nest apps, with and without LeaderElectionModule');
  const rss = { with: [], without: [] };
  for (let pair = 0; pair < 5; pair++) {
    for (const variant of ['without', 'with']) {
      const sample = run(process.execPath, [
        '--expose-gc',
        join(build.dir, 'bench', 'rss-cost.mjs'),
        variant,
        join(build.dir, 'dist'),
      ]);
      rss[variant].push(sample.rssBytes / 2 ** 20);
    }
  }
  results.isLeader.rssMiB = {
    without: summarize(rss.without),
    with: summarize(rss.with),
    addedMedian: summarize(rss.with).p50 - summarize(rss.without).p50,
  };
}

/**
 * Ours only: how late `stopped-leading` and the term signal's abort come after the renew deadline, on the real clock,
 * with nothing reading isLeader/term after the term starts (bench/term-deadline-lateness.mjs, in its own process).
 */
function deadlineScenario() {
  const terms = options.deadlineTerms;
  log(`term deadline lateness: ${terms} terms ended by renew-failed, real clock`);
  const result = spawnSync(
    process.execPath,
    [join(build.dir, 'bench', 'term-deadline-lateness.mjs'), '--terms', String(terms)],
    { encoding: 'utf8', timeout: 300_000 },
  );
  const last = result.stdout?.trim().split('\n').pop();
  if (!last) throw new Error(`term-deadline-lateness.mjs failed: ${result.stderr}`);
  results.deadline = JSON.parse(last);
  if (result.status !== 0) log(`term-deadline-lateness.mjs exited ${result.status}: ${result.stderr}`);
}

// ---------------------------------------------------------------- main

let exitCode = 0;
try {
  if (options.scenarios.includes('graceful')) await latencyScenario('graceful', 'SIGTERM', options.gracefulTrials);
  if (options.scenarios.includes('steady')) await steadyScenario();
  if (options.scenarios.includes('crash')) await latencyScenario('crash', 'SIGKILL', options.crashTrials);
  if (options.scenarios.includes('scale')) await scaleScenario();
  if (options.scenarios.includes('isleader')) isLeaderScenario();
  if (options.scenarios.includes('deadline')) deadlineScenario();
} catch (error) {
  log(`failed: ${error.stack ?? error}`);
  exitCode = 2;
} finally {
  killAllCandidates();
  await plane.stop();
}

results.meta.finishedAt = new Date().toISOString();
results.meta.durationSeconds = Math.round((Date.now() - benchStarted) / 1000);
results.gate = gate();
mkdirSync(dirname(options.out), { recursive: true });
writeFileSync(options.out, `${JSON.stringify(results, null, 2)}\n`);
process.stdout.write(`\n${report()}\n\nJSON: ${relative(process.cwd(), options.out)}\n`);
if (results.gate.checked && results.gate.failures.length > 0) exitCode ||= 1;
process.exit(exitCode);

// -------------------------------------------------------------- report

/** Quick-mode check from the issue: ours must not be slower on handover nor busier per follower. */
function gate() {
  const failures = [];
  for (const [variant, entry] of Object.entries(results.graceful)) {
    const [ours, go] = [entry.ours.summary.p50, entry['client-go'].summary.p50];
    if (!(ours <= go))
      failures.push(`graceful handover ${variant}: ours p50 ${fmt(ours)} ms > client-go ${fmt(go)} ms`);
  }
  for (const [variant, entry] of Object.entries(results.steady)) {
    if (entry.error) {
      failures.push(`steady state ${variant}: ${entry.error}`);
      continue;
    }
    const [ours, go] = [entry.ours.followerPerMinute.total, entry['client-go'].followerPerMinute.total];
    if (!(ours <= go))
      failures.push(`steady state ${variant}: ours ${fmt(ours)} follower req/min > client-go ${fmt(go)}`);
  }
  return { checked: options.gate, failures };
}

function fmt(value, digits = 1) {
  if (value === null || value === undefined || Number.isNaN(value)) return '-';
  return typeof value === 'number' ? value.toFixed(digits) : String(value);
}

function ratio(ours, go) {
  if (typeof ours !== 'number' || typeof go !== 'number' || Number.isNaN(ours) || Number.isNaN(go)) return '-';
  if (go === 0) return ours === 0 ? '1.00x' : 'inf';
  if (ours < 0 || go < 0) return '-'; // e.g. a failover before leaseDuration: a ratio of signed offsets means nothing
  return `${(ours / go).toFixed(2)}x`;
}

function report() {
  const rows = [];
  const row = (label, ours, go, digits = 1) =>
    rows.push([`  ${label}`, fmt(ours, digits), fmt(go, digits), ratio(ours, go)]);
  const heading = (text) => rows.push([text]);

  for (const [scenario, title] of [
    ['graceful', 'graceful handover: SIGTERM leader -> next started'],
    ['crash', 'crash failover: SIGKILL leader -> next started'],
  ]) {
    for (const [variant, entry] of Object.entries(results[scenario])) {
      const [ours, go] = [entry.ours, entry['client-go']];
      heading(
        `${title} [${variant} ${timingLabel(entry.timings)}, ${entry.candidates} candidates, ` +
          `n=${ours.summary.n}/${go.summary.n}${ours.failures + go.failures ? `, failed ${ours.failures}/${go.failures}` : ''}]`,
      );
      for (const p of ['p50', 'p95', 'p99']) row(`${p} ms`, ours.summary[p], go.summary[p]);
      if (scenario === 'crash') {
        for (const p of ['p50', 'p99']) {
          row(`${p} ms beyond leaseDuration`, ours.beyondLeaseSummary[p], go.beyondLeaseSummary[p]);
        }
      }
    }
  }
  for (const [variant, entry] of Object.entries(results.steady)) {
    heading(
      `steady-state API cost [${variant} ${timingLabel(entry.timings)}, 1 leader + ${entry.followers} followers, ${fmt(entry.windowSeconds, 0)}s window, audit log]`,
    );
    if (entry.error) {
      heading(`  ${entry.error}`);
      continue;
    }
    for (const role of ['follower', 'leader']) {
      const [ours, go] = [entry.ours[`${role}PerMinute`], entry['client-go'][`${role}PerMinute`]];
      const verbs = [...new Set([...Object.keys(ours), ...Object.keys(go)])].filter((verb) => verb !== 'total').sort();
      for (const verb of verbs) row(`${role} req/min/candidate: ${verb}`, ours[verb] ?? 0, go[verb] ?? 0, 2);
      row(`${role} req/min/candidate: total`, ours.total, go.total, 2);
    }
    row(
      'open watches at window end (all candidates)',
      entry.ours.openWatchesAtEnd,
      entry['client-go'].openWatchesAtEnd,
      0,
    );
    const changes = IMPL_NAMES.map((impl) => entry[impl].leaderChangesInWindow);
    if (changes.some(Boolean))
      heading(`  note: leader changes during the window: ours ${changes[0]}, client-go ${changes[1]}`);
  }
  for (const [variant, entry] of Object.entries(results.scale)) {
    heading(
      `scale: ${entry.candidates} candidates on one Lease [${variant} ${timingLabel(entry.timings)}, ${entry.windowSeconds}s window]`,
    );
    const [ours, go] = [entry.ours ?? {}, entry['client-go'] ?? {}];
    row('max leaders at once', ours.maxConcurrentLeaders, go.maxConcurrentLeaders, 0);
    row('leaders at end', ours.leadersAtEnd, go.leadersAtEnd, 0);
    row('all processes up, ms after launch', ours.allProcessesUpMs, go.allProcessesUpMs, 0);
    row('first started, ms after launch', ours.firstLeaderMs, go.firstLeaderMs, 0);
    row('first started, ms after first process up', ours.firstLeaderAfterFirstUpMs, go.firstLeaderAfterFirstUpMs, 0);
    row('all agree on leader, ms after last process up', ours.allAgreeAfterAllUpMs, go.allAgreeAfterAllUpMs, 0);
    row(`SIGTERM leader -> next started, ms (${entry.candidates - 1} racing)`, ours.handoverMs, go.handoverMs, 0);
    row('apiserver req/min (all candidates)', ours.apiserverPerMinute?.total, go.apiserverPerMinute?.total, 1);
  }
  if (results.isLeader.ours) {
    heading(`isLeader cost [median of ${results.isLeader.runs} runs x ${results.isLeader.iterations} calls]`);
    row('ns/call', results.isLeader.ours.summary.p50, results.isLeader['client-go'].summary.p50, 2);
    if (results.isLeader.rssMiB) {
      heading('memory: minimal Nest application context, median of 5 [MiB RSS]');
      row('without LeaderElectionModule', results.isLeader.rssMiB.without.p50, undefined, 1);
      row('with LeaderElectionModule (standalone, leading)', results.isLeader.rssMiB.with.p50, undefined, 1);
      row('added by the package', results.isLeader.rssMiB.addedMedian, undefined, 1);
    }
  }
  if (results.deadline.stoppedLeading) {
    const d = results.deadline;
    const t = d.timings;
    heading(
      `term end after its renew deadline, ours only [${d.stoppedLeading.n} terms, ${d.electors} electors, ` +
        `${t.leaseDuration}/${t.renewDeadline}/${t.retryPeriod} ms, real clock; target p99 <= ${d.targetP99Ms} ms]`,
    );
    for (const [key, label] of [
      ['stoppedLeading', 'stopped-leading'],
      ['abort', 'term signal abort'],
      ['controlTimer', 'control: bare setTimeout, same deadline'],
    ]) {
      for (const p of ['p50', 'p99', 'max']) row(`${label} ${p} ms late`, d[key][p], undefined, 2);
    }
    const early = `${d.stoppedLeading.early} / ${d.stoppedLeadingVsElectorSendTime.early}`;
    rows.push(['  stopped-leading early, count (vs wrapper / elector send time)', early, '-', '-']);
    if (!d.complete) heading(`  INCOMPLETE: fewer than ${d.termsWanted} terms ended by renew-failed`);
  }

  const { meta } = results;
  const title =
    `nestjs-lease-election (${meta.gitCommit ?? '?'}${meta.gitDirty ? ', lib modified' : ''}) vs client-go ${meta.clientGo}` +
    ` - kube-apiserver ${meta.kubernetes} on loopback, node ${meta.node}, ${meta.cpus} cpus, ${meta.durationSeconds}s` +
    (meta.truncated ? ' (TRUNCATED by --max-minutes)' : '');
  const lines = [title, '', formatTable(rows, ['scenario / metric', 'ours', 'client-go', 'ours/client-go'])];
  if (results.anomalies.length > 0) {
    const list = results.anomalies.map(
      (a) => `${a.scenario} ${a.impl} ${a.ms === null ? 'failed' : `${fmt(a.ms, 0)} ms`}`,
    );
    lines.push('', `anomalies (evidence in the JSON): ${list.join('; ')}`);
  }
  if (results.gate.checked) {
    lines.push(
      '',
      results.gate.failures.length === 0
        ? 'gate: PASS (ours not slower on graceful handover, not busier per follower)'
        : `gate: FAIL\n${results.gate.failures.map((failure) => `  - ${failure}`).join('\n')}`,
    );
  }
  return lines.join('\n');
}
