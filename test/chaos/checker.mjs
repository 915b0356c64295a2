// Checks a chaos run: every replica's EVENT_LOG (JSON lines written by the
// sample app) against the harness's own timeline of signals, faults and
// Lease writes. All times are process.hrtime.bigint() nanoseconds
// (CLOCK_MONOTONIC, shared by every process on the machine).
//
// Usage on a kept run directory: node test/chaos/checker.mjs <run-dir>
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const NS_PER_MS = 1_000_000n;
const ms = (ns) => Number(ns) / 1e6;
const fromMs = (value) => BigInt(Math.round(value * 1e6));
/** A process that SIGSTOP has stopped may still log this long after the harness sent the signal (a few µs in practice). */
const STOP_LATENCY_NS = 20n * NS_PER_MS;

/** Reads one JSON-lines file; `at` fields become BigInt. A torn last line (SIGKILL mid-write) is skipped. */
export function readJsonLines(path) {
  if (!existsSync(path)) return [];
  const lines = readFileSync(path, 'utf8').split('\n');
  const records = [];
  for (const [index, line] of lines.entries()) {
    if (!line.trim()) continue;
    try {
      const record = JSON.parse(line);
      for (const key of Object.keys(record)) {
        if ((key === 'at' || key.endsWith('At')) && typeof record[key] === 'string' && /^\d+$/.test(record[key])) {
          record[key] = BigInt(record[key]);
        }
      }
      records.push(record);
    } catch (error) {
      if (index < lines.length - 2) throw new Error(`${path}:${index + 1}: ${error.message}`, { cause: error });
    }
  }
  return records;
}

/** Reads a kept run directory: events/<identity>.jsonl, timeline.jsonl, probes.jsonl (if any) and run.json. */
export function loadRun(dir) {
  const events = new Map();
  for (const file of readdirSync(join(dir, 'events'))) {
    if (file.endsWith('.jsonl')) events.set(file.slice(0, -'.jsonl'.length), readJsonLines(join(dir, 'events', file)));
  }
  const run = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'));
  const probesPath = join(dir, 'probes.jsonl');
  const probes = existsSync(probesPath) ? readJsonLines(probesPath) : undefined;
  return { events, timeline: readJsonLines(join(dir, 'timeline.jsonl')), probes, ...run };
}

/** 503s (or no answer) from a replica this soon after its launch are boot noise, not a verdict. */
export const PROBE_STARTUP_GRACE_MS = 3000;

/**
 * Health probes (`/health/live` and `/health/ready`, sent by run.mjs to every replica that is running and not
 * frozen). Counts per replica and path: sent, 200s, 503s by reason, no answers. A replica the checker sees as
 * healthy must answer 200 on `/health/live`: outages (partitions, latency, apiserver restarts, blackholes) are
 * not wedges, and the elector keeps making attempts that time out. Healthy means: past its startup grace, not
 * stopping (no SIGTERM/SIGKILL yet), and not frozen at any moment of the probe nor within renewDeadline + slack
 * of waking (a woken process may answer before its overdue timers have run). `/health/ready` is recorded, not
 * asserted. There is no wedge fault, so "a wedged replica answers 200" is not checked here (unit tests cover it).
 */
