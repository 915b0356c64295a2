// How late a term ends after its renew deadline, on the real clock: the
// `stopped-leading` event and the abort of the term's signal, measured against
// lastRenewSentAt + renewDeadline. Nothing reads `isLeader`, `term` or
// `term.signal` once the term has started (each read re-checks the deadline
// and would end the term on time, hiding lateness): the signal is captured once
// in the `started-leading` listener and observed through an 'abort' listener,
// so only the elector's own deadline timer can end the term.
//
// Each elector leads its own MemoryLeaseLock behind a wrapper whose `update`
// rejects at once with LeaseUnavailableError from the moment the term begins,
// so every term ends by renew-failed. The wrapper records `performance.now()`
// just before it forwards the acquiring create/update; the elector takes its
// own send time immediately before calling the lock, a few microseconds
// earlier, so the measured lateness can understate the true one by that much
// (`sendTimeOffsetUs` reports it, read from the elector's diagnostics at the
// start of each term).
//
// Prints a summary to stderr and one JSON line to stdout (run.mjs runs it in
// its own process, as bench/isleader-cost.mjs).
// Usage: node bench/term-deadline-lateness.mjs [--terms N] [--electors N]
//          [--lease-duration MS] [--renew-deadline MS] [--retry-period MS]
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { LeaderElector, LeaseUnavailableError, MemoryLeaseLock } from '../dist/esm/elector/index.js';
import { summarize } from './support.mjs';

const { values: flags } = parseArgs({
  options: {
    terms: { type: 'string', default: '400' },
    electors: { type: 'string', default: '8' },
    'lease-duration': { type: 'string', default: '1000' },
    'renew-deadline': { type: 'string', default: '300' },
    'retry-period': { type: 'string', default: '200' },
  },
});
const terms = Number(flags.terms);
const electorCount = Number(flags.electors);
const timings = {
  leaseDuration: Number(flags['lease-duration']),
  renewDeadline: Number(flags['renew-deadline']),
  retryPeriod: Number(flags['retry-period']),
};
const TARGET_P99_MS = 5;

/** A MemoryLeaseLock whose updates fail fast while `failing` is set; remembers when its last successful write was sent. */
class FailingRenewalsLock {
  constructor(name) {
    this.inner = new MemoryLeaseLock(name);
    this.name = this.inner.name;
    this.namespace = this.inner.namespace;
    this.failing = false;
    this.lastWriteSentAt = null;
  }
  describe() {
    return this.inner.describe();
  }
  get(signal) {
    return this.inner.get(signal);
  }
  resourceVersionsComparable(signal) {
    return this.inner.resourceVersionsComparable(signal);
  }
  create(record, signal) {
    return this.forward(() => this.inner.create(record, signal));
  }
  update(record, resourceVersion, signal) {
    if (this.failing) return Promise.reject(new LeaseUnavailableError('bench: renewals fail during the term'));
    return this.forward(() => this.inner.update(record, resourceVersion, signal));
  }
  async forward(send) {
    const sentAt = performance.now();
    const written = await send();
    this.lastWriteSentAt = sentAt;
    return written;
  }
}

const quiet = { log: () => undefined, warn: () => undefined, error: (message) => process.stderr.write(`${message}\n`) };
const stoppedLateness = [];
const abortLateness = [];
const sendTimeOffsetsUs = [];
const electorClockLateness = [];
const controlLateness = [];
const measuredTerms = [];
const endReasons = {};
let abortMissing = 0;
let finished;
const done = new Promise((resolve) => (finished = resolve));

/**
 * Control: a bare timer for the same deadline, re-armed until due (the least any timer-based deadline can do). Its
 * lateness is the host's and the event loop's share; the elector's beyond it is the elector's own.
 */
function armControl(term) {
  setTimeout(
    () => {
      const at = performance.now();
      if (at < term.deadline) armControl(term);
      else term.controlAt = at;
    },
    Math.max(0, Math.ceil(term.deadline - performance.now())),
  );
}

