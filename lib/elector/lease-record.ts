/**
 * The election state stored in a Lease's spec, as client-go's
 * `LeaderElectionRecord`. Times are only compared for change, never with a
 * local clock, so they are kept as the strings the API server returned.
 */
export interface LeaseRecord {
  /** Current holder; `""` means nobody holds the Lease and it can be taken at once. */
  holderIdentity: string;
  /** How long, from the moment a candidate observes a change, the holder's claim stays valid. */
  leaseDurationSeconds: number;
  /** When the current holder acquired the Lease (RFC 3339 micro-time), or null. */
  acquireTime: string | null;
  /** When the current holder last renewed (RFC 3339 micro-time), or null. */
  renewTime: string | null;
  /** How many times the holder has changed; the source of fencing tokens. */
  leaseTransitions: number;
  /** Coordinated-election fields; preserved on write, not acted upon. */
  strategy?: string;
  /** Coordinated-election fields; preserved on write, not acted upon. */
  preferredHolder?: string;
}

/** A record together with the resourceVersion it was read or written at. */
export interface LeaseSnapshot {
  record: LeaseRecord;
  resourceVersion: string;
}

/** A record field that did not have the expected shape, reported once per lease and kind. */
export interface LeaseRecordProblem {
  field: string;
  problem: string;
  /** Stable class of the problem (the text may embed the offending value, which can change on every write). */
  kind?: 'missing' | 'not-a-string' | 'unusable' | 'unparsable' | 'future' | 'unsupported';
}

/** Result of {@link normalizeLeaseSpec}: a safe record plus what was wrong with the raw one. */
export interface NormalizedLeaseSpec {
  record: LeaseRecord;
  /** True when the raw lease duration was unusable; the elector then assumes its own configured duration. */
  durationUnusable: boolean;
  problems: LeaseRecordProblem[];
}

const MICRO_TIME_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/** Formats a wall time as Kubernetes MicroTime: RFC 3339 with exactly six fractional digits. */
export function formatMicroTime(time: Date): string {
  return time.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

function readTime(raw: unknown, field: string, problems: LeaseRecordProblem[], wallNow: Date): string | null {
  if (raw === undefined || raw === null) return null;
  const text =
    // A Date from another realm (vm contexts) fails `instanceof`, so test the tag.
    Object.prototype.toString.call(raw) === '[object Date]'
      ? Number.isNaN((raw as Date).getTime())
        ? 'Invalid Date'
        : formatMicroTime(raw as Date)
      : String(raw);
  if (!MICRO_TIME_PATTERN.test(text) || Number.isNaN(Date.parse(text))) {
    problems.push({ field, kind: 'unparsable', problem: `unparsable time ${JSON.stringify(text)}` });
    return text;
  }
  if (Date.parse(text) > wallNow.getTime() + 60_000) {
    problems.push({
      field,
      kind: 'future',
      problem: `lies in the future (${text}); ignored, only its changes are observed`,
    });
  }
  return text;
}

/**
 * Turns whatever a Lease's spec holds into a usable {@link LeaseRecord},
 * never throwing. client-node returns micro-times as strings despite typing
 * them as Date, so both are accepted.
 */
export function normalizeLeaseSpec(spec: unknown, wallNow: Date = new Date()): NormalizedLeaseSpec {
  const problems: LeaseRecordProblem[] = [];
  const source = (spec !== null && typeof spec === 'object' ? spec : {}) as Record<string, unknown>;
  if (spec === undefined || spec === null)
    problems.push({ field: 'spec', kind: 'missing', problem: 'missing; treated as unheld' });

  let holderIdentity = '';
  if (typeof source.holderIdentity === 'string') holderIdentity = source.holderIdentity;
  else if (source.holderIdentity !== undefined && source.holderIdentity !== null) {
    problems.push({
      field: 'holderIdentity',
      kind: 'not-a-string',
      problem: `not a string (${JSON.stringify(source.holderIdentity)}); treated as unheld`,
    });
  }

  const rawDuration = source.leaseDurationSeconds;
  const durationUnusable = !(typeof rawDuration === 'number' && Number.isInteger(rawDuration) && rawDuration > 0);
  if (durationUnusable && holderIdentity !== '') {
    problems.push({
      field: 'leaseDurationSeconds',
      kind: 'unusable',
      problem: `${rawDuration === undefined ? 'missing' : JSON.stringify(rawDuration)}; the configured lease duration is assumed instead`,
    });
  }

  let leaseTransitions = 0;
  const rawTransitions = source.leaseTransitions;
  if (typeof rawTransitions === 'number' && Number.isInteger(rawTransitions) && rawTransitions >= 0) {
    leaseTransitions = rawTransitions;
  } else if (rawTransitions !== undefined && rawTransitions !== null) {
    problems.push({
      field: 'leaseTransitions',
      kind: 'unusable',
      problem: `${JSON.stringify(rawTransitions)} is not a non-negative integer; 0 assumed`,
    });
  }

  const record: LeaseRecord = {
    holderIdentity,
    leaseDurationSeconds: durationUnusable ? 0 : (rawDuration as number),
    acquireTime: readTime(source.acquireTime, 'acquireTime', problems, wallNow),
    renewTime: readTime(source.renewTime, 'renewTime', problems, wallNow),
    leaseTransitions,
  };
  if (holderIdentity !== '' && record.renewTime === null) {
    problems.push({
      field: 'renewTime',
      kind: 'missing',
      problem: 'missing on a held lease; only changes of the record are observed',
    });
  }
  if (holderIdentity !== '' && record.acquireTime === null) {
    problems.push({ field: 'acquireTime', kind: 'missing', problem: 'missing on a held lease' });
  }
  if (typeof source.strategy === 'string' && source.strategy !== '') {
    record.strategy = source.strategy;
    problems.push({
      field: 'strategy',
      kind: 'unsupported',
      problem: `coordinated leader election (${source.strategy}) is not supported; ignored and preserved`,
    });
  }
  if (typeof source.preferredHolder === 'string' && source.preferredHolder !== '') {
    record.preferredHolder = source.preferredHolder;
    problems.push({
      field: 'preferredHolder',
      kind: 'unsupported',
      problem: `coordinated leader election is not supported; ${source.preferredHolder} is not preferred, value preserved`,
    });
  }
  return { record, durationUnusable, problems };
}

/** True when two records are the same as far as change observation goes (client-go compares raw bytes). */
export function sameRecord(a: LeaseRecord | null, b: LeaseRecord | null): boolean {
  if (a === null || b === null) return a === b;
  return (
    a.holderIdentity === b.holderIdentity &&
    a.leaseDurationSeconds === b.leaseDurationSeconds &&
    a.acquireTime === b.acquireTime &&
    a.renewTime === b.renewTime &&
    a.leaseTransitions === b.leaseTransitions &&
    a.strategy === b.strategy &&
    a.preferredHolder === b.preferredHolder
  );
}
