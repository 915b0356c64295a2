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
  GroupFleet,
  countOpenWatches,
  countRequests,
  countStatus,
  delay,
  formatTable,
  implementation,
  killAllCandidates,
  maxElectionOverlapMs,
  msBetween,
  now,
  perMinutePerCandidate,
  summarize,
} from './support.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');

/**
 * Named lease timings in ms: client-go's defaults, a short variant that makes trials cheap, and the integration
 * specs' fast one (test/integration/spreading.spec.ts).
 */
const TIMINGS = {
  default: { leaseDuration: 15_000, renewDeadline: 10_000, retryPeriod: 2_000 },
  short: { leaseDuration: 4_000, renewDeadline: 2_000, retryPeriod: 500 },
  fast: { leaseDuration: 2_000, renewDeadline: 1_000, retryPeriod: 250 },
};
const SCENARIOS = ['graceful', 'crash', 'steady', 'scale', 'spread', 'isleader', 'deadline'];
/** The elections of the spread scenario: 12 on 3 replicas, 4 each. */
const SPREAD_ELECTIONS = Array.from({ length: 12 }, (_, i) => `job-${i}`);
const SPREAD_REPLICAS = 3;
/** A spreading group's default rankStep (LeaderElectionGroupOptions.rankStep): min(100, retryPeriod / 2). */
const rankStepFor = (t) => Math.min(100, t.retryPeriod / 2);

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
    'scale-handovers': { type: 'string' },
    'spread-trials': { type: 'string' },
    'spread-window': { type: 'string' },
    'spread-timings': { type: 'string' },
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
  --scale-handovers N         sequential graceful handovers in the scale scenario (10; quick 5)
  --spread-trials N           trials of the spread scenario: cold start, SIGKILL, comeback (7; quick 3)
  --spread-window SECONDS     per-replica API cost window of the spread scenario, first trial (60; quick 10)
  --spread-timings NAME       timing variant of the spread scenario (short)
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
  scaleHandovers: int(flags['scale-handovers'], quick ? 5 : 10),
  spreadTrials: int(flags['spread-trials'], quick ? 3 : 7),
  spreadWindowSeconds: int(flags['spread-window'], quick ? 10 : 60),
  spreadTimings: flags['spread-timings'] ?? 'short',
  isLeaderIterations: int(flags['isleader-iterations'], 5_000_000),
  deadlineTerms: int(flags['deadline-terms'], quick ? 120 : 400),
  maxMinutes: int(flags['max-minutes'], quick ? 10 : 45),
  out: flags.out ?? join(here, 'results', 'latest.json'),
  gate: flags['no-gate'] ? false : (flags.gate ?? quick),
};
for (const name of [...options.timings, options.costTimings, options.spreadTimings]) {
  if (!TIMINGS[name]) throw new Error(`unknown timing variant ${name}; use ${Object.keys(TIMINGS).join(', ')}`);
}
for (const name of options.scenarios) {
  if (!SCENARIOS.includes(name)) throw new Error(`unknown scenario ${name}; use ${SCENARIOS.join(', ')}`);
}
if (options.handoverCandidates < 2) throw new Error('--handover-candidates must be at least 2');
if (options.scaleHandovers < 1) throw new Error('--scale-handovers must be at least 1');

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
const candidateScript = join(build.dir, 'test', 'support', 'candidate-process.mjs');
const IMPLS = {
  ours: implementation('ours', process.execPath, [candidateScript]),
  'client-go': implementation('client-go', clientGo.path),
};
const IMPL_NAMES = Object.keys(IMPLS);
/**
 * The scale scenario also runs ours as the one election of a spreading group (named after its Lease, so each fleet's
 * member Leases are its own): after a release the candidates campaign in rendezvous-rank order instead of racing.
 */
