import { mkdtempSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findExecutable, freeLoopbackPort, startServerProcess } from './server-process.mjs';

/** A throwaway Redis server on loopback. */
export interface RedisServer {
  /** `redis://127.0.0.1:port` */
  url: string;
  host: string;
  port: number;
  stop(): Promise<void>;
}

/** Sends PING over RESP and resolves with the raw reply (`+PONG\r\n` when ready). */
export function redisPing(port: number, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host });
    let reply = '';
    socket.setTimeout(2000, () => socket.destroy(new Error('PING timed out')));
    socket.on('connect', () => socket.write('*1\r\n$4\r\nPING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) {
        socket.end();
        resolve(reply);
      }
    });
    socket.on('error', reject);
  });
}

/** Starts a real redis-server on a free 127.0.0.1 port, without persistence, working in a temp folder. */
export async function startRedis(): Promise<RedisServer> {
  const binary = findExecutable('redis-server', ['/usr/bin', '/usr/sbin', '/usr/local/bin']);
  if (!binary) {
    throw new Error(
      'redis-server not found on PATH or in /usr/bin, /usr/sbin, /usr/local/bin. Install it with ' +
        '`apt-get install redis-server` (Debian; `.ci/run` installs it when missing).',
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'nle-redis-'));
  const port = await freeLoopbackPort();
  const server = startServerProcess({
    name: 'redis',
    command: binary,
    args: [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'no',
      '--daemonize',
      'no',
    ],
    dir,
  });
  const deadline = Date.now() + 15_000;
  let last: string;
  for (;;) {
    if (!server.running()) {
      const log = server.logTail();
      await server.stop('SIGKILL');
      throw new Error(`redis-server exited during startup:\n${log}`);
    }
    try {
      const reply = await redisPing(port);
      if (reply.startsWith('+PONG')) break;
      last = reply.trim();
    } catch (error) {
      last = (error as Error).message;
    }
    if (Date.now() > deadline) {
      const log = server.logTail();
      await server.stop('SIGKILL');
      throw new Error(`redis-server not answering PING after 15s (${last}):\n${log}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    host: '127.0.0.1',
    port,
    stop: () => server.stop('SIGTERM'),
  };
}
