// Kills test servers (etcd, kube-apiserver, PostgreSQL, Redis) when the process
// that started them dies, even by SIGKILL, so none is left behind.
// Usage: node watchdog.mjs <parent-pid> <pid-file> [dir-to-remove-afterwards]
import { readFileSync, rmSync } from 'node:fs';

const [parentPid, pidFile, leftoverDir] = [Number(process.argv[2]), process.argv[3], process.argv[4]];

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}

function children() {
  try {
    return readFileSync(pidFile, 'utf8').split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

const timer = setInterval(() => {
  if (alive(parentPid)) return;
  const pids = children();
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  clearInterval(timer);
  // Give SIGKILLed servers a moment to release their files before removing them.
  if (leftoverDir) setTimeout(() => rmSync(leftoverDir, { recursive: true, force: true }), 500);
  else process.exit(0);
}, 300);