const SCALE_IMPLS = {
  ...IMPLS,
  'ours-ranked': implementation('ours-ranked', process.execPath, [candidateScript], (env) => ({
    SPREAD_GROUP: env.LEASE_NAME,
  })),
};
const SCALE_IMPL_NAMES = Object.keys(SCALE_IMPLS);
/** One replica of the spread scenario's group. */
const GROUP_MEMBER = implementation('ours', process.execPath, [
  join(build.dir, 'test', 'support', 'group-member-process.mjs'),
]);
// Alternate which implementation goes first, so neither always runs on a warmer or quieter machine.
const orderFor = (trial) => (trial % 2 === 0 ? IMPL_NAMES : [...IMPL_NAMES].reverse());

const candidateUsers = Math.max(
  options.scale,
  2 * (options.followers + 1),
  options.handoverCandidates,
  SPREAD_REPLICAS + 1, // the spread scenario's replicas and the one that comes back
);
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
  spread: {},
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
    'test/support/group-member-process.mjs',
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
 * then K graceful handovers in a row, the first with N-1 candidates racing
 * for the released Lease. Besides ours and client-go, ours as the one election
 * of a spreading group (`ours-ranked`), where the candidates try in rank order.
 */
async function scaleScenario() {
  const t = TIMINGS[options.costTimings];
  const n = options.scale;
  const handovers = Math.min(options.scaleHandovers, n - 1);
  const entry = { timings: t, candidates: n, windowSeconds: options.scaleWindowSeconds, handovers };
  log(
    `scale, timings ${timingLabel(t)}: ${n} candidates on one Lease, ${options.scaleWindowSeconds}s window, ` +
      `${handovers} handovers`,
  );
  for (const impl of SCALE_IMPL_NAMES) {
    if (outOfTime()) {
      results.meta.truncated = true;
      break;
    }
    const lease = leaseName('scale', impl);
    const fleet = new Fleet(SCALE_IMPLS[impl], { ...timingEnv(t), LEASE_NAME: lease });
    fleet.lease = lease;
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
      const windowStartNs = now();
      await delay(options.scaleWindowSeconds * 1000);
      const toMs = Date.now();
      const windowEndNs = now();
      await delay(1000);
      const users = fleet.candidates.map((candidate) => candidate.user);
      const windowEvents = audit.readSince(offset);
      // A group's member Leases (`<group>-member-...`, the group named after the Lease) and its members' name-less
      // list/watch are part of its cost; plain candidates have neither.
      const counts = countRequests(windowEvents, { users, lease, prefix: `${lease}-member-`, fromMs, toMs });
      const memberCounts = countRequests(windowEvents, {
        users,
        prefix: `${lease}-member-`,
        nameless: impl === 'ours-ranked',
        fromMs,
        toMs,
      });
      const minutes = (toMs - fromMs) / 60_000;
      const perCandidate = perMinutePerCandidate(counts, users, minutes);
      const allCandidates = (rates) =>
        Object.fromEntries(Object.entries(rates).map(([verb, rate]) => [verb, rate * n]));

      const sequence = await handoverSequence(fleet, impl, t, handovers);
      // Wait a few retry periods, so a second winner of the last handover would show.
      await delay(Math.max(2_000, 4 * t.retryPeriod));
      // A SIGTERMed leader's term ends at its signal (client-go prints stopped only after its release lands).
      const maxConcurrentLeaders = fleet.maxConcurrentLeaders(() => true, sequence.signalled);
      const distinctLeaders = new Set(fleet.events.filter((e) => e.event === 'started').map((e) => e.candidate));
      entry[impl] = {
        lease,
        allProcessesUpMs: ups ? msBetween(launchedNs, ups.at(-1)) : null,
        firstLeaderMs: first ? msBetween(launchedNs, first.at) : null,
        firstLeaderAfterFirstUpMs: first && ups ? msBetween(ups[0], first.at) : null,
        allAgreeMs: agreedAt ? msBetween(launchedNs, agreedAt) : null,
        allAgreeAfterAllUpMs: agreedAt && ups ? Math.max(0, msBetween(ups.at(-1), agreedAt)) : null,
        leaderChangesInWindow: fleet.events.filter(
          (event) => event.event === 'started' && event.at >= windowStartNs && event.at < windowEndNs,
        ).length,
        // The first handover, with n-1 racing (the figure this scenario reported before it did several).
        handoverMs: sequence.samplesMs[0] ?? null,
        handoversMs: sequence.samplesMs,
        handoverSummary: summarize(sequence.samplesMs),
        conflictsPerHandover: sequence.conflicts,
        conflictSummary: summarize(sequence.conflicts),
        handoverFailures: sequence.failures,
        maxConcurrentLeaders,
        distinctLeaders: distinctLeaders.size,
        leadersAtEnd: fleet.leaders().length,
        apiserverPerMinute: allCandidates(perCandidate),
        memberApiserverPerMinute: allCandidates(perMinutePerCandidate(memberCounts, users, minutes)),
        perCandidatePerMinute: perCandidate,
      };
      const e = entry[impl];
      log(
        `  ${impl}: all up ${fmt(e.allProcessesUpMs, 0)} ms, first leader ${fmt(e.firstLeaderMs, 0)} ms, ` +
          `all agree ${fmt(e.allAgreeMs, 0)} ms after launch, handover p50 ${fmt(e.handoverSummary.p50, 0)} ms ` +
          `max ${fmt(e.handoverSummary.max, 0)} ms, 409s/handover ${fmt(e.conflictSummary.mean, 1)}, ` +
          `max leaders at once ${e.maxConcurrentLeaders}, ${e.apiserverPerMinute.total.toFixed(0)} req/min`,
      );
      if (!first || !agreed) log(`  ${impl}: did not converge\n${fleet.diagnostics()}`);
    } finally {
      await fleet.kill();
    }
  }
  results.scale[options.costTimings] = entry;
}

