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

/**
 * How long a spread job may stay without a holder once the faults touching its election have cleared (README,
 * "Ownership gaps"). With the sample's group defaults: requestTimeout = renewDeadline / 2, rankStep =
 * min(100, retryPeriod / 2). The last claim expires leaseDuration after the followers saw it; a polling follower
 * (or one whose last attempt failed) tries within 2.2 × retryPeriod; a ranked candidate stands back up to the
 * previous holder's rank, members + ceil(2 × retryPeriod / rankStep), each rankStep long; the winning attempt is a
 * GET and a PUT, each cut at requestTimeout; plus the run's scheduling slack.
 */
export function ownershipBound(timings, slackMs, members) {
  const { leaseDuration, renewDeadline, retryPeriod } = timings;
  const requestTimeout = renewDeadline / 2;
  const rankStep = Math.min(100, retryPeriod / 2);
  const standBackMs = (members + Math.ceil((2 * retryPeriod) / rankStep)) * rankStep;
  const boundMs = leaseDuration + 2.2 * retryPeriod + standBackMs + 2 * requestTimeout + slackMs;
  return { boundMs, members, standBackMs, rankStep, requestTimeout };
}

/**
 * Faults on the control plane, or on every replica behind an apiserver: they touch every election. Faults that only
 * write the default election's Lease (malformed-*) touch no job; faults on one replica are taken from its signals
 * and its proxy's modes (see checkRun).
 */
