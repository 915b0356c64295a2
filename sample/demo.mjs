// `npm run demo`: a local control plane, several replicas of the sample app
// electing a leader and sharing 6 leader-only jobs evenly (a spreading group),
// a live view, then a measured graceful handover (SIGTERM) and crash failover
// (SIGKILL), with the jobs moving between replicas. Everything is stopped on exit, even on Ctrl-C.
// In a terminal the view is a table redrawn in place; when the output is piped
// or logged, it is one timestamped line per event instead.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startControlPlane } from '../test/support/control-plane/control-plane.mjs';

const { values: flags } = parseArgs({
  options: {
    replicas: { type: 'string', default: '3' },
    'lease-duration': { type: 'string', default: '4000' },
    'renew-deadline': { type: 'string', default: '2500' },
    'retry-period': { type: 'string', default: '500' },
    'observe-seconds': { type: 'string', default: '4' },
    help: { type: 'boolean', default: false },
  },
});
if (flags.help) {
  console.log(`usage: npm run demo -- [--replicas N] [--lease-duration MS] [--renew-deadline MS] [--retry-period MS] [--observe-seconds S]
Defaults are short timings (4000/2500/500) so the demo takes about a minute; client-go's are 15000/10000/2000.`);
  process.exit(0);
}
const replicas = Math.max(2, Number(flags.replicas));
const timings = {
  leaseDuration: Number(flags['lease-duration']),
  renewDeadline: Number(flags['renew-deadline']),
  retryPeriod: Number(flags['retry-period']),
};
const observeMs = Number(flags['observe-seconds']) * 1000;
/** Leader-only jobs spread over the replicas (the sample's SPREAD_JOBS). */
const SPREAD_JOBS = 6;
const tty = process.stdout.isTTY;
const color = (code) => (text) => (tty ? `\x1b[${code}m${text}\x1b[0m` : text);
const [bold, green, dim, yellow] = [color(1), color(32), color(2), color(33)];
const startedAt = process.hrtime.bigint();
const stamp = (at = process.hrtime.bigint()) => `[${(Number(at - startedAt) / 1e9).toFixed(3).padStart(7)}s]`;
/** A line of output: as is in a terminal, timestamped in a log. */
const say = (message) => console.log(tty ? message : `${stamp()} ${message}`);

const workDir = mkdtempSync(join(tmpdir(), 'nle-demo-'));
const children = new Map();
let plane;
let cleaningUp = false;

async function cleanup(code) {
  if (cleaningUp) return;
  cleaningUp = true;
  for (const { child } of children.values())
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await Promise.all([...children.values()].map(({ exited }) => exited));
  await plane?.stop();
  rmSync(workDir, { recursive: true, force: true });
  process.exit(code);
}
process.on('SIGINT', () => {
  console.log('\ninterrupted; stopping replicas and the control plane...');
  void cleanup(130);
});
process.on('SIGTERM', () => void cleanup(143));

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const freePort = () =>
  new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });

function readEvents(name) {
  try {
    return readFileSync(join(workDir, `${name}.jsonl`), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => ({ ...JSON.parse(line), at: BigInt(JSON.parse(line).at) }));
  } catch {
    return [];
  }
}

async function launch(name, user) {
  const port = await freePort();
  const child = spawn(process.execPath, ['sample/dist/main.js'], {
    env: {
      ...process.env,
      KUBECONFIG: plane.kubeconfigs[user],
      POD_NAME: name,
      PORT: String(port),
      HOST: '127.0.0.1',
      EVENT_LOG: join(workDir, `${name}.jsonl`),
      LEASE_NAME: 'demo-leader',
      LEASE_NAMESPACE: 'default',
      LEASE_DURATION_MS: String(timings.leaseDuration),
      RENEW_DEADLINE_MS: String(timings.renewDeadline),
      RETRY_PERIOD_MS: String(timings.retryPeriod),
      RECONCILE_INTERVAL_MS: '500',
      RECONCILE_WORK_MS: '100',
      REPORT_CRON: '*/5 * * * * *',
      SPREAD_JOBS: String(SPREAD_JOBS),
      SPREAD_INTERVAL_MS: '500',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr = (stderr + chunk).slice(-4000)));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stderr })));
  children.set(name, { name, port, child, exited, status: null, gone: false, logged: { events: 0, up: false } });
  event(`${name} started (pid ${child.pid})`);
  void exited.then(({ code, signal }) => !cleaningUp && event(`${name} exited (${signal ?? `code ${code}`})`));
  return children.get(name);
}