/**
 * `count` graceful handovers in a row on a settled fleet: SIGTERM the leader
 * at a random phase of the followers' polling, time it to the next started
 * of another candidate, and count the 409s on the Lease from the signal to
 * that started + 2 retry periods (losers of the race for the released Lease,
 * by the audit log). Each handover has one candidate fewer racing.
 *
 * @returns {Promise<{samplesMs: number[], conflicts: number[], failures: number, signalled: Map<string, bigint>}>}
 */
async function handoverSequence(fleet, impl, t, count) {
  const { lease } = fleet;
  const users = fleet.candidates.map((candidate) => candidate.user);
  // A ranked leader that is not the preferred one hands over after minTermHold (leaseDuration / 2); let that happen
  // before the first SIGTERM, so a handover the group chose does not pass for the one the signal caused.
  const minTerm = impl === 'ours-ranked' ? t.leaseDuration / 2 + 2 * t.retryPeriod : 2 * t.retryPeriod;
  const sequence = { samplesMs: [], conflicts: [], failures: 0, signalled: new Map() };
  for (let i = 0; i < count && !outOfTime(); i++) {
    const leader = await settledLeader(fleet, minTerm, t.leaseDuration + 10_000);
    if (!leader) {
      log(`  ${impl}: no settled leader before handover ${i + 1} on ${lease}\n${fleet.diagnostics()}`);
      sequence.failures++;
      break;
    }
    await randomPhase(t);
    const old = fleet.candidates.find((candidate) => candidate.identity === leader);
    const auditOffset = audit.offset();
    const fromMs = Date.now();
    const signalledAt = now();
    old.child.kill('SIGTERM');
    sequence.signalled.set(leader, signalledAt);
    const next = await fleet.waitUntil(
      () => fleet.find((event) => event.event === 'started' && event.candidate !== leader && event.at > signalledAt),
      t.leaseDuration + 6 * t.retryPeriod + 10_000,
    );
    const ms = next ? msBetween(signalledAt, next.at) : null;
    if (ms === null || ms > t.leaseDuration) {
      if (!next) log(`  ${impl}: no new leader after SIGTERM ${i + 1} on ${lease}\n${fleet.diagnostics()}`);
      await delay(1000);
      fleet.leader = leader;
      results.anomalies.push(
        evidence(fleet, auditOffset, signalledAt, { scenario: 'scale', impl, timings: t, handover: i + 1, ms }),
      );
    }
    if (ms === null) {
      sequence.failures++;
      break;
    }
    // Count until 2 retry periods after the winner's started, once the audit log has those lines.
    const toMs = fromMs + ms + 2 * t.retryPeriod;
    await delay(Math.max(0, toMs - Date.now()) + 1000);
    const counts = countRequests(audit.readSince(auditOffset), { users, lease, nameless: false, fromMs, toMs });
    sequence.samplesMs.push(ms);
    sequence.conflicts.push(countStatus(counts, 409));
    log(`  ${impl} handover ${i + 1}/${count}: ${ms.toFixed(1)} ms, ${sequence.conflicts.at(-1)} x 409`);
    await Promise.race([old.exited, delay(t.leaseDuration + 5_000)]);
  }
  return sequence;
}