const electors = [];
for (let index = 0; index < electorCount; index++) {
  const lock = new FailingRenewalsLock(`lateness-${index}`);
  const elector = new LeaderElector({
    lock,
    identity: `lateness-${index}`,
    ...timings,
    releaseOnStop: false,
    logger: quiet,
  });
  let current = null;
  elector.subscribe((event) => {
    if (event.type === 'started-leading') {
      lock.failing = true;
      // Read once, now, at the start of the term (a deadline ~renewDeadline away cannot pass in this read); never again.
      const signal = event.term.signal;
      // The elector's own send time, read in the same synchronous dispatch (diagnostics reads isLeader, harmless
      // here for the same reason): a cross-check of the wrapper's, and the reference for the early count.
      const electorSentAt = elector.diagnostics.lastSuccessfulWriteSentAt;
      const term = {
        deadline: lock.lastWriteSentAt + timings.renewDeadline,
        electorDeadline: electorSentAt + timings.renewDeadline,
        abortedAt: null,
        stoppedAt: null,
        controlAt: null,
      };
      current = term;
      signal.addEventListener('abort', () => (term.abortedAt = performance.now()), { once: true });
      sendTimeOffsetsUs.push((lock.lastWriteSentAt - electorSentAt) * 1000);
      armControl(term);
    } else if (event.type === 'stopped-leading') {
      const stoppedAt = performance.now();
      lock.failing = false;
      const term = current;
      current = null;
      endReasons[event.reason] = (endReasons[event.reason] ?? 0) + 1;
      if (event.reason !== 'renew-failed' || stoppedLateness.length >= terms) return;
      term.stoppedAt = stoppedAt;
      measuredTerms.push(term);
      stoppedLateness.push(stoppedAt - term.deadline);
      electorClockLateness.push(stoppedAt - term.electorDeadline);
      if (term.abortedAt === null) abortMissing++;
      else abortLateness.push(term.abortedAt - term.deadline);
      if (stoppedLateness.length === terms) finished();
    }
  });
  electors.push(elector);
}

const startedAt = performance.now();
const timeoutMs = 30_000 + (terms / electorCount) * (timings.renewDeadline + timings.retryPeriod) * 3;
const watchdog = setTimeout(finished, timeoutMs);
// Spread the starts over one renew deadline, so the electors' deadlines do not all fall together.
await Promise.all(
  electors.map(
    (elector) =>
      new Promise((resolve) =>
        setTimeout(() => {
          elector.start();
          resolve();
        }, Math.random() * timings.renewDeadline),
      ),
  ),
);
await done;
clearTimeout(watchdog);
await Promise.all(electors.map((elector) => elector.stop()));
const wallSeconds = (performance.now() - startedAt) / 1000;
// Let the last control timers fire, then pair each term with its own control.
await new Promise((resolve) => setTimeout(resolve, 50));
const paired = measuredTerms.filter((term) => term.controlAt !== null);
for (const term of paired) controlLateness.push(term.controlAt - term.deadline);
const beyondControl = paired.map((term) => term.stoppedAt - term.controlAt);

/** The shared statistics, plus how many values fell before the deadline. */
function summarizeLateness(values) {
  return values.length === 0 ? { n: 0 } : { ...summarize(values), early: values.filter((value) => value < 0).length };
}

const result = {
  timings,
  electors: electorCount,
  termsWanted: terms,
  complete: stoppedLateness.length === terms,
  wallSeconds,
  targetP99Ms: TARGET_P99_MS,
  stoppedLeading: summarizeLateness(stoppedLateness),
  abort: summarizeLateness(abortLateness),
  abortMissing,
  stoppedLeadingVsElectorSendTime: summarizeLateness(electorClockLateness),
  controlTimer: summarizeLateness(controlLateness),
  stoppedLeadingBeyondControl: summarizeLateness(beyondControl),
  endReasons,
  sendTimeOffsetUs: summarizeLateness(sendTimeOffsetsUs),
};
const f = (value) => (typeof value === 'number' ? value.toFixed(3) : '-');
const line = (label, s, early = true) =>
  `${label}: n=${s.n} p50 ${f(s.p50)} ms, p99 ${f(s.p99)} ms, max ${f(s.max)} ms, min ${f(s.min)} ms` +
  (early ? `, early ${s.early}` : '');
process.stderr.write(
  [
    `term deadline lateness, real clock, ${electorCount} electors, ` +
      `${timings.leaseDuration}/${timings.renewDeadline}/${timings.retryPeriod} ms, ${wallSeconds.toFixed(1)} s` +
      (result.complete ? '' : ` (INCOMPLETE: ${stoppedLateness.length}/${terms} terms)`),
    line('  stopped-leading after deadline', result.stoppedLeading),
    line('  term signal abort after deadline', result.abort),
    line("  stopped-leading vs the elector's own send time", result.stoppedLeadingVsElectorSendTime),
    line('  control: bare re-armed setTimeout for the same deadline', result.controlTimer),
    line("  stopped-leading minus the same term's control", result.stoppedLeadingBeyondControl, false),
    `  term ends by reason: ${JSON.stringify(endReasons)}; aborts missing: ${abortMissing}`,
    `  wrapper send time - elector send time: p50 ${f(result.sendTimeOffsetUs.p50)} us, ` +
      `max ${f(result.sendTimeOffsetUs.max)} us (measured lateness understates the true one by this much)`,
    `  target p99 <= ${TARGET_P99_MS} ms: ${
      result.stoppedLeading.p99 <= TARGET_P99_MS && result.abort.p99 <= TARGET_P99_MS ? 'met' : 'NOT met'
    }`,
    '',
  ].join('\n'),
);
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(result.complete ? 0 : 1);
