// Spawns a test server (PostgreSQL, Redis) that cannot outlive the process that
// started it. Plain JS so a child process can load it too (the SIGKILL test).
import { spawn } from 'node:child_process';
import { accessSync, constants, createWriteStream, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const watchdogScript = fileURLToPath(new URL('./control-plane/watchdog.mjs', import.meta.url));

/** A free TCP port on 127.0.0.1 (closed again before it is returned). */
export function freeLoopbackPort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function executable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** First `name` found in `dirs`, then on PATH; undefined when none exists. */
export function findExecutable(name, dirs = []) {
  const path = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  return [...dirs, ...path].map((dir) => join(dir, name)).find(executable);
}

/** uid and gid of a local account, from /etc/passwd; undefined when it does not exist. */
export function localAccount(name) {
  for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const [user, , uid, gid] = line.split(':');
    if (user === name) return { uid: Number(uid), gid: Number(gid) };
  }
  return undefined;
}

/**
 * Spawns `command` in `dir` with its output in `<dir>/<name>.log`. Three layers
 * make sure it dies with us: `stop()`, a SIGKILL on process exit, and the
 * control plane's watchdog for when this process is SIGKILLed (it also removes `dir`).
 */
export function startServerProcess({ name, command, args, dir, account }) {
  const logPath = join(dir, `${name}.log`);
  const log = createWriteStream(logPath, { flags: 'a' });
  const child = spawn(command, args, {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LC_ALL: 'C' },
    ...account,
  });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  let done = false;
  const exited = new Promise((resolve) => {
    const finish = () => {
      done = true;
      resolve();
    };
    child.once('exit', finish);
    // A failed spawn emits 'error' and never 'exit'.
    child.once('error', (error) => {
      log.write(`spawn ${command} failed: ${error.message}\n`);
      finish();
    });
  });

  const pidFile = join(dir, `${name}.watchdog-pids`);
  writeFileSync(pidFile, String(child.pid ?? ''));
  const watchdog = spawn(process.execPath, [watchdogScript, String(process.pid), pidFile, dir], {
    stdio: 'ignore',
    detached: true,
  });
  watchdog.unref();

  const running = () => !done;
  const killOnExit = () => {
    if (running()) child.kill('SIGKILL');
  };
  process.on('exit', killOnExit);

  let stopping;
  return {
    child,
    logPath,
    running,
    logTail() {
      try {
        return readFileSync(logPath, 'utf8').slice(-4096);
      } catch {
        return '';
      }
    },
    stop(signal, timeoutMs = 10_000) {
      stopping ??= (async () => {
        if (running()) {
          child.kill(signal);
          const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
          await exited;
          clearTimeout(killer);
        }
        process.off('exit', killOnExit);
        try {
          process.kill(watchdog.pid, 'SIGKILL');
        } catch {
          // already gone
        }
        log.end();
        rmSync(dir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}