/**
 * The leader every live candidate reports and that says it leads, once its
 * term has run at least `minTermMs`; null after `timeoutMs`.
 */
async function settledLeader(fleet, minTermMs, timeoutMs) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const leader = await fleet.waitUntil(() => {
      const agreed = fleet.agreedLeader();
      return agreed && fleet.leaders().includes(agreed) ? agreed : null;
    }, until - Date.now());
    if (!leader) return null;
    const started = fleet.events.findLast((event) => event.event === 'started' && event.candidate === leader);
    const heldMs = msBetween(started.at, now());
    if (heldMs >= minTermMs) return leader;
    await delay(minTermMs - heldMs);
  }
  return null;
}

/**
 * Ours only: a spreading group of 12 elections on 3 replicas
 * (test/support/group-member-process.mjs, a fresh group per trial). Per
 * trial: (a) cold start to 4/4/4, (b) SIGKILL one replica until its elections
 * are led again and until 6/6, (c) a new replica until 4/4/4 again, every
 * term that ends meanwhile handed over, (d) the largest overlap of two terms
 * of one election. The first trial also counts each replica's requests on
 * the group's Leases in steady state, before the kill.
 */
async function spreadScenario() {
  const t = TIMINGS[options.spreadTimings];
  const rankStep = rankStepFor(t);
  const targets = {
    coldStartMs: 2 * t.leaseDuration,
    recoveryMs: t.leaseDuration + t.retryPeriod + 2 * rankStep,
  };
  const trials = [];
  log(
    `spread, timings ${timingLabel(t)}: ${SPREAD_ELECTIONS.length} elections on ${SPREAD_REPLICAS} replicas, ` +
      `${options.spreadTrials} trials, ${options.spreadWindowSeconds}s cost window`,
  );
  for (let trial = 0; trial < options.spreadTrials; trial++) {
    if (outOfTime()) {
      results.meta.truncated = true;
      log(`--max-minutes reached; spread stops after ${trial} trials`);
      break;
    }
    const result = await spreadTrial(t, trial, trial === 0 ? options.spreadWindowSeconds : 0);
    trials.push(result);
    log(
      `  trial ${trial + 1}/${options.spreadTrials} ${result.failed ? `FAILED at ${result.failed}` : 'ok'}: ` +
        `cold start ${fmt(result.coldStartMs, 0)} ms, SIGKILL -> led again ${fmt(result.recoveryMs, 0)} ms, ` +
        `-> even ${fmt(result.evenAfterKillMs, 0)} ms, comeback ${fmt(result.comebackMs, 0)} ms ` +
        `(${result.moved ?? '-'} moved, ${result.notHandedOver ?? '-'} not handed over), ` +
        `max overlap ${fmt(result.maxOverlapMs, 1)} ms`,
    );
  }
  const values = (key) => trials.map((trial) => trial[key]).filter((value) => typeof value === 'number');
  const sum = (key) => values(key).reduce((total, value) => total + value, 0);
  results.spread = {
    variant: options.spreadTimings,
    timings: t,
    rankStepMs: rankStep,
    elections: SPREAD_ELECTIONS.length,
    replicas: SPREAD_REPLICAS,
    targets,
    trials: trials.map(({ cost: _cost, ...trial }) => trial), // the cost window is below, once
    failures: trials.filter((trial) => trial.failed).length,
    coldStartMs: summarize(values('coldStartMs')),
    recoveryMs: summarize(values('recoveryMs')),
    recoveryBeyondLeaseMs: summarize(values('recoveryBeyondLeaseMs')),
    evenAfterKillMs: summarize(values('evenAfterKillMs')),
    comebackMs: summarize(values('comebackMs')),
    comebackAfterMemberMs: summarize(values('comebackAfterMemberMs')),
    movedOnComeback: sum('moved'),
    notHandedOver: sum('notHandedOver'),
    churnAfterComeback: sum('churnAfterComeback'),
    maxOverlapMs: values('maxOverlapMs').length ? Math.max(...values('maxOverlapMs')) : null,
    cost: trials[0]?.cost ?? null,
  };
}