function checkProbes({ probes, lives, timings, slackMs, violation }) {
  const postWakeGrace = fromMs(timings.renewDeadline + slackMs);
  const startupGrace = fromMs(PROBE_STARTUP_GRACE_MS);
  const blank = () => ({
    sent: 0,
    ok: 0,
    down: 0,
    noAnswer: 0,
    excused: { frozen: 0, startup: 0, stopping: 0 },
    downReasons: {},
  });
  const byReplica = {};
  const totals = { live: blank(), ready: blank() };
  const firstAnswer = new Map();
  for (const probe of probes) {
    if (probe.status !== null && probe.status !== undefined) {
      const seen = firstAnswer.get(probe.identity);
      if (seen === undefined || probe.at < seen) firstAnswer.set(probe.identity, probe.at);
    }
  }
  const ordered = [...probes].sort((a, b) => (a.sentAt < b.sentAt ? -1 : a.sentAt > b.sentAt ? 1 : 0));
  for (const probe of ordered) {
    const path = probe.path === 'ready' ? 'ready' : 'live';
    const counts = [(byReplica[probe.identity] ??= { live: blank(), ready: blank() })[path], totals[path]];
    const state = lives.get(probe.identity);
    const launchedAt = state?.launchedAt ?? 0n;
    const stoppedAt = state?.stoppedAt ?? null;
    const frozen = (state?.freezes ?? []).some(
      (freeze) => freeze.from < probe.at && (freeze.to ?? probe.at) + postWakeGrace > probe.sentAt,
    );
    const excuse =
      stoppedAt !== null && probe.at >= stoppedAt
        ? 'stopping'
        : frozen
          ? 'frozen'
          : probe.sentAt < launchedAt + startupGrace ||
              (probe.status == null && !(firstAnswer.get(probe.identity) < probe.sentAt))
            ? 'startup'
            : null;
    for (const count of counts) {
      count.sent++;
      if (probe.status === 200) count.ok++;
      else if (excuse) count.excused[excuse]++;
      else if (probe.status == null) count.noAnswer++;
      else count.down++;
      if (probe.status != null && probe.status !== 200) {
        // Durations vary from probe to probe; group by the rest of the message.
        const text = (probe.reason ?? '(no reason)').replace(/\d+(\.\d+)?(ms|s)\b/g, 'N$2').slice(0, 120);
        const reason = `${probe.status} ${text}`;
        count.downReasons[reason] = (count.downReasons[reason] ?? 0) + 1;
      }
    }
    if (path === 'live' && probe.status != null && probe.status !== 200 && !excuse) {
      violation(
        'liveness-down',
        `${probe.identity} answered ${probe.status} on /health/live while running and not frozen` +
          ` (${ms(probe.sentAt - launchedAt).toFixed(0)}ms after launch; state ${probe.state ?? '?'}, mode ${probe.mode ?? '?'}): ${probe.reason ?? '(no reason)'}`,
        { identity: probe.identity, atMs: ms(probe.sentAt) },
      );
    }
  }
  return { ...totals, byReplica, startupGraceMs: PROBE_STARTUP_GRACE_MS, postWakeGraceMs: ms(postWakeGrace) };
}

function byStart(a, b) {
  return a.start < b.start ? -1 : a.start > b.start ? 1 : 0;
}

/** Largest overlap (ns) between spans of different identities, and every overlapping pair. */
function overlaps(spans) {
  const sorted = [...spans].sort(byStart);
  const active = [];
  const pairs = [];
  let max = 0n;
  for (const span of sorted) {
    for (let index = active.length - 1; index >= 0; index--)
      if (active[index].end <= span.start) active.splice(index, 1);
    for (const other of active) {
      if (other.identity === span.identity) continue;
      const overlap = (other.end < span.end ? other.end : span.end) - span.start;
      if (overlap > 0n) {
        pairs.push({ a: other, b: span, overlapNs: overlap });
        if (overlap > max) max = overlap;
      }
    }
    active.push(span);
  }
  return { maxNs: max, pairs };
}

/**
 * A replica run under libfaketime logs faked CLOCK_MONOTONIC times. The harness records `clock` samples for it:
 * pairs { realAt, fakeAt } read over IPC (and the rate it set). Its events are mapped to the real clock: through
 * the first sample, at the rate measured between the first and last sample when they are 1 s or more apart, else
 * at the rate set. Replaces the replica's event list in `events`; returns { identity: { rate, measuredRate } }.
 */
export function mapSkewedClocks(events, timeline) {
  const samples = new Map();
  for (const record of timeline) {
    if (record.kind === 'clock') samples.set(record.identity, [...(samples.get(record.identity) ?? []), record]);
  }
  const clocks = {};
  for (const [identity, list] of samples) {
    const first = list[0];
    const last = list[list.length - 1];
    const measured =
      last.realAt - first.realAt >= 1_000_000_000n
        ? Number(last.fakeAt - first.fakeAt) / Number(last.realAt - first.realAt)
        : null;
    const rate = measured ?? first.rate;
    clocks[identity] = { rate: first.rate, measuredRate: measured === null ? null : Number(measured.toFixed(4)) };
    const log = events.get(identity);
    if (!log) continue;
    const toReal = (fake) => first.realAt + BigInt(Math.round(Number(fake - first.fakeAt) / rate));
    events.set(
      identity,
      log.map((event) => ({ ...event, at: toReal(event.at) })),
    );
  }
  return clocks;
}

/**
 * @param {{
 *   events: Map<string, object[]>,
 *   timeline: object[],
 *   timings: { leaseDuration: number, renewDeadline: number, retryPeriod: number },
 *   slackMs: number,
 *   endAt: bigint,
 * }} run
 */