async function poll() {
  await Promise.all(
    [...children.values()].map(async (replica) => {
      if (replica.gone) return;
      try {
        const response = await fetch(`http://127.0.0.1:${replica.port}/leader`, { signal: AbortSignal.timeout(400) });
        replica.status = await response.json();
      } catch {
        replica.status = null;
      }
    }),
  );
}

function render(title) {
  if (!tty) return logChanges(title);
  const rows = [...children.values()].map((replica) => {
    const status = replica.status;
    const state = replica.gone
      ? dim(replica.gone)
      : !status
        ? dim('starting')
        : status.isLeader
          ? green(bold('LEADER'))
          : 'follower';
    const token = status?.term ? String(status.term.fencingToken) : '-';
    const runs = status ? `${status.runs.reconcile} reconcile / ${status.runs.report} report` : '-';
    const jobs = status?.spread ? status.spread.leading.join(', ') || '-' : '-';
    return `  ${replica.name.padEnd(12)} ${state.padEnd(tty ? 19 : 10)} token ${token.padEnd(4)} sees leader ${String(status?.leader ?? '-').padEnd(12)} ran ${runs.padEnd(26)} jobs ${jobs}`;
  });
  const view = [
    bold(`nestjs-lease-election demo — ${title}`),
    dim(
      `lease ${timings.leaseDuration}ms · renew deadline ${timings.renewDeadline}ms · retry ${timings.retryPeriod}ms`,
    ),
    ...rows,
  ].join('\n');
  process.stdout.write(`\x1b[2J\x1b[H${view}\n`);
}

// Not a terminal: instead of the table, one line per change since the last look.
let loggedTitle;
function logChanges(title) {
  logTermEvents();
  if (title !== loggedTitle) say(bold((loggedTitle = title)));
  for (const replica of children.values()) {
    if (replica.gone || !replica.status || replica.logged.up) continue;
    replica.logged.up = true;
    say(`${replica.name} is up, sees leader ${replica.status.leader ?? '-'}`);
  }
}

/** Leadership changes, from the replicas' own event logs (their times, not the polling's). */
function logTermEvents() {
  const fresh = [];
  for (const replica of children.values()) {
    const events = readEvents(replica.name);
    fresh.push(...events.slice(replica.logged.events));
    replica.logged.events = events.length;
  }
  fresh.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  for (const { event: kind, identity, at, token, reason } of fresh) {
    if (kind === 'term-start') console.log(`${stamp(at)} ${green(`${identity} leads`)} (fencing token ${token})`);
    if (kind === 'term-end') console.log(`${stamp(at)} ${identity} stops leading (${reason}, token ${token})`);
  }
}

/** A step of the demo, logged when not in a terminal (where the table shows it). */
function event(message) {
  if (tty) return;
  logTermEvents();
  say(message);
}

/** Once per phase when not in a terminal: what each live replica has run as leader. */
function logRuns() {
  const runs = [...children.values()]
    .filter((replica) => !replica.gone && replica.status)
    .map(({ name, status }) => `${name} ${status.runs.reconcile}/${status.runs.report}`);
  event(`leader-only runs (reconcile/report): ${runs.join(', ')}`);
}

async function watch(title, ms) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    await poll();
    render(title);
    await sleep(tty ? 250 : 1000);
  }
}

function leaderName() {
  return [...children.values()].find((replica) => !replica.gone && replica.status?.isLeader)?.name;
}

async function waitForNewTerm(after, excluding, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const replica of children.values()) {
      if (replica.name === excluding) continue;
      const start = readEvents(replica.name).find((event) => event.event === 'term-start' && event.at > after);
      if (start) return { replica: replica.name, at: start.at, token: start.token };
    }
    await poll();
    render('waiting for the next leader');
    await sleep(50);
  }
  throw new Error(`no new leader within ${timeoutMs}ms`);
}