/** One trial of {@link spreadScenario}; `windowSeconds` > 0 adds the steady-state cost window. */
async function spreadTrial(t, trial, windowSeconds) {
  const group = `bench-spread-${++leaseCounter}`;
  const fleet = new GroupFleet(GROUP_MEMBER, { ...timingEnv(t), GROUP: group, ELECTIONS: SPREAD_ELECTIONS.join(',') });
  const launchOffset = audit.offset();
  const launchedNs = now();
  const launchedWallMs = Date.now();
  // Where the audit log stood when the current phase began: a failed phase keeps its requests as evidence.
  let phaseOffset = launchOffset;
  const result = { group };
  const even = (replicas) => fleet.evenlySpread(SPREAD_ELECTIONS, replicas);
  const settleTimeout = 10 * t.leaseDuration + 10_000;
  const fail = (phase) => {
    result.failed = phase;
    result.maxOverlapMs = maxElectionOverlapMs(fleet.terms());
    log(`  spread ${group}: ${phase} did not happen; loads ${fleet.loads()}\n${fleet.diagnostics()}`);
    results.anomalies.push({
      scenario: 'spread',
      impl: 'ours',
      group,
      phase,
      ms: null,
      loads: fleet.loads(),
      events: fleet.events.map(({ at, ...event }) => ({ ...event, msAfterLaunch: msBetween(launchedNs, at) })),
      requests: audit
        .readSince(phaseOffset)
        .filter((event) => event.stage === 'ResponseComplete' && event.objectRef?.name?.startsWith(`${group}-`))
        .map((event) => ({
          user: event.user?.username,
          verb: event.verb,
          lease: event.objectRef.name.slice(group.length + 1),
          code: event.responseStatus?.code,
          msAfterLaunch: Date.parse(event.requestReceivedTimestamp) - launchedWallMs,
        })),
      stderr: Object.fromEntries(fleet.candidates.map((candidate) => [candidate.identity, candidate.stderr])),
    });
    return result;
  };
  try {
    for (let i = 0; i < SPREAD_REPLICAS; i++) fleet.launch(`${group}-r${i}`, user(i), plane.kubeconfigs[user(i)]);

    // (a) Cold start: from the last replica's `member` line (its process is up, before it announces) to every
    // election led by exactly one replica, 4/4/4.
    const joined = await fleet.waitUntil(() => {
      const lines = fleet.events.filter((event) => event.event === 'member');
      return lines.length === SPREAD_REPLICAS ? latest(lines) : null;
    }, 60_000);
    if (!joined) return fail('cold start: replicas up');
    const balanced = await fleet.waitForState(() => even(SPREAD_REPLICAS), settleTimeout, joined);
    if (!balanced) return fail('cold start: even split');
    result.coldStartMs = msBetween(joined, balanced);

    if (windowSeconds > 0) result.cost = await groupCost(fleet, group, t, windowSeconds, launchOffset);

    // (b) SIGKILL one replica (a different one each trial) at a random phase of its renewals: its elections wait
    // out their Leases, then the survivors take them in rank order.
    const victim = fleet.candidates[trial % SPREAD_REPLICAS].identity;
    const orphaned = fleet.leading().get(victim) ?? [];
    await delay(Math.random() * t.retryPeriod);
    phaseOffset = audit.offset();
    const killedAt = fleet.crash(victim);
    const ledAgain = () => {
      const led = new Set([...fleet.leading().values()].flat());
      return orphaned.every((election) => led.has(election));
    };
    const recovered = await fleet.waitForState(ledAgain, 3 * t.leaseDuration + 10_000, killedAt);
    if (!recovered) return fail('SIGKILL: its elections led again');
    result.orphaned = orphaned.length;
    result.recoveryMs = msBetween(killedAt, recovered);
    result.recoveryBeyondLeaseMs = result.recoveryMs - t.leaseDuration;
    const evened = await fleet.waitForState(() => even(SPREAD_REPLICAS - 1), settleTimeout, killedAt);
    if (!evened) return fail('SIGKILL: even split of the survivors');
    result.evenAfterKillMs = msBetween(killedAt, evened);

    // (c) Comeback: a new replica (a new Pod: a new identity) until 4/4/4 again; the elections that move to it must
    // move by graceful handover, never by expiry or a lost renewal.
    phaseOffset = audit.offset();
    const rejoinAt = now();
    const newcomer = fleet.launch(
      `${group}-r${SPREAD_REPLICAS}`,
      user(SPREAD_REPLICAS),
      plane.kubeconfigs[user(SPREAD_REPLICAS)],
    );
    const rebalanced = await fleet.waitForState(() => even(SPREAD_REPLICAS), settleTimeout, rejoinAt);
    if (!rebalanced) return fail('comeback: even split');
    const memberLine = fleet.find((event) => event.event === 'member' && event.candidate === newcomer.identity);
    result.comebackMs = msBetween(rejoinAt, rebalanced);
    result.comebackAfterMemberMs = memberLine ? msBetween(memberLine.at, rebalanced) : null;
    const ended = fleet
      .terms()
      .filter((term) => term.end !== null && term.end > rejoinAt && term.end <= rebalanced && term.identity !== victim);
    result.moved = ended.length;
    result.notHandedOver = ended.filter((term) => term.reason !== 'handed-over').length;
    result.endReasons = countBy(ended.map((term) => term.reason));

    // The placement must then stay put: any start after the even split is churn.
    await delay(t.leaseDuration);
    result.churnAfterComeback = fleet.events.filter(
      (event) => event.event === 'started' && event.at > rebalanced,
    ).length;
    // (d) Over the whole trial; the killed replica's terms end at its kill.
    result.maxOverlapMs = maxElectionOverlapMs(fleet.terms());
    return result;
  } finally {
    await fleet.kill();
  }
}

