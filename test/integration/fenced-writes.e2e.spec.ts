import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { ensureClientGoCandidate } from '../../bench/clientgo-binary.mjs';
import { compareFencingTokens } from '../../lib/elector/internal.js';
import { CandidateFleet } from '../support/candidate-processes.js';
import { leasePath, rawRequest, sharedControlPlane, uniqueLeaseName, waitFor } from '../support/cluster.js';
import { WriterFleet, type WriterProcess, type WriterReport } from '../support/fenced-writer-processes.js';
import { startPostgres, type PostgresServer } from '../support/postgres-server.js';

// Issue 14: fencing tokens proven where they matter, in a real PostgreSQL that
// rejects the writes of a deposed leader. The writers are Nest apps
// (test/apps/fenced-writer) whose @OnlyWhenLeader job writes with a fenced statement.

const timings = { leaseDuration: 2000, renewDeadline: 1000, retryPeriod: 250 };
const SCHEMA = `
  CREATE TABLE fence (resource text PRIMARY KEY, fencing_token numeric NOT NULL);
  CREATE TABLE documents (resource text PRIMARY KEY, body text NOT NULL, fencing_token numeric NOT NULL);
  CREATE TABLE entries (
    id bigserial PRIMARY KEY,
    resource text NOT NULL,
    writer text NOT NULL,
    fencing_token numeric NOT NULL
  );
`;

const applied = (writer: WriterProcess) => writer.reports('write').filter((report) => report.applied);
const rejected = (writer: WriterProcess) =>
  writer.reports().filter((report) => (report.event === 'write' || report.event === 'stale-write') && !report.applied);
const describeRejected = (reports: WriterReport[]) =>
  reports.map((report) => `${report.writer} (token ${report.token}, rowCount 0)`).join(', ') || 'none';

function expectStrictlyIncreasing(tokens: string[]): void {
  for (let index = 1; index < tokens.length; index++) {
    expect({
      earlier: tokens[index - 1],
      later: tokens[index],
      order: Math.sign(compareFencingTokens(tokens[index - 1], tokens[index])),
    }).toEqual({ earlier: tokens[index - 1], later: tokens[index], order: -1 });
  }
}

