import { describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { waitFor } from '../support/cluster.js';
import { startPostgres } from '../support/postgres-server.js';
import { redisPing, startRedis } from '../support/redis-server.js';

const serverProcessModule = fileURLToPath(new URL('../support/server-process.mjs', import.meta.url));

/** Resolves with the connect error code, or 'connected'. */
function probe(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.on('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

describe('test servers', () => {
  it('PostgreSQL starts, answers a query as its own user and database, and stops', async () => {
    const started = Date.now();
    const server = await startPostgres();
    const startMs = Date.now() - started;
    try {
      const client = new pg.Client({ connectionString: server.url });
      await client.connect();
      try {
        const { rows } = await client.query<{ user: string; db: string; big: string }>(
          'SELECT current_user AS user, current_database() AS db, $1::numeric + 1 AS big',
          ['9007199254740993'],
        );
        expect(rows).toEqual([{ user: server.user, db: server.database, big: '9007199254740994' }]);
      } finally {
        await client.end();
      }
    } finally {
      await server.stop();
    }
    expect(await probe(server.port)).toBe('ECONNREFUSED');
    process.stderr.write(`[measured] postgres started in ${startMs}ms\n`);
  }, 60_000);

  it('Redis starts, answers PING, and stops', async () => {
    const server = await startRedis();
    try {
      expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);
      expect(await redisPing(server.port)).toBe('+PONG\r\n');
    } finally {
      await server.stop();
    }
    expect(await probe(server.port)).toBe('ECONNREFUSED');
  }, 30_000);

  it('a server started by a process that is SIGKILLed is killed and its folder removed', async () => {
    // The same startServerProcess both harnesses use, in a child process we can SIGKILL like jest.
    const script = `
      import { mkdtempSync } from 'node:fs';
      import { tmpdir } from 'node:os';
      import { join } from 'node:path';
      import { findExecutable, freeLoopbackPort, startServerProcess } from ${JSON.stringify(serverProcessModule)};
      const dir = mkdtempSync(join(tmpdir(), 'nle-orphan-'));
      const port = await freeLoopbackPort();
      startServerProcess({
        name: 'redis',
        command: findExecutable('redis-server', ['/usr/bin']),
        args: ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
        dir,
      });
      console.log(JSON.stringify({ dir, port }));
      setInterval(() => {}, 1000);
    `;
    const owner = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const [line] = (await once(createInterface({ input: owner.stdout! }), 'line')) as [string];
    const { dir, port } = JSON.parse(line) as { dir: string; port: number };
    await waitFor(
      () =>
        redisPing(port).then(
          (reply) => reply.startsWith('+PONG'),
          () => false,
        ),
      10_000,
      'the orphan-to-be redis to answer',
    );
    owner.kill('SIGKILL');
    await waitFor(async () => (await probe(port)) === 'ECONNREFUSED', 5000, 'the watchdog to kill redis');
    await waitFor(() => !existsSync(dir), 5000, `the watchdog to remove ${dir}`);
  }, 30_000);
});