/**
 * Requests of each replica on the group's Leases (the election Leases and the member Leases, all named
 * `<group>-...`) and its name-less list/watch, per minute, over a window after a settling pause.
 */
async function groupCost(fleet, group, t, windowSeconds, launchOffset) {
  // Let start-up traffic (first GETs, the informer's list) pass before counting.
  await delay(Math.max(5_000, 3 * t.retryPeriod));
  const fromMs = Date.now();
  const fromNs = now();
  await delay(windowSeconds * 1000);
  const toMs = Date.now();
  const toNs = now();
  await delay(1000); // the audit log's last lines
  const events = audit.readSince(launchOffset);
  const users = fleet.live().map((candidate) => candidate.user);
  const minutes = (toMs - fromMs) / 60_000;
  const window = { users, fromMs, toMs };
  const rate = (counts) => perMinutePerCandidate(counts, users, minutes);
  const perReplica = rate(countRequests(events, { ...window, prefix: `${group}-` }));
  const members = rate(countRequests(events, { ...window, prefix: `${group}-member-`, nameless: false }));
  const listWatch = rate(countRequests(events, { ...window, nameless: true }));
  return {
    windowSeconds: (toMs - fromMs) / 1000,
    replicas: users.length,
    perReplicaPerMinute: perReplica,
    memberLeasePerReplicaPerMinute: members,
    listWatchPerReplicaPerMinute: listWatch,
    electionLeasePerReplicaPerMinute: perReplica.total - members.total - listWatch.total,
    openWatchesPerReplicaAtEnd: countOpenWatches(events, { users, prefix: `${group}-` }) / users.length,
    leaderChangesInWindow: fleet.events.filter(
      (event) => event.event === 'started' && event.at >= fromNs && event.at < toNs,
    ).length,
    loadsAtEnd: fleet.loads(),
  };
}