describe('fenced writes to a real PostgreSQL (issue 14)', () => {
  let db: PostgresServer;
  let pool: pg.Pool;
  let clientGo: string;
  const fleets: { stopAll(): Promise<void> }[] = [];
  let user = 0;
  const kubeconfig = () => sharedControlPlane().kubeconfigs[`candidate-${user++ % 8}`];

  const writers = (lease: string) => {
    const fleet = new WriterFleet({
      LEASE_NAME: lease,
      RESOURCE: lease,
      DATABASE_URL: db.url,
      LEASE_DURATION: String(timings.leaseDuration),
      RENEW_DEADLINE: String(timings.renewDeadline),
      RETRY_PERIOD: String(timings.retryPeriod),
      WRITE_INTERVAL_MS: '100',
    });
    fleets.push(fleet);
    return fleet;
  };
  const leads = (writer: WriterProcess) => () => writer.reports('term-start')[0];
  const follows = (writer: WriterProcess, holder: string) => () =>
    writer.reports('leader-changed').some((report) => report.holder === holder);
  const writes = (writer: WriterProcess, count: number) => () => applied(writer).length >= count;
  /** SIGTERM (release after the drain) and wait for a clean exit: Nest re-raises the signal once closed. */
  const stop = async (writer: WriterProcess) => {
    writer.child.kill('SIGTERM');
    const { code, signal } = await writer.exited;
    expect(code === 0 || signal === 'SIGTERM').toBe(true);
  };
  const stored = async (resource: string) => {
    const fence = await pool.query<{ token: string }>(
      'SELECT fencing_token::text AS token FROM fence WHERE resource = $1',
      [resource],
    );
    const document = await pool.query<{ body: string }>('SELECT body FROM documents WHERE resource = $1', [resource]);
    const entries = await pool.query<{ writer: string; token: string }>(
      'SELECT writer, fencing_token::text AS token FROM entries WHERE resource = $1 ORDER BY id',
      [resource],
    );
    return { token: fence.rows[0]?.token, body: document.rows[0]?.body, entries: entries.rows };
  };

  beforeAll(async () => {
    db = await startPostgres();
    pool = new pg.Pool({ connectionString: db.url, max: 2 });
    // pool.end() resolves before idle sockets close; the server's shutdown notice to them is expected.
    pool.on('error', () => undefined);
    await pool.query(SCHEMA);
    clientGo = (await ensureClientGoCandidate()).path;
  }, 600_000);

  afterAll(async () => {
    await Promise.all(fleets.map((fleet) => fleet.stopAll()));
    await pool?.end();
    await db?.stop();
  });

  it('rejects the stale write of a leader frozen past leaseDuration, and loses nothing the new leader wrote', async () => {
    const lease = uniqueLeaseName('fenced-freeze');
    const fleet = writers(lease);
    const a = fleet.launch('writer-a', kubeconfig());
    const aTerm = await waitFor(leads(a), 20_000, 'writer-a to lead');
    await waitFor(writes(a, 3), 5000, 'writer-a to write');
    const b = fleet.launch('writer-b', kubeconfig());
    await waitFor(follows(b, 'writer-a'), 20_000, 'writer-b to follow writer-a');

    a.child.kill('SIGSTOP');
    const frozenAt = process.hrtime.bigint();
    const bTerm = await waitFor(leads(b), timings.leaseDuration * 3, 'writer-b to take over from the frozen writer-a');
    await waitFor(writes(b, 5), 5000, 'writer-b to write while writer-a is frozen');
    const frozenMs = Number(process.hrtime.bigint() - frozenAt) / 1e6;
    expect(frozenMs).toBeGreaterThan(timings.leaseDuration);
    a.child.kill('SIGCONT');

    const stale = await waitFor(() => a.reports('stale-write')[0], 5000, "writer-a's write on waking");
    const aEnd = await waitFor(() => a.reports('term-end')[0], 5000, 'writer-a to notice it lost');
    const bWritesAtWake = applied(b).length;
    await waitFor(writes(b, bWritesAtWake + 3), 5000, 'writer-b to keep writing after writer-a woke');
    // writer-a first: stopping writer-b first would hand the Lease back to writer-a.
    await stop(a);
    await stop(b);

    expect(stale).toMatchObject({ token: aTerm.token, applied: false });
    expect([aTerm.scheme, bTerm.scheme]).toEqual(['resource-version', 'resource-version']);
    expectStrictlyIncreasing([aTerm.token!, bTerm.token!]);
    expect(fleet.reports('write-error')).toEqual([]);

    const { token, body, entries } = await stored(lease);
    const acknowledged = [...applied(a), ...applied(b)].map((report) => report.writer).sort();
    expect(entries.map((entry) => entry.writer).sort()).toEqual(acknowledged); // nothing lost, nothing stale
    const firstOfB = entries.findIndex((entry) => entry.writer.startsWith('writer-b#'));
    expect(entries.slice(firstOfB).every((entry) => entry.writer.startsWith('writer-b#'))).toBe(true);
    expect(body).toBe(entries.at(-1)!.writer);
    expect(token).toBe(bTerm.token);

    const issued = a.reports('stale-write-issued')[0];
    process.stderr.write(
      `[fenced-writes] freeze: tokens writer-a ${aTerm.token} (leaseTransitions ${aTerm.leaseTransitions}) → ` +
        `writer-b ${bTerm.token} (leaseTransitions ${bTerm.leaseTransitions}); writer-a frozen ${frozenMs.toFixed(0)}ms; ` +
        `rejected by PostgreSQL: ${describeRejected(rejected(a))}; the wake write was issued ` +
        `${(Math.abs(Number(issued.at - aEnd.at)) / 1e6).toFixed(1)}ms ${issued.at < aEnd.at ? 'before' : 'after'} ` +
        `writer-a's elector reported the loss (${aEnd.reason}), without asking it; ` +
        `writer-b: ${applied(b).length} writes, all stored\n`,
    );
  }, 90_000);

  it('keeps rising across a Lease deletion followed by a brand-new process', async () => {
    const lease = uniqueLeaseName('fenced-delete');
    const fleet = writers(lease);
    const c = fleet.launch('writer-c', kubeconfig());
    const cTerm = await waitFor(leads(c), 20_000, 'writer-c to lead');
    await waitFor(writes(c, 3), 5000, 'writer-c to write');
    await stop(c);

    const deleted = await rawRequest('DELETE', leasePath(lease));
    expect(deleted.status).toBe(200);
    expect((await rawRequest('GET', leasePath(lease))).status).toBe(404);

    const d = fleet.launch('writer-d', kubeconfig());
    const dTerm = await waitFor(leads(d), 20_000, 'a brand-new writer-d to lead the re-created Lease');
    await waitFor(writes(d, 3), 5000, "writer-d's writes to be accepted");
    await stop(d);

    expect([cTerm.scheme, dTerm.scheme]).toEqual(['resource-version', 'resource-version']);
    expectStrictlyIncreasing([cTerm.token!, dTerm.token!]);
    expect(rejected(d)).toEqual([]);
    expect(fleet.reports('write-error')).toEqual([]);
    const { token, body, entries } = await stored(lease);
    expect(entries.map((entry) => entry.writer).sort()).toEqual(
      [...applied(c), ...applied(d)].map((report) => report.writer).sort(),
    );
    expect(body).toBe(applied(d).at(-1)!.writer);
    expect(token).toBe(dTerm.token);
    process.stderr.write(
      `[fenced-writes] deletion: tokens writer-c ${cTerm.token} (leaseTransitions ${cTerm.leaseTransitions}) → ` +
        `Lease deleted → writer-d ${dTerm.token} (leaseTransitions ${dTerm.leaseTransitions}); ` +
        `rejected: ${describeRejected([...rejected(c), ...rejected(d)])}\n`,
    );
  }, 90_000);

  it('keeps rising across a client-go candidate holding a term in between', async () => {
    const lease = uniqueLeaseName('fenced-clientgo');
    const fleet = writers(lease);
    const goFleet = new CandidateFleet({
      LEASE_NAME: lease,
      LEASE_DURATION: String(timings.leaseDuration),
      RENEW_DEADLINE: String(timings.renewDeadline),
      RETRY_PERIOD: String(timings.retryPeriod),
    });
    fleets.push(goFleet);
    const e = fleet.launch('writer-e', kubeconfig());
    const eTerm = await waitFor(leads(e), 20_000, 'writer-e to lead');
    await waitFor(writes(e, 3), 5000, 'writer-e to write');
    const go = goFleet.launch('go-g', kubeconfig(), clientGo);
    await waitFor(
      () => goFleet.events.some((event) => event.identity === 'go-g' && event.event === 'new-leader'),
      10_000,
      'the client-go candidate to follow',
    );
    await stop(e);
    await waitFor(() => goFleet.leaders().includes('go-g'), timings.leaseDuration * 3, 'client-go to lead');

    // client-go exposes no token; what it writes moves the resourceVersion on.
    const held = async () => {
      const lease_ = (await rawRequest('GET', leasePath(lease))).json;
      return lease_?.spec?.holderIdentity === 'go-g' ? (lease_.metadata.resourceVersion as string) : undefined;
    };
    const goAcquired = await waitFor(held, 5000, 'the Lease to show client-go as holder');
    const goRenewed = await waitFor(
      async () => {
        const version = await held();
        return version && version !== goAcquired ? version : undefined;
      },
      5000,
      'client-go to renew',
    );
    const f = fleet.launch('writer-f', kubeconfig());
    await waitFor(follows(f, 'go-g'), 20_000, 'writer-f to follow client-go');
    go.child.kill('SIGTERM'); // client-go's ReleaseOnCancel
    expect(await go.exited).toBe(0);
    const fTerm = await waitFor(leads(f), timings.leaseDuration * 3, 'writer-f to take over from client-go');
    await waitFor(writes(f, 3), 5000, "writer-f's writes to be accepted");
    await stop(f);

    expect([eTerm.scheme, fTerm.scheme]).toEqual(['resource-version', 'resource-version']);
    expectStrictlyIncreasing([eTerm.token!, goAcquired, goRenewed, fTerm.token!]);
    expect(fTerm.leaseTransitions).toBeGreaterThan(eTerm.leaseTransitions!);
    expect(rejected(f)).toEqual([]);
    expect(fleet.reports('write-error')).toEqual([]);
    const { token, entries } = await stored(lease);
    expect(entries.map((entry) => entry.writer).sort()).toEqual(
      [...applied(e), ...applied(f)].map((report) => report.writer).sort(),
    );
    expect(token).toBe(fTerm.token);
    process.stderr.write(
      `[fenced-writes] client-go: tokens writer-e ${eTerm.token} (leaseTransitions ${eTerm.leaseTransitions}) → ` +
        `client-go term (Lease resourceVersion ${goAcquired} at acquire, ${goRenewed} after a renewal) → ` +
        `writer-f ${fTerm.token} (leaseTransitions ${fTerm.leaseTransitions}); ` +
        `rejected: ${describeRejected([...rejected(e), ...rejected(f)])}\n`,
    );
  }, 90_000);
});