/** Work spans of one kind (`work` for the main election, `job-work` for the spread jobs, keyed by job). */
function overlapCheck(kind = 'work') {
  // Leader-only work of one election on different replicas must never overlap in time.
  const spans = [];
  for (const replica of children.values()) {
    const open = new Map();
    for (const event of readEvents(replica.name)) {
      if (event.event === `${kind}-begin`) open.set(event.election, event.at);
      if (event.event === `${kind}-end` && open.has(event.election)) {
        spans.push({ name: replica.name, election: event.election, start: open.get(event.election), end: event.at });
        open.delete(event.election);
      }
    }
  }
  let overlaps = 0;
  for (let i = 0; i < spans.length; i++) {
    for (let j = i + 1; j < spans.length; j++) {
      const [a, b] = [spans[i], spans[j]];
      if (a.name !== b.name && a.election === b.election && a.start < b.end && b.start < a.end) overlaps++;
    }
  }
  return { spans: spans.length, overlaps };
}

/** How many spread jobs each live replica runs, sorted, for example "2/2/2"; null until every one reports. */
function spreadLoads() {
  const live = [...children.values()].filter((replica) => !replica.gone);
  if (live.some((replica) => !replica.status?.spread)) return null;
  const led = live.flatMap((replica) => replica.status.spread.leading);
  if (led.length !== SPREAD_JOBS || new Set(led).size !== SPREAD_JOBS) return null;
  return live
    .map((replica) => replica.status.spread.leading.length)
    .sort((a, b) => a - b)
    .join('/');
}

/** Waits until the spread jobs are shared evenly by the live replicas; returns the ms it took, or null. */
async function waitForEvenSpread(title, from, timeoutMs) {
  const live = [...children.values()].filter((replica) => !replica.gone).length;
  const even = Array.from(
    { length: live },
    (_, i) => Math.floor(SPREAD_JOBS / live) + (i >= live - (SPREAD_JOBS % live) ? 1 : 0),
  );
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    await poll();
    render(title);
    if (spreadLoads() === even.join('/'))
      return { ms: Number(process.hrtime.bigint() - from) / 1e6, loads: even.join('/') };
    await sleep(50);
  }
  return { ms: null, loads: spreadLoads() };
}