/** The latest `at` of some events. */
const latest = (events) => events.reduce((max, event) => (event.at > max ? event.at : max), 0n);

/** Occurrences of each value, as an object. */
function countBy(values) {
  const counts = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
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
  if (options.scenarios.includes('spread')) await spreadScenario();
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

function sameTimings(a, b) {
  return a.leaseDuration === b.leaseDuration && a.renewDeadline === b.renewDeadline && a.retryPeriod === b.retryPeriod;
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
    const n = entry.candidates;
    heading(
      `scale: ${n} candidates on one Lease [${variant} ${timingLabel(entry.timings)}, ${entry.windowSeconds}s window, ` +
        `${entry.handovers} graceful handovers in a row]`,
    );
    const [ours, go, ranked] = [entry.ours ?? {}, entry['client-go'] ?? {}, entry['ours-ranked']];
    // Each metric for ours, then (when it ran) for ours in a spreading group, both beside client-go.
    const both = (label, value, digits) => {
      row(label, value(ours), value(go), digits);
      if (ranked) row('  (ours, ranked group)', value(ranked), value(go), digits);
    };
    both('max leaders at once', (e) => e.maxConcurrentLeaders, 0);
    both('leaders at end', (e) => e.leadersAtEnd, 0);
    both('all processes up, ms after launch', (e) => e.allProcessesUpMs, 0);
    both('first started, ms after launch', (e) => e.firstLeaderMs, 0);
    both('first started, ms after first process up', (e) => e.firstLeaderAfterFirstUpMs, 0);
    both('all agree on leader, ms after last process up', (e) => e.allAgreeAfterAllUpMs, 0);
    const racing = entry.handovers > 1 ? `${n - 1}..${n - entry.handovers}` : `${n - 1}`;
    both(`handover p50 ms, SIGTERM -> next started (${racing} racing)`, (e) => e.handoverSummary?.p50, 1);
    both('handover max ms', (e) => e.handoverSummary?.max, 1);
    both('409s per handover, mean (to next started + 2 retryPeriods)', (e) => e.conflictSummary?.mean, 1);
    both('409s per handover, max', (e) => e.conflictSummary?.max, 0);
    both('apiserver req/min (all candidates)', (e) => e.apiserverPerMinute?.total, 1);
    if (ranked) row('  of which member Leases, list/watch', ranked.memberApiserverPerMinute?.total, undefined, 1);
    const failures = [ours, go, ranked ?? {}].map((e) => e.handoverFailures ?? 0);
    if (failures.some(Boolean))
      heading(`  failed handovers: ours ${failures[0]}, client-go ${failures[1]}, ranked ${failures[2]}`);
    if (ranked?.handoverSummary?.n) {
      const p50 = ranked.handoverSummary.p50;
      const conflicts = ranked.conflictSummary.mean;
      heading(
        `  targets, ours in a ranked group at ${n} candidates: handover p50 <= 20 ms ${p50 <= 20 ? 'MET' : 'NOT MET'} ` +
          `(${fmt(p50)}), 409s per handover < 2 ${conflicts < 2 ? 'MET' : 'NOT MET'} (${fmt(conflicts, 2)})`,
      );
    }
  }
  if (results.spread.trials) {
    const sp = results.spread;
    const ok = sp.trials.length - sp.failures;
    heading(
      `spreading group: ${sp.elections} elections on ${sp.replicas} replicas, ours only ` +
        `[${sp.variant} ${timingLabel(sp.timings)}, ` +
        `rankStep ${sp.rankStepMs} ms, n=${ok}${sp.failures ? `, failed ${sp.failures}` : ''}]`,
    );
    const only = (label, value, digits = 0) => row(label, value, undefined, digits);
    const p50max = (label, summary) => {
      only(`${label} p50 ms`, summary.p50);
      only(`${label} max ms`, summary.max);
    };
    p50max(`cold start, last replica up -> 4/4/4 (target <= ${sp.targets.coldStartMs})`, sp.coldStartMs);
    p50max(`SIGKILL -> its elections led again (target <= ${sp.targets.recoveryMs})`, sp.recoveryMs);
    only('  margin to target (target - max) ms', sp.targets.recoveryMs - sp.recoveryMs.max);
    p50max('  beyond leaseDuration', sp.recoveryBeyondLeaseMs);
    p50max('SIGKILL -> 6/6', sp.evenAfterKillMs);
    p50max('comeback, new replica launched -> 4/4/4', sp.comebackMs);
    only('  from its member line (process up), p50 ms', sp.comebackAfterMemberMs.p50);
    only('terms moved on comeback (all trials)', sp.movedOnComeback);
    only('  ended other than handed-over (must be 0)', sp.notHandedOver);
    only('leader changes in leaseDuration after comeback (0)', sp.churnAfterComeback);
    only('max overlap of two terms of one election, ms (must be 0)', sp.maxOverlapMs, 1);
    const cost = sp.cost;
    if (cost) {
      heading(
        `  API cost per replica, ${sp.elections} elections on ${cost.replicas} (${cost.loadsAtEnd} led), ` +
          `${fmt(cost.windowSeconds, 0)}s window, audit log`,
      );
      const verbs = Object.keys(cost.perReplicaPerMinute)
        .filter((verb) => verb !== 'total')
        .sort();
      for (const verb of verbs) only(`replica req/min: ${verb}`, cost.perReplicaPerMinute[verb], 2);
      only('replica req/min: total', cost.perReplicaPerMinute.total, 2);
      only('  on election Leases', cost.electionLeasePerReplicaPerMinute, 2);
      only('  on its member Lease', cost.memberLeasePerReplicaPerMinute.total, 2);
      only('  list/watch of members', cost.listWatchPerReplicaPerMinute.total, 2);
      only('open watches per replica at window end', cost.openWatchesPerReplicaAtEnd, 1);
      if (cost.leaderChangesInWindow)
        heading(`  note: leader changes during the window: ${cost.leaderChangesInWindow}`);
      // Beside it, one plain election from the steady scenario, and 12 of them with this replica's share of roles.
      const [steadyVariant, steady] =
        Object.entries(results.steady).find(([, e]) => !e.error && sameTimings(e.timings, sp.timings)) ??
        Object.entries(results.steady).find(([, e]) => !e.error) ??
        [];
      if (steady) {
        const same = sameTimings(steady.timings, sp.timings);
        const label = `plain election [steady, ${steadyVariant} ${timingLabel(steady.timings)}]`;
        const rate = (impl, role) => steady[impl][`${role}PerMinute`].total;
        row(`${label}: leader req/min`, rate('ours', 'leader'), rate('client-go', 'leader'), 2);
        row(`${label}: follower req/min`, rate('ours', 'follower'), rate('client-go', 'follower'), 2);
        if (same) {
          const led = sp.elections / cost.replicas;
          const followed = sp.elections - led;
          const plain = (impl) => led * rate(impl, 'leader') + followed * rate(impl, 'follower');
          row(`  ${led} led + ${followed} followed as plain elections, req/min`, plain('ours'), plain('client-go'), 2);
        } else {
          heading('  (different timings from the group: compare per election, not in sum)');
        }
      }
    }
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
