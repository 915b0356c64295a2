import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { findExecutable, freeLoopbackPort, localAccount, startServerProcess } from './server-process.mjs';

/** A throwaway PostgreSQL server on loopback with one database and user. */
export interface PostgresServer {
  /** `postgres://user:password@127.0.0.1:port/database` */
  url: string;
  host: string;
  port: number;
  database: string;
  user: string;
  stop(): Promise<void>;
}

const INSTALL = 'Install PostgreSQL with `apt-get install postgresql` (Debian; `.ci/run` installs it when missing).';
const DATABASE = 'nle_test';
const USER = 'nle_test';

/** Folders that may hold initdb and postgres: $NLE_POSTGRES_BIN, Debian's newest first, then PATH's initdb. */
function binDirCandidates(): string[] {
  const dirs: string[] = [];
  if (process.env.NLE_POSTGRES_BIN) dirs.push(process.env.NLE_POSTGRES_BIN);
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    const majors = readdirSync(debian)
      .filter((entry) => /^\d+$/.test(entry))
      .sort((a, b) => Number(b) - Number(a));
    dirs.push(...majors.map((major) => join(debian, major, 'bin')));
  }
  // /usr/local/bin/initdb is often a symlink into the real bin folder, which also has `postgres`.
  const initdb = findExecutable('initdb');
  if (initdb) dirs.push(dirname(realpathSync(initdb)));
  return dirs;
}

function findBinaries(): { initdb: string; postgres: string } {
  for (const dir of binDirCandidates()) {
    const initdb = findExecutable('initdb', [dir]);
    const postgres = findExecutable('postgres', [dir]);
    if (initdb?.startsWith(dir) && postgres?.startsWith(dir)) return { initdb, postgres };
  }
  throw new Error(
    `PostgreSQL server binaries (initdb, postgres) not found in ${binDirCandidates().join(', ') || '/usr/lib/postgresql/*/bin'} ` +
      `or on PATH. ${INSTALL} Or point NLE_POSTGRES_BIN at a folder holding them.`,
  );
}

/** initdb and postgres refuse to run as root: as root, run them as the `postgres` account. */
function serverAccount(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const account = localAccount('postgres');
  if (!account) {
    throw new Error(
      'PostgreSQL refuses to run as root and there is no `postgres` account to run it as. ' +
        `${INSTALL} The package creates the account.`,
    );
  }
  return account;
}

async function waitUntilAccepting(port: number, running: () => boolean, logTail: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  let last: string;
  for (;;) {
    if (!running()) throw new Error(`postgres exited during startup:\n${logTail()}`);
    const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return;
    } catch (error) {
      last = (error as Error).message;
    } finally {
      await client.end().catch(() => undefined);
    }
    if (Date.now() > deadline) throw new Error(`postgres not accepting connections after 30s (${last}):\n${logTail()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Starts a real PostgreSQL: initdb into a temp folder, postgres on a free
 * 127.0.0.1 port with its socket in that folder, then a database and an owner.
 * Fsync is off: the data is thrown away with the folder.
 */
export async function startPostgres(): Promise<PostgresServer> {
  const binaries = findBinaries();
  const account = serverAccount();
  const dir = mkdtempSync(join(tmpdir(), 'nle-postgres-'));
  if (account) chownSync(dir, account.uid, account.gid);
  const data = join(dir, 'data');
  try {
    await promisify(execFile)(
      binaries.initdb,
      ['-D', data, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync'],
      { cwd: dir, env: { ...process.env, LC_ALL: 'C' }, ...account },
    );
  } catch (error) {
    const { stderr, message } = error as { stderr?: string; message: string };
    throw new Error(`initdb failed: ${stderr || message}`, { cause: error });
  }

  const port = await freeLoopbackPort();
  const server = startServerProcess({
    name: 'postgres',
    command: binaries.postgres,
    args: [
      '-D',
      data,
      '-p',
      String(port),
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      `unix_socket_directories=${dir}`,
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
    ],
    dir,
    account,
  });
  try {
    await waitUntilAccepting(port, server.running, server.logTail);
    const admin = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
    await admin.connect();
    try {
      await admin.query(`CREATE ROLE ${USER} LOGIN PASSWORD '${USER}'`);
      await admin.query(`CREATE DATABASE ${DATABASE} OWNER ${USER}`);
    } finally {
      await admin.end();
    }
  } catch (error) {
    await server.stop('SIGKILL');
    throw error;
  }

  return {
    url: `postgres://${USER}:${USER}@127.0.0.1:${port}/${DATABASE}`,
    host: '127.0.0.1',
    port,
    database: DATABASE,
    user: USER,
    // SIGINT is PostgreSQL's fast shutdown: it ends sessions and stops without waiting for clients.
    stop: () => server.stop('SIGINT'),
  };
}
