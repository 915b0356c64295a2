// `node bench/handover-path.mjs [--trials N] [--candidates N]`: where the time of
// one graceful handover goes. Runs our candidates (built dist/) on one Lease
// against a real kube-apiserver with its audit log, SIGTERMs the leader, and
// prints every step on one time line in ms after the signal: in the processes
// (SIGTERM handled, term stopped, release sent/answered, watched change, the
// successor's write sent/answered, started) and at the API server (each Lease
// write received and answered, from the audit log). Timings 4s/2s/0.5s.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { startControlPlane } from '../test/support/control-plane/control-plane.mjs';
import { AuditLog, Fleet, delay, implementation, msBetween, now, percentile } from './support.mjs';

const { values } = parseArgs({
  options: { trials: { type: 'string', default: '8' }, candidates: { type: 'string', default: '3' } },
});
const trials = Number.parseInt(values.trials, 10);
const count = Number.parseInt(values.candidates, 10);
const here = fileURLToPath(new URL('.', import.meta.url));
const candidate = implementation('ours', process.execPath, [join(here, 'handover-path-candidate.mjs')]);
const timings = { LEASE_DURATION: '4000', RENEW_DEADLINE: '2000', RETRY_PERIOD: '500' };
/** Wall-clock ms of an audit timestamp, microseconds kept. */
function wallMs(stamp) {
  const [seconds, fraction = '0'] = stamp.replace('Z', '').split('.');
  return Date.parse(`${seconds}Z`) + Number(`0.${fraction}`) * 1000;
}

const plane = await startControlPlane({ auditLog: true, candidates: count, log: () => undefined });
const audit = new AuditLog(plane.auditLogPath);
const totals = [];
try {
  for (let trial = 0; trial < trials; trial++) {
    const lease = `handover-path-${trial}`;
    const fleet = new Fleet(candidate, { ...timings, LEASE_NAME: lease });
    for (let i = 0; i < count; i++) fleet.launch(`c${i}`, `candidate-${i}`, plane.kubeconfigs[`candidate-${i}`]);
    const leader = await fleet.waitUntil(() => {
      const started = fleet.events.find((event) => event.event === 'started');
      const seen = new Set(
        fleet.events.filter((event) => event.event === 'new-leader').map((event) => event.candidate),
      );
      return started && seen.size >= count - 1 ? started.candidate : null;
    }, 60_000);
    if (!leader) throw new Error(`trial ${trial}: no settled leader\n${fleet.diagnostics()}`);
    await delay(1000 + Math.random() * 1000);
    const offset = audit.offset();
    const old = fleet.candidates.find((c) => c.identity === leader);
    const signalledAt = now();
    const signalledWall = performance.timeOrigin + performance.now();
    old.child.kill('SIGTERM');
    const next = await fleet.waitUntil(
      () => fleet.find((e) => e.event === 'started' && e.candidate !== leader && e.at > signalledAt),
      10_000,
    );
    await delay(300);
    const steps = fleet.events
      .filter((e) => e.at > signalledAt && !['new-leader', 'follower-mode', 'exited'].includes(e.event))
      .map((e) => ({
        ms: msBetween(signalledAt, e.at),
        what: `${e.candidate} ${e.event}${e.holder !== undefined ? ` (${e.holder || 'released'})` : ''}`,
      }));
    for (const line of audit.readSince(offset)) {
      if (line.objectRef?.name !== lease || line.stage !== 'ResponseComplete' || line.verb === 'watch') continue;
      const who = `apiserver ${line.verb} by c${line.user.username.replace('candidate-', '')}`;
      steps.push({ ms: wallMs(line.requestReceivedTimestamp) - signalledWall, what: `${who} received` });
      steps.push({
        ms: wallMs(line.stageTimestamp) - signalledWall,
        what: `${who} answered ${line.responseStatus?.code}`,
      });
    }
    steps.sort((a, b) => a.ms - b.ms);
    const total = next ? msBetween(signalledAt, next.at) : null;
    totals.push(total ?? Number.POSITIVE_INFINITY);
    process.stdout.write(
      `trial ${trial}: SIGTERM ${leader} -> ${next?.candidate ?? 'nobody'} started after ${total?.toFixed(1) ?? '-'} ms\n`,
    );
    for (const step of steps) process.stdout.write(`  ${step.ms.toFixed(1).padStart(7)}  ${step.what}\n`);
    await fleet.kill();
  }
  process.stdout.write(`p50 ${percentile(totals, 50).toFixed(1)} ms over ${trials} trials (${count} candidates)\n`);
} finally {
  await plane.stop();
}