export function checkRun(run) {
  const { events, timeline, timings, slackMs } = run;
  const violations = [];
  const violation = (kind, message, details = {}) => violations.push({ kind, message, ...details });
  const recoveryBoundMs = timings.leaseDuration + 2.2 * timings.retryPeriod + slackMs;
  const endAt = run.endAt ?? timeline.reduce((max, record) => (record.at > max ? record.at : max), 0n);
  const clocks = mapSkewedClocks(events, timeline);
  for (const [identity, clock] of Object.entries(clocks)) {
    // A skew that did not take (libfaketime not loaded, or the monotonic clock not faked) would test nothing.
    if (clock.measuredRate !== null && Math.abs(clock.measuredRate / clock.rate - 1) > 0.02) {
      violation(
        'clock-skew-not-applied',
        `${identity}: clock rate set to ${clock.rate}, measured ${clock.measuredRate}`,
      );
    }
  }

  // ------------------------------------------------ what happened to each process
  // identity -> { launchedAt, killedAt, stoppedAt (first SIGTERM or SIGKILL), exitedAt, exit, freezes: [{from, to}] }
  const lives = new Map();
  const life = (identity) => {
    if (!lives.has(identity)) {
      lives.set(identity, {
        launchedAt: null,
        killedAt: null,
        stoppedAt: null,
        exitedAt: null,
        exit: null,
        freezes: [],
      });
    }
    return lives.get(identity);
  };
  for (const record of timeline) {
    if (record.kind === 'launch') life(record.identity).launchedAt ??= record.at;
    if (record.kind === 'signal') {
      const state = life(record.identity);
      if (record.signal === 'SIGKILL' && state.killedAt === null) state.killedAt = record.at;
      if ((record.signal === 'SIGKILL' || record.signal === 'SIGTERM') && state.stoppedAt === null)
        state.stoppedAt = record.at;
      if (record.signal === 'SIGSTOP') state.freezes.push({ from: record.at, to: null });
      if (record.signal === 'SIGCONT') {
        const open = state.freezes.find((freeze) => freeze.to === null);
        if (open) open.to = record.at;
      }
    }
    if (record.kind === 'exit') {
      const state = life(record.identity);
      state.exitedAt = record.at;
      state.exit = record;
      if (!record.expected) {
        violation('crash', `${record.identity} exited unexpectedly (code ${record.code}, signal ${record.signal})`, {
          identity: record.identity,
        });
      }
    }
  }
  for (const [identity, state] of lives) {
    // Killed while frozen: it never ran again.
    for (const freeze of state.freezes) if (freeze.to === null) freeze.to = state.killedAt ?? state.exitedAt ?? endAt;
    if (!events.has(identity)) events.set(identity, []);
  }
  /** The last moment the process can have acted: SIGKILL, else an observed exit, else the end of the run. */
  const deathOf = (identity) => {
    const state = lives.get(identity);
    return state?.killedAt ?? state?.exitedAt ?? endAt;
  };

  // A frozen process cannot act: a span that was running when it froze and
  // whose logged end comes after it woke is cut at the freeze (or at its last
  // sign of life before waking, if that is later).
  const clampInfo = (identity, start, loggedEnd) => {
    const state = lives.get(identity);
    const log = events.get(identity) ?? [];
    for (const freeze of state?.freezes ?? []) {
      if (start < freeze.from && loggedEnd > freeze.to) {
        let cut = freeze.from;
        for (const event of log) if (event.at >= freeze.from && event.at < freeze.to && event.at > cut) cut = event.at;
        return { end: cut, clampedBy: freeze };
      }
    }
    return { end: loggedEnd, clampedBy: null };
  };

  // ------------------------------------------------------------ terms and work
  const terms = [];
  const work = [];
  const naive = [];
  let abortedWork = 0;
  let lostWork = 0;
  for (const [identity, log] of events) {
    const state = lives.get(identity);
    for (const freeze of state?.freezes ?? []) {
      const leaked = log.filter((event) => event.at > freeze.from + STOP_LATENCY_NS && event.at < freeze.to);
      if (leaked.length > 0) {
        violation('freeze-leak', `${identity} logged ${leaked.length} events while SIGSTOPped`, { identity });
      }
    }
    let open = null;
    const openWork = [];
    const openNaive = [];
    const death = deathOf(identity);
    for (const event of log) {
      if (event.event === 'term-start') {
        if (open) violation('log', `${identity}: term-start while a term is open`, { identity, at: ms(event.at) });
        open = { identity, start: event.at, token: event.token, loggedEnd: null, reason: null };
      } else if (event.event === 'term-end') {
        if (!open) {
          violation('log', `${identity}: term-end without term-start`, { identity });
          continue;
        }
        if (event.token !== open.token) {
          violation('fencing', `${identity}: term-end token ${event.token} differs from term-start ${open.token}`);
        }
        open.loggedEnd = event.at;
        open.reason = event.reason;
        terms.push(open);
        open = null;
      } else if (event.event === 'naive-begin') {
        openNaive.push({ identity, start: event.at, token: event.token });
      } else if (event.event === 'naive-end') {
        const begun = openNaive.shift();
        if (begun) naive.push({ ...begun, end: event.at, aborted: event.aborted === true });
      } else if (event.event === 'work-begin') {
        openWork.push({ identity, start: event.at, token: event.token });
      } else if (event.event === 'work-end') {
        const begun = openWork.shift();
        if (!begun) {
          violation('log', `${identity}: work-end without work-begin`, { identity });
          continue;
        }
        begun.loggedEnd = event.at;
        begun.aborted = event.aborted === true;
        if (begun.aborted) abortedWork++;
        work.push(begun);
      }
    }
    if (open) terms.push({ ...open, loggedEnd: death, reason: 'killed or still running' });
    for (const begun of openWork) {
      work.push({ ...begun, loggedEnd: death, aborted: null });
      // Lost: begun, never ended (completed or aborted), by a process that was not SIGKILLed.
      if (!(state?.killedAt != null)) {
        lostWork++;
        violation('work-lost', `${identity}: leader-only work begun and never ended, without a SIGKILL`, {
          identity,
          at: ms(begun.start),
        });
      }
    }
    for (const begun of openNaive) naive.push({ ...begun, end: death, aborted: null });
  }
  for (const span of [...terms, ...work]) {
    const { end, clampedBy } = clampInfo(span.identity, span.start, span.loggedEnd);
    span.end = end;
    span.clampedBy = clampedBy;
  }

  // Leader-only work: only inside the replica's own (clamped) term, with its token; woken work ends aborted.
  const termsOf = new Map();
  for (const term of terms) termsOf.set(term.identity, [...(termsOf.get(term.identity) ?? []), term]);
  for (const execution of work) {
    const term = (termsOf.get(execution.identity) ?? []).find(
      (candidate) => candidate.start <= execution.start && execution.start <= candidate.end,
    );
    if (!term) {
      violation('work-outside-term', `${execution.identity} began leader-only work while not leader`, {
        identity: execution.identity,
        at: ms(execution.start),
      });
    } else if (term.token !== execution.token) {
      violation('fencing', `${execution.identity}: work token ${execution.token} in a term with token ${term.token}`);
    }
    if (execution.clampedBy && execution.aborted !== true) {
      violation(
        'stale-work-after-wake',
        `${execution.identity}: leader-only work running when it was frozen ended after SIGCONT with aborted=${execution.aborted} (its term had ended while frozen)`,
        {
          identity: execution.identity,
          workBeganMsBeforeFreeze: ms(execution.clampedBy.from - execution.start),
          endedMsAfterWake: ms(execution.loggedEnd - execution.clampedBy.to),
        },
      );
    }
  }

  // ------------------------------------------------------------------ overlap
  const termOverlap = overlaps(terms);
  for (const { a, b, overlapNs } of termOverlap.pairs) {
    violation('term-overlap', `terms of ${a.identity} and ${b.identity} overlap by ${ms(overlapNs).toFixed(3)}ms`, {
      first: { identity: a.identity, token: a.token, reason: a.reason, startMs: ms(a.start), endMs: ms(a.end) },
      second: { identity: b.identity, token: b.token, startMs: ms(b.start), endMs: ms(b.end) },
    });
  }
  const workOverlap = overlaps(work);
  for (const { a, b, overlapNs } of workOverlap.pairs) {
    violation(
      'work-overlap',
      `leader-only work of ${a.identity} and ${b.identity} overlaps by ${ms(overlapNs).toFixed(3)}ms`,
      {
        first: { identity: a.identity, token: a.token, startMs: ms(a.start), endMs: ms(a.end) },
        second: { identity: b.identity, token: b.token, startMs: ms(b.start), endMs: ms(b.end) },
      },
    );
  }

  // --------------------------------------------------------------- naive work
  // Not a violation: a measurement of what ignoring the term's signal costs. Each naive execution (begin..end,
  // cut at a kill) is intersected with the terms of the other replicas, less the time its process was frozen.
  const intersect = (a, b) => {
    const from = a.start > b.start ? a.start : b.start;
    const to = a.end < b.end ? a.end : b.end;
    return to > from ? { start: from, end: to } : null;
  };
  let maxNaiveOverlap = 0n;
  let totalNaiveOverlap = 0n;
  let naiveOverlapping = 0;
  for (const execution of naive) {
    const freezes = (lives.get(execution.identity)?.freezes ?? []).map(({ from, to }) => ({ start: from, end: to }));
    let overlap = 0n;
    for (const term of terms) {
      if (term.identity === execution.identity) continue;
      const both = intersect(term, execution);
      if (!both) continue;
      overlap += both.end - both.start;
      for (const freeze of freezes) {
        const frozen = intersect(both, freeze);
        if (frozen) overlap -= frozen.end - frozen.start;
      }
    }
    if (overlap > 0n) naiveOverlapping++;
    if (overlap > maxNaiveOverlap) maxNaiveOverlap = overlap;
    totalNaiveOverlap += overlap;
  }
  const naiveWork = {
    executions: naive.length,
    overlapping: naiveOverlapping,
    maxOverlapMs: ms(maxNaiveOverlap),
    totalOverlapMs: ms(totalNaiveOverlap),
  };

  // ------------------------------------------------------------------ fencing
  const ordered = [...terms].sort(byStart);
  for (let index = 1; index < ordered.length; index++) {
    const [previous, current] = [ordered[index - 1], ordered[index]];
    if (!(BigInt(current.token) > BigInt(previous.token))) {
      violation(
        'fencing',
        `fencing token did not increase: ${previous.identity} had ${previous.token}, then ${current.identity} started with ${current.token}`,
        { previous: previous.identity, current: current.identity, atMs: ms(current.start) },
      );
    }
  }

  // ----------------------------------------------------------------- recovery
  /** Earliest moment at or after `from` when a term of a replica not excluded is live. */
  const leaderFrom = (from, exclude) => {
    let best = null;
    for (const term of terms) {
      if (term.end <= from) continue;
      if (exclude && term.identity === exclude.identity && term.start < exclude.until) continue;
      const at = term.start > from ? term.start : from;
      if (best === null || at < best.at) best = { at, term };
    }
    return best;
  };
  const faults = timeline.filter((record) => record.kind === 'fault');
  const recoveries = [];
  for (const fault of faults) {
    if (fault.recoverFromAt === undefined || fault.recoverFromAt === null) continue;
    const exclude = fault.exclude
      ? { identity: fault.exclude, until: fault.excludeUntilAt ?? fault.recoverFromAt }
      : null;
    const found = leaderFrom(fault.recoverFromAt, exclude);
    const recoveryMs = found ? ms(found.at - fault.recoverFromAt) : null;
    const entry = { id: fault.id, type: fault.type, recoveryMs, leader: found?.term.identity ?? null };
    recoveries.push(entry);
    if (recoveryMs === null || recoveryMs > recoveryBoundMs) {
      violation(
        'recovery',
        `${fault.type} #${fault.id}: ${recoveryMs === null ? 'no leader afterwards' : `leader after ${recoveryMs.toFixed(0)}ms`}, bound ${recoveryBoundMs.toFixed(0)}ms`,
        { fault: fault.id },
      );
    }
  }

  // ---------------------------------------------------- malformed Lease writes
  const writes = timeline.filter((record) => record.kind === 'lease-write' && record.accepted);
  for (const [index, write] of writes.entries()) {
    if (write.expect === 'no-takeover-until') {
      // An outsider holds a valid claim from the moment it lands: nobody may start a term before it expires,
      // unless another outside write replaced it first.
      const until = write.sentAt + fromMs(write.validForMs);
      const next = writes[index + 1];
      const cutoff = next && next.sentAt < until ? next.sentAt : until;
      for (const term of terms) {
        if (term.start >= write.sentAt && term.start < cutoff) {
          violation(
            'false-leadership',
            `${term.identity} started a term ${ms(term.start - write.sentAt).toFixed(0)}ms after the outside write "${write.shape}" (holder ${write.holder}, valid ${write.validForMs}ms)`,
            { identity: term.identity, shape: write.shape },
          );
        }
      }
      // The leader it overwrote must stand down within renewDeadline of the write landing.
      if (write.leader) {
        const term = terms.find((t) => t.identity === write.leader && t.start < write.sentAt && t.end > write.sentAt);
        const limit = write.doneAt + fromMs(timings.renewDeadline + slackMs);
        if (term && term.end > limit) {
          violation(
            'stale-leader',
            `${write.leader} kept leading ${ms(term.end - write.doneAt).toFixed(0)}ms after its Lease was overwritten by "${write.shape}"`,
            { identity: write.leader },
          );
        }
      }
    }
  }
  for (const episode of faults.filter((fault) => fault.type === 'malformed-keep')) {
    // The holder was kept; every shape was put under a healthy leader: it must keep leading, nobody else may start.
    const term = terms.find(
      (t) => t.identity === episode.target && t.start < episode.startAt && t.end > episode.clearAt,
    );
    if (!term) {
      violation('false-leadership', `malformed-keep #${episode.id}: the leader ${episode.target} lost its term`, {
        fault: episode.id,
      });
    }
    for (const other of terms) {
      if (other.identity !== episode.target && other.start >= episode.startAt && other.start <= episode.clearAt) {
        violation('false-leadership', `malformed-keep #${episode.id}: ${other.identity} started a term`, {
          fault: episode.id,
        });
      }
    }
  }

  // A leader that slept through its renew deadline must notice at once on waking.
  for (const term of terms) {
    if (!term.clampedBy) continue;
    const lateMs = ms(term.loggedEnd - term.clampedBy.to);
    if (lateMs > timings.renewDeadline + slackMs) {
      violation(
        'woken-leader-kept-term',
        `${term.identity} logged the end of a term that had expired while it was frozen only ${lateMs.toFixed(0)}ms after waking`,
        { identity: term.identity },
      );
    }
  }

  const health = run.probes ? checkProbes({ probes: run.probes, lives, timings, slackMs, violation }) : null;

  // Problems the harness noticed itself (a shutdown that hung, a replica that never took part, ...).
  for (const problem of timeline.filter((record) => record.kind === 'problem')) {
    violation(problem.problem, problem.message);
  }

  const faultCounts = {};
  for (const fault of faults) faultCounts[fault.type] = (faultCounts[fault.type] ?? 0) + 1;
  let worst = null;
  for (const entry of recoveries)
    if (worst === null || (entry.recoveryMs ?? Infinity) > (worst.recoveryMs ?? Infinity)) worst = entry;
  const recoveryByType = {};
  for (const entry of recoveries) {
    const slot = (recoveryByType[entry.type] ??= { count: 0, maxMs: 0, totalMs: 0 });
    slot.count++;
    slot.maxMs = Math.max(slot.maxMs, entry.recoveryMs ?? Infinity);
    slot.totalMs += entry.recoveryMs ?? 0;
  }
  for (const slot of Object.values(recoveryByType)) {
    slot.meanMs = Math.round(slot.totalMs / slot.count);
    slot.maxMs = Math.round(slot.maxMs);
    delete slot.totalMs;
  }
  const tokens = ordered.map((term) => term.token);
  return {
    ok: violations.length === 0,
    violations,
    faults: faultCounts,
    terms: terms.length,
    termsClampedAtFreeze: terms.filter((term) => term.clampedBy).length,
    fencingTokens: tokens.length ? { first: tokens[0], last: tokens[tokens.length - 1] } : null,
    clocks,
    maxTermOverlapMs: ms(termOverlap.maxNs),
    maxWorkOverlapMs: ms(workOverlap.maxNs),
    leaderOnlyExecutions: work.length,
    leaderOnlyExecutionsAborted: abortedWork,
    leaderOnlyWorkLost: lostWork,
    naiveWork,
    health,
    recoveryBoundMs,
    worstRecovery: worst
      ? {
          ms: Math.round(worst.recoveryMs ?? Infinity),
          timesLeaseDuration: Number(((worst.recoveryMs ?? Infinity) / timings.leaseDuration).toFixed(2)),
          fault: `${worst.type} #${worst.id}`,
        }
      : null,
    recoveryByType,
    recoveries,
  };
}