const CONTROL_PLANE_FAULTS = new Set([
  'apiserver-restart',
  'apiserver-restart-inflight',
  'partition+apiserver-restart',
  'stop+apiserver-restart',
  'etcd-member-restart',
  'etcd-leader-kill',
  'apiserver-kill',
  'apiserver-move',
  'slow-watch',
  'slow-watch+kill',
]);

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
 *   spreadJobs?: number,
 * }} run
 *
 * Besides the default election (term-*, work-*), each election of the spread jobs (job-* events with an `election`
 * field) is checked on its own by the same rules; violations `job-term-overlap`, `job-work-overlap`,
 * `job-work-outside-term`, `job-work-lost`, `job-fencing`, `job-stale-work-after-wake`, `job-woken-leader-kept-term`,
 * and `spread-missing` when `spreadJobs` jobs were configured and fewer elections were seen.
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

  // ------------------------------------------- spreading group: job-* events
  // The sample's spread jobs (SPREAD_JOBS): one election per job, each analysed like the default election above,
  // on its own. Events: job-term-start/-end and job-work-begin/-end, each with an `election` field.
  const jobTerms = [];
  const jobWork = [];
  let jobWorkAborted = 0;
  let jobWorkLost = 0;
  for (const [identity, log] of events) {
    const state = lives.get(identity);
    const death = deathOf(identity);
    const openTerms = new Map();
    const openWork = new Map();
    for (const event of log) {
      if (typeof event.event !== 'string' || !event.event.startsWith('job-')) continue;
      const election = event.election;
      if (typeof election !== 'string' || election === '') {
        violation('log', `${identity}: ${event.event} without an election`, { identity, at: ms(event.at) });
        continue;
      }
      if (event.event === 'job-term-start') {
        if (openTerms.has(election)) {
          violation('log', `${identity}: job-term-start of "${election}" while its term is open`, {
            identity,
            election,
            at: ms(event.at),
          });
        }
        openTerms.set(election, {
          identity,
          election,
          start: event.at,
          token: event.token,
          loggedEnd: null,
          reason: null,
        });
      } else if (event.event === 'job-term-end') {
        const open = openTerms.get(election);
        if (!open) {
          violation('log', `${identity}: job-term-end of "${election}" without job-term-start`, { identity, election });
          continue;
        }
        if (event.token !== open.token) {
          violation(
            'job-fencing',
            `${identity}: job "${election}" term-end token ${event.token} differs from term-start ${open.token}`,
            { identity, election },
          );
        }
        open.loggedEnd = event.at;
        open.reason = event.reason ?? null;
        jobTerms.push(open);
        openTerms.delete(election);
      } else if (event.event === 'job-work-begin') {
        if (!openWork.has(election)) openWork.set(election, []);
        openWork.get(election).push({ identity, election, start: event.at, token: event.token });
      } else if (event.event === 'job-work-end') {
        const begun = openWork.get(election)?.shift();
        if (!begun) {
          violation('log', `${identity}: job-work-end of "${election}" without job-work-begin`, { identity, election });
          continue;
        }
        begun.loggedEnd = event.at;
        begun.aborted = event.aborted === true;
        if (begun.aborted) jobWorkAborted++;
        jobWork.push(begun);
      }
    }
    for (const open of openTerms.values())
      jobTerms.push({ ...open, loggedEnd: death, reason: 'killed or still running' });
    for (const [election, list] of openWork) {
      for (const begun of list) {
        jobWork.push({ ...begun, loggedEnd: death, aborted: null });
        if (!(state?.killedAt != null)) {
          jobWorkLost++;
          violation('job-work-lost', `${identity}: job "${election}" work begun and never ended, without a SIGKILL`, {
            identity,
            election,
            at: ms(begun.start),
          });
        }
      }
    }
  }

  for (const span of [...terms, ...work, ...jobTerms, ...jobWork]) {
    const { end, clampedBy } = clampInfo(span.identity, span.start, span.loggedEnd);
    span.end = end;
    span.clampedBy = clampedBy;
  }

  // Leader-only work: only inside the replica's own (clamped) term, with its token; woken work ends aborted.
  // `scope` names the election: the default one (kinds as they are), or a spread job (kinds prefixed `job-`).
  const DEFAULT_SCOPE = { prefix: '', label: '', work: 'leader-only work', notLeader: 'while not leader', details: {} };
  const jobScope = (election) => ({
    prefix: 'job-',
    label: ` job "${election}"`,
    work: `job "${election}" work`,
    notLeader: `while not leading "${election}"`,
    details: { election },
  });
  const checkWorkInTerms = (scopeTerms, scopeWork, scope) => {
    const termsOf = new Map();
    for (const term of scopeTerms) termsOf.set(term.identity, [...(termsOf.get(term.identity) ?? []), term]);
    for (const execution of scopeWork) {
      const term = (termsOf.get(execution.identity) ?? []).find(
        (candidate) => candidate.start <= execution.start && execution.start <= candidate.end,
      );
      if (!term) {
        violation(`${scope.prefix}work-outside-term`, `${execution.identity} began ${scope.work} ${scope.notLeader}`, {
          identity: execution.identity,
          ...scope.details,
          at: ms(execution.start),
        });
      } else if (term.token !== execution.token) {
        violation(
          `${scope.prefix}fencing`,
          `${execution.identity}:${scope.label} work token ${execution.token} in a term with token ${term.token}`,
          scope.details,
        );
      }
      if (execution.clampedBy && execution.aborted !== true) {
        violation(
          `${scope.prefix}stale-work-after-wake`,
          `${execution.identity}: ${scope.work} running when it was frozen ended after SIGCONT with aborted=${execution.aborted} (its term had ended while frozen)`,
          {
            identity: execution.identity,
            ...scope.details,
            workBeganMsBeforeFreeze: ms(execution.clampedBy.from - execution.start),
            endedMsAfterWake: ms(execution.loggedEnd - execution.clampedBy.to),
          },
        );
      }
    }
  };

  // Overlap of terms, and of work, between different replicas (of one election: each is checked on its own).
  const termOverlapsOf = (scopeTerms, scope) => {
    const found = overlaps(scopeTerms);
    for (const { a, b, overlapNs } of found.pairs) {
      violation(
        `${scope.prefix}term-overlap`,
        `${scope.label ? `${scope.label.trim()}: ` : ''}terms of ${a.identity} and ${b.identity} overlap by ${ms(overlapNs).toFixed(3)}ms`,
        {
          ...scope.details,
          first: { identity: a.identity, token: a.token, reason: a.reason, startMs: ms(a.start), endMs: ms(a.end) },
          second: { identity: b.identity, token: b.token, startMs: ms(b.start), endMs: ms(b.end) },
        },
      );
    }
    return found;
  };
  const workOverlapsOf = (scopeWork, scope) => {
    const found = overlaps(scopeWork);
    for (const { a, b, overlapNs } of found.pairs) {
      violation(
        `${scope.prefix}work-overlap`,
        `${scope.work} of ${a.identity} and ${b.identity} overlaps by ${ms(overlapNs).toFixed(3)}ms`,
        {
          ...scope.details,
          first: { identity: a.identity, token: a.token, startMs: ms(a.start), endMs: ms(a.end) },
          second: { identity: b.identity, token: b.token, startMs: ms(b.start), endMs: ms(b.end) },
        },
      );
    }
    return found;
  };

  checkWorkInTerms(terms, work, DEFAULT_SCOPE);
  // ------------------------------------------------------------------ overlap
  const termOverlap = termOverlapsOf(terms, DEFAULT_SCOPE);
  const workOverlap = workOverlapsOf(work, DEFAULT_SCOPE);

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
  /** A token as a BigInt, or null when it is not a decimal token (reported, rather than crashing the checker). */
  const tokenValue = (token) => {
    if (typeof token === 'bigint') return token;
    if ((typeof token === 'string' && /^\d+$/.test(token)) || Number.isSafeInteger(token)) return BigInt(token);
    return null;
  };
  /** Tokens strictly increase across the terms of one election, ordered by start. Returns the terms so ordered. */
  const checkFencing = (scopeTerms, scope) => {
    const sorted = [...scopeTerms].sort(byStart);
    for (let index = 1; index < sorted.length; index++) {
      const [previous, current] = [sorted[index - 1], sorted[index]];
      const [before, after] = [tokenValue(previous.token), tokenValue(current.token)];
      if (before === null || after === null || !(after > before)) {
        violation(
          `${scope.prefix}fencing`,
          `${scope.label ? `${scope.label.trim()}: ` : ''}fencing token did not increase: ${previous.identity} had ${previous.token}, then ${current.identity} started with ${current.token}`,
          { ...scope.details, previous: previous.identity, current: current.identity, atMs: ms(current.start) },
        );
      }
    }
    return sorted;
  };
  const ordered = checkFencing(terms, DEFAULT_SCOPE);

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
  const checkWokenTerms = (scopeTerms, scope) => {
    for (const term of scopeTerms) {
      if (!term.clampedBy) continue;
      const lateMs = ms(term.loggedEnd - term.clampedBy.to);
      if (lateMs > timings.renewDeadline + slackMs) {
        violation(
          `${scope.prefix}woken-leader-kept-term`,
          `${term.identity} logged the end of a${scope.label} term that had expired while it was frozen only ${lateMs.toFixed(0)}ms after waking`,
          { identity: term.identity, ...scope.details },
        );
      }
    }
  };
  checkWokenTerms(terms, DEFAULT_SCOPE);

  // ------------------------------------------- spreading group: what touches an election
  // Windows { from, to, what }: while one is open, or until `to` (its lag included), an election it touches may be
  // without a holder for reasons no bound covers. `shared` touch every election; `ofReplica` only the elections whose
  // Lease that replica held (or, without Lease observations, every election). See the README, "Ownership gaps".
  const runStart = timeline.reduce((min, record) => (min === null || record.at < min ? record.at : min), null) ?? 0n;
  const since = (at) => `+${(ms(at - runStart) / 1000).toFixed(1)} s`;
  // Faults are recorded when they end, one at a time: the next record after a moment names the fault in progress.
  const faultAround = (at) => {
    const fault = faults.find((record) => record.at >= at);
    return fault ? `, during ${fault.type} #${fault.id}` : '';
  };
  const shared = [];
  for (const fault of faults) {
    if (CONTROL_PLANE_FAULTS.has(fault.type)) {
      // A watch event queued behind the delay still arrives up to delayMs after the proxy passes again.
      const lag = fault.type.startsWith('slow-watch') ? fromMs(fault.delayMs ?? 0) : 0n;
      shared.push({ from: fault.startAt, to: (fault.clearAt ?? fault.at) + lag, what: `${fault.type} #${fault.id}` });
    } else if (fault.type.endsWith('-handover')) {
      // The skew episode fences every follower but the skewed one, fresh and slow-clocked: nearly no candidate writes.
      shared.push({
        from: fault.fenceStartAt ?? fault.startAt,
        to: fault.fenceClearAt ?? fault.at,
        what: `the fence of ${fault.type} #${fault.id}`,
      });
    }
  }
  const ofReplica = new Map();
  const disturb = (identity, window) => ofReplica.set(identity, [...(ofReplica.get(identity) ?? []), window]);
  for (const record of timeline) {
    if (record.kind === 'signal' && (record.signal === 'SIGKILL' || record.signal === 'SIGTERM')) {
      disturb(record.identity, {
        from: record.at,
        to: record.at,
        what: `${record.signal} of ${record.identity}${faultAround(record.at)}`,
      });
    }
  }
  for (const [identity, state] of lives) {
    for (const freeze of state.freezes) {
      disturb(identity, {
        from: freeze.from,
        to: freeze.to,
        what: `SIGSTOP of ${identity}${faultAround(freeze.from)}`,
      });
    }
  }
  // Proxy modes (run.mjs records each change): from a mode other than pass until pass, plus the delay of chunks
  // already queued, to every replica that lived in the slot meanwhile.
  const slotLives = timeline
    .filter((record) => record.kind === 'launch' && record.slot !== undefined)
    .map((record) => ({ slot: record.slot, identity: record.identity, from: record.at, to: deathOf(record.identity) }));
  const openModes = new Map();
  const closeMode = (slot, at) => {
    const open = openModes.get(slot);
    if (!open) return;
    openModes.delete(slot);
    const to = at + fromMs(open.delayMs);
    for (const life of slotLives) {
      if (life.slot !== slot || life.from > to || life.to < open.from) continue;
      disturb(life.identity, {
        from: open.from,
        to,
        what: `${open.modes.join('/')} of ${life.identity}${faultAround(open.from)}`,
      });
    }
  };
  for (const record of timeline) {
    if (record.kind !== 'proxy') continue;
    if (record.mode === 'pass') closeMode(record.slot, record.at);
    else {
      const open = openModes.get(record.slot) ?? { from: record.at, delayMs: 0, modes: [] };
      open.delayMs = Math.max(open.delayMs, record.delayMs ?? 0);
      if (!open.modes.includes(record.mode)) open.modes.push(record.mode);
      openModes.set(record.slot, open);
    }
  }
  for (const slot of [...openModes.keys()]) closeMode(slot, endAt);
  // Who the harness saw named as holder of each job Lease (run.mjs polls them), by election, in time order.
  const leaseViews = new Map();
  for (const record of timeline) {
    if (record.kind === 'lease-holder')
      leaseViews.set(record.election, [...(leaseViews.get(record.election) ?? []), record]);
  }
  /** Holders named by the Lease of `election` from `from` to `to` (the one named at `from` included); null unknown. */
  const namedHolders = (election, from, to) => {
    const views = leaseViews.get(election);
    if (!views) return null;
    const named = new Set();
    let before = null;
    for (const view of views) {
      if (view.at < from) before = view;
      else if ((view.sentAt ?? view.at) <= to && view.holder) named.add(view.holder);
    }
    if (before?.holder) named.add(before.holder);
    return named;
  };
  /** Replicas whose member record may be live between `from` and `to`: from launch until 2 × leaseDuration after death. */
  const membersDuring = (from, to) => {
    let count = 0;
    for (const identity of events.keys()) {
      const launchedAt = lives.get(identity)?.launchedAt ?? 0n;
      if (launchedAt <= to && deathOf(identity) + 2n * fromMs(timings.leaseDuration) >= from) count++;
    }
    return count;
  };
  // A replica is up once it answers a probe: the app listens only after the group announced itself, read the
  // members (at most requestTimeout) and waited memberSettle, then started its electors.
  const upAt = new Map();
  for (const probe of run.probes ?? []) {
    if (probe.status == null) continue;
    const seen = upAt.get(probe.identity);
    if (seen === undefined || probe.at < seen) upAt.set(probe.identity, probe.at);
  }
  const shutdownAt = timeline.find((record) => record.kind === 'shutdown')?.at ?? null;
  const firstLaunch = timeline.find((record) => record.kind === 'launch')?.at ?? null;

  /**
   * One job's ownership gaps: between terms, from the cold start to its first term (when probes tell when replicas
   * were up), and from its last term to the shutdown. Each is measured from the moment the faults touching it had
   * cleared, and must stay within ownershipBound.
   */
  const checkOwnership = (election, sorted, electionWork, gaps) => {
    const checked = [...gaps];
    const last = sorted.reduce((latest, term) => (latest === null || term.end > latest.end ? term : latest), null);
    if (shutdownAt !== null && last !== null && last.end < shutdownAt)
      checked.push({ from: last.end, to: shutdownAt, previous: last, next: null });
    if (firstLaunch !== null && sorted.length > 0 && upAt.size > 0)
      checked.push({ from: firstLaunch, to: sorted[0].start, previous: null, next: sorted[0] });
    let worst = null;
    for (const gap of checked) {
      if (shutdownAt !== null && gap.from >= shutdownAt) continue;
      const end = shutdownAt !== null && gap.to > shutdownAt ? shutdownAt : gap.to;
      let clearedAt = gap.from;
      let clearedBy = gap.previous
        ? `the end of ${gap.previous.identity}'s term (${gap.previous.reason})`
        : 'the launch';
      // Ties go to the later cause named: a SIGKILL at the gap's start names the kill.
      const later = (at, what) => {
        if (at >= clearedAt) [clearedAt, clearedBy] = [at, what];
      };
      if (gap.previous === null) {
        for (const [identity, at] of upAt)
          if ((lives.get(identity)?.launchedAt ?? 0n) <= gap.to) later(at, `${identity} up`);
      } else if (gap.previous.reason === 'handed-over' || gap.previous.reason === 'shutdown') {
        // It drains its work before it releases the Lease.
        for (const execution of electionWork) {
          const { identity, start, end: workEnd } = execution;
          if (identity === gap.previous.identity && start >= gap.previous.start && start <= gap.previous.end)
            later(workEnd, `${identity}'s work drained`);
        }
      }
      const named = namedHolders(election, gap.from, end);
      const touched = named === null ? [...ofReplica.keys()] : [...named, gap.previous?.identity].filter(Boolean);
      for (const window of [...shared, ...touched.flatMap((identity) => ofReplica.get(identity) ?? [])]) {
        if (window.from <= end) later(window.to, window.what);
      }
      const members = membersDuring(gap.from - fromMs(timings.leaseDuration), end);
      const { boundMs } = ownershipBound(timings, slackMs, members);
      const afterMs = end > clearedAt ? ms(end - clearedAt) : 0;
      const entry = {
        election,
        gapMs: ms(end - gap.from),
        afterMs,
        boundMs,
        members,
        fromMs: ms(gap.from - runStart),
        clearedAtMs: ms(clearedAt - runStart),
        clearedBy,
        previous: gap.previous?.identity ?? null,
        next: gap.next?.identity ?? null,
      };
      if (worst === null || afterMs > worst.afterMs) worst = entry;
      if (afterMs > boundMs) {
        violation(
          'ownership',
          `job ${election}: no holder for ${(entry.gapMs / 1000).toFixed(1)} s` +
            `${gap.next ? '' : ' (until the shutdown)'}, ${(afterMs / 1000).toFixed(1)} s after the faults touching it` +
            ` cleared at ${since(clearedAt)} (${clearedBy}), bound ${(boundMs / 1000).toFixed(2)} s`,
          entry,
        );
      }
    }
    return { worst, gaps: checked.length };
  };

  // ---------------------------------------------------- spreading group: checks
  // Each job's election on its own, by the rules of the default one: terms and work of different replicas must not
  // overlap (skewed clocks mapped back as above, no extra tolerance), work only inside its own term with its token,
  // tokens rising, woken terms ended and woken work aborted. Jobs of different elections may run side by side.
  let spread = null;
  if (jobTerms.length > 0 || jobWork.length > 0) {
    const elections = [...new Set([...jobTerms, ...jobWork].map((span) => span.election))].sort();
    const byElection = {};
    const termsPerIdentity = {};
    const endReasons = {};
    let maxTermOverlap = 0n;
    let maxWorkOverlap = 0n;
    let maxGap = 0n;
    let maxHandoverGap = null;
    let worstOwnership = null;
    let checkedGaps = 0;
    for (const election of elections) {
      const scope = jobScope(election);
      const electionTerms = jobTerms.filter((term) => term.election === election);
      const electionWork = jobWork.filter((execution) => execution.election === election);
      checkWorkInTerms(electionTerms, electionWork, scope);
      const termOverlapNs = termOverlapsOf(electionTerms, scope).maxNs;
      const workOverlapNs = workOverlapsOf(electionWork, scope).maxNs;
      if (termOverlapNs > maxTermOverlap) maxTermOverlap = termOverlapNs;
      if (workOverlapNs > maxWorkOverlap) maxWorkOverlap = workOverlapNs;
      const sorted = checkFencing(electionTerms, scope);
      checkWokenTerms(electionTerms, scope);
      // The longest time the job had no holder between two terms, and after a handover; each gap is then checked
      // against the ownership bound, from the moment the faults touching it cleared.
      let covered = null;
      let electionGap = 0n;
      const gaps = [];
      for (const term of sorted) {
        if (covered !== null && term.start > covered.end) {
          const gap = term.start - covered.end;
          gaps.push({ from: covered.end, to: term.start, previous: covered, next: term });
          if (gap > electionGap) electionGap = gap;
          if (covered.reason === 'handed-over' && (maxHandoverGap === null || gap > maxHandoverGap))
            maxHandoverGap = gap;
        }
        if (covered === null || term.end > covered.end) covered = term;
      }
      if (electionGap > maxGap) maxGap = electionGap;
      const ownership = checkOwnership(election, sorted, electionWork, gaps);
      checkedGaps += ownership.gaps;
      if (ownership.worst && (worstOwnership === null || ownership.worst.afterMs > worstOwnership.afterMs))
        worstOwnership = ownership.worst;
      for (const term of electionTerms) {
        termsPerIdentity[term.identity] = (termsPerIdentity[term.identity] ?? 0) + 1;
        endReasons[term.reason ?? '(none)'] = (endReasons[term.reason ?? '(none)'] ?? 0) + 1;
      }
      byElection[election] = {
        terms: electionTerms.length,
        handovers: electionTerms.filter((term) => term.reason === 'handed-over').length,
        workUnits: electionWork.length,
        holders: new Set(electionTerms.map((term) => term.identity)).size,
        fencingTokens: sorted.length ? { first: sorted[0].token, last: sorted[sorted.length - 1].token } : null,
        maxTermOverlapMs: ms(termOverlapNs),
        maxWorkOverlapMs: ms(workOverlapNs),
        maxGapMs: ms(electionGap),
        maxGapAfterClearMs: ownership.worst?.afterMs ?? 0,
      };
    }
    spread = {
      elections: elections.length,
      terms: jobTerms.length,
      handovers: jobTerms.filter((term) => term.reason === 'handed-over').length,
      termsClampedAtFreeze: jobTerms.filter((term) => term.clampedBy).length,
      maxTermOverlapMs: ms(maxTermOverlap),
      maxWorkOverlapMs: ms(maxWorkOverlap),
      workUnits: jobWork.length,
      workAborted: jobWorkAborted,
      workLost: jobWorkLost,
      termsPerIdentity,
      endReasons,
      maxGapMs: ms(maxGap),
      maxHandoverGapMs: maxHandoverGap === null ? null : ms(maxHandoverGap),
      // The gap that came closest to the ownership bound, measured from when the faults touching it cleared.
      ownership: { checkedGaps, worst: worstOwnership, bound: ownershipBound(timings, slackMs, run.replicas ?? 5) },
      byElection,
    };
  }

  // A run that asked for n spread jobs (run.json's spreadJobs) must have seen a term of each: else the sample was
  // built without them, or a job was never led, and nothing of the group was checked.
  if (run.spreadJobs > 0 && (spread?.elections ?? 0) < run.spreadJobs) {
    violation(
      'spread-missing',
      `${run.spreadJobs} spread jobs were configured, but job events came from ${spread?.elections ?? 0} elections (${Object.keys(spread?.byElection ?? {}).join(', ') || 'none'})`,
    );
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
    spread,
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
  // Spreading jobs: one election per job (job-* events with `election`), each checked on its own like the default.
  const job = (name, time, election, extra = {}) => event(`job-${name}`, time, { election, ...extra });
  const jobOverlap = check(
    {
      a: [
        job('term-start', 1000, 'billing', { token: '10' }),
        job('work-begin', 1900, 'billing', { token: '10' }),
        job('work-end', 1960, 'billing', { token: '10', aborted: false }),
        job('term-end', 2000, 'billing', { token: '10', reason: 'renew-failed' }),
      ],
      b: [
        job('term-start', 1950, 'billing', { token: '11' }),
        job('work-begin', 1955, 'billing', { token: '11' }),
        job('work-end', 1990, 'billing', { token: '11', aborted: false }),
        job('term-end', 3000, 'billing', { token: '11', reason: 'shutdown' }),
      ],
    },
    [launch('a'), launch('b')],
  );
  // a leads billing and cleanup while b leads invoices, all at once, beside a clean handover of the default election.
  const sideBySide = check(
    {
      a: [
        event('term-start', 1000, { token: 1 }),
        job('term-start', 1000, 'billing', { token: '20' }),
        job('term-start', 1001, 'cleanup', { token: '21' }),
        job('work-begin', 1100, 'billing', { token: '20' }),
        job('work-begin', 1100, 'cleanup', { token: '21' }),
        job('work-end', 1160, 'billing', { token: '20', aborted: false }),
        job('work-end', 1160, 'cleanup', { token: '21', aborted: false }),
        event('term-end', 2000, { token: 1 }),
        job('term-end', 5000, 'billing', { token: '20', reason: 'shutdown' }),
        job('term-end', 5000, 'cleanup', { token: '21', reason: 'shutdown' }),
      ],
      b: [
        job('term-start', 1000, 'invoices', { token: '22' }),
        job('work-begin', 1100, 'invoices', { token: '22' }),
        job('work-end', 1160, 'invoices', { token: '22', aborted: false }),
        event('term-start', 2001, { token: 2 }),
        event('term-end', 3000, { token: 2 }),
        job('term-end', 5000, 'invoices', { token: '22', reason: 'shutdown' }),
      ],
    },
    [launch('a'), launch('b')],
  );
  // billing moves from a to b: a's work ends aborted, its term ends handed-over, b's begins after it.
  const handover = check(
    {
      a: [
        job('term-start', 1000, 'billing', { token: '30' }),
        job('work-begin', 1100, 'billing', { token: '30' }),
        job('work-end', 1160, 'billing', { token: '30', aborted: false }),
        job('work-begin', 1950, 'billing', { token: '30' }),
        job('work-end', 1980, 'billing', { token: '30', aborted: true }),
        job('term-end', 2000, 'billing', { token: '30', reason: 'handed-over' }),
      ],
      b: [
        job('term-start', 2000.5, 'billing', { token: '31' }),
        job('work-begin', 2100, 'billing', { token: '31' }),
        job('work-end', 2160, 'billing', { token: '31', aborted: false }),
        job('term-end', 3000, 'billing', { token: '31', reason: 'shutdown' }),
      ],
    },
    [launch('a'), launch('b')],
  );
  // Skewed clocks are mapped back for job events too; no tolerance beyond that, as for the default election.
  const skewedJob = (rate, from, to) =>
    check(
      {
        a: [
          job('term-start', from, 'billing', { token: '1' }),
          job('term-end', to, 'billing', { token: '1', reason: 'renew-failed' }),
        ],
        b: [
          job('term-start', 2001, 'billing', { token: '2' }),
          job('term-end', 3000, 'billing', { token: '2', reason: 'shutdown' }),
        ],
      },
      [
        launch('a'),
        launch('b'),
        { kind: 'clock', identity: 'a', rate, realAt: at(1000), fakeAt: at(1000), at: at(1000) },
      ],
    );
  cases.push(
    {
      name: 'spread: job terms and work of two replicas overlap in one election',
      expect: ['job-term-overlap', 'job-work-overlap'],
      result: jobOverlap,
    },
    { name: 'spread: different elections side by side', expect: [], result: sideBySide },
    { name: 'spread: a graceful handover', expect: [], result: handover },
    {
      // a's billing work at 2500 falls in its invoices term, not its billing one; b starts billing with a lower token
      // and exits (not SIGKILLed) with billing work open; c is SIGKILLed with sync work open, which is not lost.
      name: 'spread: job work outside its own term, a lower token, job work never ended',
      expect: ['job-fencing', 'job-work-lost', 'job-work-outside-term'],
      result: check(
        {
          a: [
            job('term-start', 1000, 'billing', { token: '5' }),
            job('term-end', 2000, 'billing', { token: '5', reason: 'stolen' }),
            job('term-start', 2400, 'invoices', { token: '6' }),
            job('work-begin', 2500, 'billing', { token: '5' }),
            job('work-end', 2560, 'billing', { token: '5', aborted: false }),
            job('term-end', 2700, 'invoices', { token: '6', reason: 'shutdown' }),
          ],
          b: [job('term-start', 3000, 'billing', { token: '3' }), job('work-begin', 3100, 'billing', { token: '3' })],
          c: [job('term-start', 1000, 'sync', { token: '7' }), job('work-begin', 1500, 'sync', { token: '7' })],
        },
        [
          launch('a'),
          launch('b'),
          launch('c'),
          { kind: 'exit', identity: 'b', code: 0, signal: null, expected: true, at: at(4000) },
          { kind: 'signal', identity: 'c', signal: 'SIGKILL', at: at(1600) },
          { kind: 'exit', identity: 'c', code: null, signal: 'SIGKILL', expected: true, at: at(1601) },
        ],
      ),
    },
    {
      name: 'spread: a frozen job holder: its term is cut at the freeze, its woken work must be aborted',
      expect: ['job-stale-work-after-wake'],
      result: check(
        {
          a: [
            job('term-start', 1000, 'billing', { token: '1' }),
            job('work-begin', 1990, 'billing', { token: '1' }),
            job('work-end', 5000.3, 'billing', { token: '1', aborted: false }),
            job('term-end', 5001, 'billing', { token: '1', reason: 'expired' }),
          ],
          b: [job('term-start', 4100, 'billing', { token: '2' })],
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
      name: 'spread: a skewed clock mapped back: overlap',
      expect: ['job-term-overlap'],
      result: skewedJob(2, 2000, 4000),
    },
    { name: 'spread: a fast clock mapped back: clean', expect: [], result: skewedJob(2, 2500, 2900) },
  );
  // Ownership gaps: a leads billing from 1000; b takes it over `after` ms past the moment the faults touching billing
  // cleared. Just over the bound must fire, just under must not. The bound counts the member records live then.
  const boundFor = (members) => ownershipBound(timings, 300, members).boundMs;
  const slotted = (identity, slot) => ({ kind: 'launch', identity, slot, at: 0n });
  const ownership = ({ aEnd = null, bAt, c = false, timeline: extra = [] }) =>
    check(
      {
        a: [
          job('term-start', 1000, 'billing', { token: '1' }),
          ...(aEnd === null ? [] : [job('term-end', aEnd, 'billing', { token: '1', reason: 'renew-failed' })]),
        ],
        b: bAt === null ? [] : [job('term-start', bAt, 'billing', { token: '2' })],
        ...(c ? { c: [] } : {}),
      },
      [slotted('a', 0), slotted('b', 1), ...(c ? [slotted('c', 2)] : []), ...extra],
    );
  const killA = [
    { kind: 'signal', identity: 'a', signal: 'SIGKILL', at: at(2000) },
    { kind: 'exit', identity: 'a', code: null, signal: 'SIGKILL', expected: true, at: at(2001) },
  ];
  // a's proxy blackholed 1500..5000: its term ends at its renew deadline (2500), the clock starts at the heal.
  const partitionA = [
    { kind: 'proxy', slot: 0, mode: 'blackhole', at: at(1500) },
    { kind: 'proxy', slot: 0, mode: 'pass', at: at(5000) },
  ];
  // c is partitioned 6000..9000, while billing has no holder. It touches billing only if c's write landed unanswered
  // and its Lease named c (a hidden claim, seen by the harness's Lease polls).
  const partitionC = [
    { kind: 'proxy', slot: 2, mode: 'blackhole', at: at(6000) },
    { kind: 'proxy', slot: 2, mode: 'pass', at: at(9000) },
  ];
  const views = (...list) =>
    list.map(([holder, time]) => ({
      kind: 'lease-holder',
      election: 'billing',
      holder,
      sentAt: at(time - 5),
      at: at(time),
    }));
  const two = boundFor(2);
  const three = boundFor(3);
  cases.push(
    {
      name: 'ownership: a killed holder, its successor 100 ms past the bound',
      expect: ['ownership'],
      result: ownership({ bAt: 2000 + two + 100, timeline: killA }),
    },
    {
      name: 'ownership: a killed holder, its successor 100 ms under the bound',
      expect: [],
      result: ownership({ bAt: 2000 + two - 100, timeline: killA }),
    },
    {
      name: 'ownership: a killed holder and nobody after it until the shutdown',
      expect: ['ownership'],
      result: ownership({ bAt: null, timeline: [...killA, { kind: 'shutdown', at: at(2000 + two + 500) }] }),
    },
    {
      name: 'ownership: a partitioned holder, measured from the heal, not from the gap (7 s)',
      expect: [],
      result: ownership({ aEnd: 2500, bAt: 5000 + two - 100, timeline: partitionA }),
    },
    {
      name: 'ownership: a partition of a replica that never held the Lease does not touch it',
      expect: ['ownership'],
      result: ownership({
        aEnd: 2500,
        bAt: 5000 + three + 100,
        c: true,
        timeline: [...partitionA, ...partitionC, ...views(['a', 900], ['b', 5000 + three + 150])],
      }),
    },
    {
      name: 'ownership: a partition of a replica the Lease named (an unanswered write) touches it',
      expect: [],
      result: ownership({
        aEnd: 2500,
        bAt: 5000 + three + 100,
        c: true,
        timeline: [...partitionA, ...partitionC, ...views(['a', 900], ['c', 5200], ['b', 5000 + three + 150])],
      }),
    },
    {
      // Watch events delayed 1200 ms still arrive that long after the slow watch ends (3000): the clock starts at 4200.
      name: 'ownership: a slow watch: its lag counts',
      expect: [],
      result: ownership({
        bAt: 4200 + two - 100,
        timeline: [
          ...killA,
          {
            kind: 'fault',
            id: 1,
            type: 'slow-watch',
            startAt: at(1500),
            clearAt: at(3000),
            delayMs: 1200,
            at: at(3000),
          },
        ],
      }),
    },
    {
      name: 'spread: 3 jobs configured, only 2 ever led',
      expect: ['spread-missing'],
      result: checkRun({
        events: new Map([
          ['a', [job('term-start', 1000, 'billing', { token: '1' }), job('term-end', 2000, 'billing', { token: '1' })]],
          ['b', [job('term-start', 1000, 'invoices', { token: '2' })]],
        ]),
        timeline: [launch('a'), launch('b')],
        timings,
        slackMs: 300,
        endAt: at(100_000),
        spreadJobs: 3,
      }),
    },
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
  const killed = cases.find((item) => item.name.startsWith('ownership: a killed holder, its successor 100 ms past'));
  const message = killed?.result.violations.find((item) => item.kind === 'ownership')?.message ?? '';
  if (
    !/^job billing: no holder for 4\.7 s, 4\.7 s after the faults touching it cleared at \+2\.0 s \(SIGKILL of a\), bound 4\.55 s$/.test(
      message,
    )
  )
    failures.push(`ownership: unexpected message "${message}"`);
  for (const { name, expect, result } of cases) {
    const found = [...new Set(result.violations.map((item) => item.kind))].sort();
    if (found.join() !== expect.join()) failures.push(`${name}: expected [${expect}], got [${found}]`);
  }
  // The spread summary: null without job events; the default election's figures ignore job-* events.
  if (cases[0].result.spread !== null) failures.push('a run without job events: expected spread null');
  const sideSpread = sideBySide.spread;
  if (
    sideBySide.terms !== 2 ||
    sideBySide.leaderOnlyExecutions !== 0 ||
    sideSpread?.elections !== 3 ||
    sideSpread.terms !== 3 ||
    sideSpread.workUnits !== 3 ||
    sideSpread.maxTermOverlapMs !== 0 ||
    sideSpread.maxWorkOverlapMs !== 0 ||
    sideSpread.termsPerIdentity.a !== 2 ||
    sideSpread.termsPerIdentity.b !== 1
  ) {
    failures.push(
      `spread side by side: expected 2 default terms, 3 elections, 3 job terms and 3 units, no overlap, got ${JSON.stringify({ terms: sideBySide.terms, spread: sideSpread })}`,
    );
  }
  const handed = handover.spread;
  if (
    handed?.handovers !== 1 ||
    handed.terms !== 2 ||
    handed.workUnits !== 3 ||
    handed.workAborted !== 1 ||
    handed.workLost !== 0 ||
    Math.abs(handed.maxHandoverGapMs - 0.5) > 0.001 ||
    handed.byElection.billing?.fencingTokens?.last !== '31'
  ) {
    failures.push(
      `spread handover: expected 1 handover of 2 terms, 3 units (1 aborted), got ${JSON.stringify(handed)}`,
    );
  }
  const overlapped = jobOverlap.spread;
  if (!(
    overlapped?.maxTermOverlapMs === 50 &&
    overlapped.maxWorkOverlapMs === 5 &&
    jobOverlap.maxTermOverlapMs === 0
  )) {
    failures.push(
      `spread overlap: expected job terms overlapping 50 ms and work 5 ms (default 0), got ${JSON.stringify(overlapped)}`,
    );
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