try {
  say(bold('Starting a local control plane (etcd + kube-apiserver)...'));
  say(dim('The first run builds both from Go modules into ~/.cache (about 4 minutes); later runs start in seconds.'));
  if (!tty)
    say(
      `lease ${timings.leaseDuration}ms · renew deadline ${timings.renewDeadline}ms · retry ${timings.retryPeriod}ms`,
    );
  plane = await startControlPlane({ log: (message) => say(dim(message)) });
  const launchedAt = process.hrtime.bigint();
  for (let index = 0; index < replicas; index++) await launch(`replica-${index}`, `candidate-${index % 8}`);
  await watch('electing', 1000);
  const deadline = Date.now() + 20_000;
  while (!leaderName() && Date.now() < deadline) await watch('electing', 500);
  if (!leaderName()) throw new Error('no replica became leader within 20s');
  const coldStart = await waitForEvenSpread('spreading 6 jobs over the replicas', launchedAt, 30_000);
  await watch('steady state: only the leader runs its jobs; the 6 spread jobs are shared', observeMs);
  logRuns();
  event(`spread jobs per replica: ${spreadLoads() ?? 'not settled'}`);

  // Graceful handover: SIGTERM → drain → release → next replica.
  const first = leaderName();
  event(`SIGTERM to the leader ${first}: it should drain and release the lease`);
  const termAt = process.hrtime.bigint();
  children.get(first).child.kill('SIGTERM');
  const handover = await waitForNewTerm(termAt, first, timings.leaseDuration * 3);
  const handoverMs = Number(handover.at - termAt) / 1e6;
  Object.assign(children.get(first), { gone: 'stopped (SIGTERM)', status: null });
  await children.get(first).exited;
  const afterLeave = await waitForEvenSpread("the leaver's jobs move at once", termAt, timings.leaseDuration * 3);
  event(`spread jobs after ${first} left: ${afterLeave.loads} in ${afterLeave.ms?.toFixed(0) ?? '-'} ms`);
  const rejoinAt = process.hrtime.bigint();
  await launch(`replica-${replicas}`, `candidate-${replicas % 8}`);
  const afterJoin = await waitForEvenSpread('a new replica receives its share', rejoinAt, timings.leaseDuration * 10);
  event(`spread jobs after replica-${replicas} joined: ${afterJoin.loads} in ${afterJoin.ms?.toFixed(0) ?? '-'} ms`);
  await watch(`graceful handover: ${first} → ${handover.replica} in ${handoverMs.toFixed(0)}ms`, observeMs);
  logRuns();

  // Crash failover: SIGKILL → the lease must expire on the followers' clocks.
  const second = leaderName() ?? handover.replica;
  event(`SIGKILL to the leader ${second}: no release, the lease must expire`);
  const killAt = process.hrtime.bigint();
  children.get(second).child.kill('SIGKILL');
  Object.assign(children.get(second), { gone: 'killed (SIGKILL)', status: null });
  const failover = await waitForNewTerm(killAt, second, timings.leaseDuration * 4);
  const failoverMs = Number(failover.at - killAt) / 1e6;
  const afterKill = await waitForEvenSpread(
    "the killed replica's jobs move after expiry",
    killAt,
    timings.leaseDuration * 10,
  );
  event(`spread jobs after ${second} was killed: ${afterKill.loads} in ${afterKill.ms?.toFixed(0) ?? '-'} ms`);
  await watch(`crash failover: ${second} → ${failover.replica} in ${failoverMs.toFixed(0)}ms`, observeMs);
  logRuns();

  const { spans, overlaps } = overlapCheck();
  const jobWork = overlapCheck('job-work');
  const summary = [
    '',
    bold('Measured'),
    `  graceful handover (SIGTERM ${first} → ${handover.replica} leads): ${green(`${handoverMs.toFixed(0)} ms`)}` +
      dim(`  (without a release it would take ~leaseDuration = ${timings.leaseDuration} ms)`),
    `  crash failover   (SIGKILL ${second} → ${failover.replica} leads): ${yellow(`${failoverMs.toFixed(0)} ms`)}` +
      dim(
        `  (${(failoverMs / timings.leaseDuration).toFixed(2)} × leaseDuration; expected between leaseDuration − retryPeriod ` +
          `and leaseDuration + 2.2 × retryPeriod)`,
      ),
    `  fencing tokens: ${handover.token} → ${failover.token} (strictly increasing)`,
    `  leader-only work executions: ${spans}, overlapping across replicas: ${overlaps === 0 ? green('0') : overlaps}`,
    `  spread jobs (${SPREAD_JOBS} on ${replicas} replicas): ${coldStart.loads} at start (${coldStart.ms?.toFixed(0) ?? '-'} ms after launch); ` +
      `${afterLeave.loads} ${afterLeave.ms?.toFixed(0) ?? '-'} ms after the SIGTERM; ${afterJoin.loads} ${afterJoin.ms?.toFixed(0) ?? '-'} ms after a new replica joined; ` +
      `${afterKill.loads} ${afterKill.ms?.toFixed(0) ?? '-'} ms after the SIGKILL`,
    `  spread job executions: ${jobWork.spans}, overlapping on one job across replicas: ${jobWork.overlaps === 0 ? green('0') : jobWork.overlaps}`,
    '',
  ].join('\n');
  console.log(summary);
  const spreadOk = [coldStart, afterLeave, afterJoin, afterKill].every((phase) => phase.ms !== null);
  await cleanup(overlaps === 0 && jobWork.overlaps === 0 && spreadOk ? 0 : 1);
} catch (error) {
  console.error(`demo failed: ${error.stack ?? error}`);
  for (const replica of children.values()) {
    if (replica.child.exitCode !== null && replica.child.exitCode !== 0) {
      console.error(`${replica.name} exited ${replica.child.exitCode}:\n${(await replica.exited).stderr}`);
    }
  }
  await cleanup(1);
}