/**
 * Plants each kind of violation in a synthetic run and checks that it is reported (and that a clean run is
 * clean), so a checker that silently passes everything cannot go unnoticed. Returns the failures.
 */
export function selfTest() {
  const at = (value) => BigInt(Math.round(value * 1e6));
  const timings = { leaseDuration: 2000, renewDeadline: 1000, retryPeriod: 250 };
  const event = (name, time, extra = {}) => ({ event: name, at: at(time), ...extra });
  const launch = (identity) => ({ kind: 'launch', identity, at: 0n });
  const check = (events, timeline) =>
    checkRun({ events: new Map(Object.entries(events)), timeline, timings, slackMs: 300, endAt: at(100_000) });
  const cases = [
    {
      name: 'a clean handover',
      expect: [],
      result: check(
        {
          a: [
            event('term-start', 1000, { token: 1 }),
            event('work-begin', 1100, { token: 1 }),
            event('work-end', 1160, { token: 1, aborted: false }),
            event('term-end', 2000, { token: 1 }),
          ],
          b: [event('term-start', 2001, { token: 2 }), event('term-end', 3000, { token: 2 })],
        },
        [launch('a'), launch('b')],
      ),
    },
    {
      name: 'overlapping terms and work, a lower token',
      expect: ['fencing', 'term-overlap', 'work-overlap'],
      result: check(
        {
          a: [
            event('term-start', 1000, { token: 5 }),
            event('work-begin', 1900, { token: 5 }),
            event('work-end', 1960, { token: 5 }),
            event('term-end', 2000, { token: 5 }),
          ],
          b: [
            event('term-start', 1950, { token: 3 }),
            event('work-begin', 1955, { token: 3 }),
            event('work-end', 1990, { token: 3 }),
            event('term-end', 3000, { token: 3 }),
          ],
        },
        [launch('a'), launch('b')],
      ),
    },
    {
      name: 'a frozen leader: its term is cut at the freeze, its woken work must be aborted',
      expect: ['stale-work-after-wake'],
      result: check(
        {
          a: [
            event('term-start', 1000, { token: 1 }),
            event('work-begin', 1990, { token: 1 }),
            event('work-end', 5000.3, { token: 1, aborted: false }),
            event('term-end', 5001, { token: 1 }),
          ],
          b: [event('term-start', 4100, { token: 2 })],
        },
        [
          launch('a'),
          launch('b'),
          { kind: 'signal', identity: 'a', signal: 'SIGSTOP', at: at(2000) },
          { kind: 'signal', identity: 'a', signal: 'SIGCONT', at: at(5000) },
        ],
      ),
    },
    {
      name: 'a killed leader and a late successor',
      expect: ['recovery'],
      result: check({ a: [event('term-start', 1000, { token: 1 })], b: [event('term-start', 6000, { token: 2 })] }, [
        launch('a'),
        launch('b'),
        { kind: 'signal', identity: 'a', signal: 'SIGKILL', at: at(2000) },
        { kind: 'exit', identity: 'a', expected: true, at: at(2001) },
        { kind: 'fault', id: 1, type: 'kill', recoverFromAt: at(2000), exclude: 'a', excludeUntilAt: at(2000), at: 0n },
      ]),
    },
    {
      name: 'work outside a term, a takeover during an outsider claim, a crash',
      expect: ['crash', 'false-leadership', 'work-outside-term'],
      result: check(
        {
          a: [event('work-begin', 500, { token: 1 }), event('work-end', 560, { token: 1 })],
          b: [event('term-start', 1500, { token: 2 })],
        },
        [
          launch('a'),
          launch('b'),
          {
            kind: 'lease-write',
            accepted: true,
            expect: 'no-takeover-until',
            shape: 'planted',
            validForMs: 2000,
            sentAt: at(1000),
            doneAt: at(1002),
            at: at(1002),
          },
          { kind: 'exit', identity: 'a', code: 1, signal: null, expected: false, at: at(3000) },
        ],
      ),
    },
  ];
  // A replica whose clock ran at `rate` logged faked times; they are mapped back through its clock sample (real
  // 1000 = fake 1000). At 2×, faked 2000..4000 is real 1500..2500: it overlaps b's term (2001..3000). At 2×, faked
  // 2500..2900 is real 1750..1950: clean, though unmapped it would overlap. At 0.5×, faked 1400..1500 is real
  // 1800..2000: clean.
  const skewed = (rate, from, to) =>
    check(
      {
        a: [event('term-start', from, { token: 1 }), event('term-end', to, { token: 1 })],
        b: [event('term-start', 2001, { token: 2 }), event('term-end', 3000, { token: 2 })],
      },
      [
        launch('a'),
        launch('b'),
        { kind: 'clock', identity: 'a', rate, realAt: at(1000), fakeAt: at(1000), at: at(1000) },
      ],
    );
  cases.push({
    name: 'leader-only work begun and never ended by a process that was not SIGKILLed',
    expect: ['work-lost'],
    result: check({ a: [event('term-start', 1000, { token: 1 }), event('work-begin', 1100, { token: 1 })] }, [
      launch('a'),
      { kind: 'exit', identity: 'a', code: 0, signal: null, expected: true, at: at(3000) },
    ]),
  });
  cases.push(
    { name: 'a skewed clock mapped back: overlap', expect: ['term-overlap'], result: skewed(2, 2000, 4000) },
    { name: 'a slow clock mapped back: a clean handover', expect: [], result: skewed(0.5, 1400, 1500) },
    { name: 'a fast clock mapped back: clean', expect: [], result: skewed(2, 2500, 2900) },
  );
  const failures = [];
  // Health probes: a frozen leader (2000..5000), an outage is no excuse.
  const probe = (identity, path, sent, answered, status, reason) => ({
    identity,
    path,
    sentAt: at(sent),
    at: at(answered),
    status,
    ...(reason ? { reason } : {}),
  });
  const probed = (probes) =>
    checkRun({
      events: new Map([
        ['a', [event('term-start', 1000, { token: 1 }), event('term-end', 5001, { token: 1 })]],
        ['b', [event('term-start', 4100, { token: 2 })]],
      ]),
      timeline: [
        launch('a'),
        launch('b'),
        { kind: 'signal', identity: 'a', signal: 'SIGSTOP', at: at(2000) },
        { kind: 'signal', identity: 'a', signal: 'SIGCONT', at: at(5000) },
        { kind: 'signal', identity: 'b', signal: 'SIGTERM', at: at(9000) },
      ],
      probes,
      timings,
      slackMs: 300,
      endAt: at(100_000),
    });
  const excusedProbes = [
    probe('a', 'live', 500, 510, 503, 'booting'), // startup grace
    probe('a', 'live', 1000, 3000, null), // in flight at the freeze: no answer, excused
    probe('a', 'live', 5010, 5020, 503, 'election loop wedged: its next attempt was due 2.1s ago and never ran'), // just woken
    probe('a', 'live', 7000, 7010, 200),
    probe('a', 'ready', 7010, 7020, 503, 'forbidden'), // readiness is recorded, not asserted
    probe('b', 'live', 3500, 3510, 200),
    probe('b', 'live', 6500, 8500, null), // not frozen: a no-answer to report
    probe('b', 'live', 8999, 9001, 503, 'stopping'), // answered after SIGTERM
  ];
  const clean = probed(excusedProbes);
  const healthCounts = clean.health?.live;
  if (
    clean.violations.length > 0 ||
    healthCounts?.sent !== 7 ||
    healthCounts.ok !== 2 ||
    healthCounts.noAnswer !== 1 ||
    healthCounts.down !== 0 ||
    healthCounts.excused.frozen !== 2 ||
    healthCounts.excused.startup !== 1 ||
    healthCounts.excused.stopping !== 1 ||
    clean.health.ready.downReasons['503 forbidden'] !== 1 ||
    clean.health.live.downReasons['503 election loop wedged: its next attempt was due Ns ago and never ran'] !== 1 ||
    clean.health.byReplica.b.live.noAnswer !== 1
  ) {
    failures.push(
      `health probes: expected no violation and 7 live probes (2 ok, 1 no answer, 4 excused), got ${JSON.stringify({ violations: clean.violations, health: clean.health })}`,
    );
  }
  // Planted: a 503 on /health/live from a healthy replica (b, during an outage elsewhere) is a violation.
  const planted = probed([
    ...excusedProbes,
    probe('b', 'live', 6000, 6010, 503, 'election loop wedged: neither attempting nor waiting for 1.2s'),
  ]);
  const plantedKinds = [...new Set(planted.violations.map((item) => item.kind))];
  if (plantedKinds.join() !== 'liveness-down' || planted.health.byReplica.b.live.down !== 1) {
    failures.push(
      `health probes: a planted /health/live 503 from a healthy replica: expected [liveness-down], got [${plantedKinds}]`,
    );
  }
  for (const { name, expect, result } of cases) {
    const found = [...new Set(result.violations.map((item) => item.kind))].sort();
    if (found.join() !== expect.join()) failures.push(`${name}: expected [${expect}], got [${found}]`);
  }
  // A naive job that ignores the signal outlives a's term and runs 599 ms into b's: measured, not a violation.
  const naive = check(
    {
      a: [
        event('term-start', 1000, { token: 1 }),
        event('naive-begin', 1900, { token: 1 }),
        event('term-end', 2000, { token: 1 }),
        event('naive-end', 2600, { token: 1, aborted: true }),
      ],
      b: [event('term-start', 2001, { token: 2 }), event('naive-begin', 2100, { token: 2 })],
    },
    [launch('a'), launch('b')],
  );
  // Frozen from 2200 to 2500: those 300 ms do not count.
  const frozen = check(
    {
      a: [
        event('term-start', 1000, { token: 1 }),
        event('naive-begin', 1900, { token: 1 }),
        event('naive-end', 2600, { token: 1, aborted: true }),
        event('term-end', 2600.5, { token: 1 }),
      ],
      b: [event('term-start', 2001, { token: 2 })],
    },
    [
      launch('a'),
      launch('b'),
      { kind: 'signal', identity: 'a', signal: 'SIGSTOP', at: at(2200) },
      { kind: 'signal', identity: 'a', signal: 'SIGCONT', at: at(2500) },
    ],
  ).naiveWork;
  if (Math.abs(frozen.maxOverlapMs - 299) > 0.001) {
    failures.push(`naive work while frozen: expected 299 ms of overlap, got ${JSON.stringify(frozen)}`);
  }
  const measured = naive.naiveWork;
  if (naive.violations.length > 0 || measured.executions !== 2 || Math.abs(measured.maxOverlapMs - 599) > 0.001) {
    failures.push(
      `naive work: expected 2 executions, max overlap 599 ms and no violation, got ${JSON.stringify(measured)}`,
    );
  }
  return failures;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = process.argv[2];
  if (dir === '--self-test') {
    const failures = selfTest();
    console.log(failures.length === 0 ? 'checker self-test: ok' : `checker self-test FAILED:\n${failures.join('\n')}`);
    process.exit(failures.length === 0 ? 0 : 1);
  }
  if (!dir) {
    console.error('usage: node test/chaos/checker.mjs <run-dir> | --self-test');
    process.exit(2);
  }
  const result = checkRun(loadRun(dir));
  const { recoveries: _recoveries, ...summary } = result;
  console.log(JSON.stringify(summary, null, 2));
  process.exit(result.ok ? 0 : 1);
}
