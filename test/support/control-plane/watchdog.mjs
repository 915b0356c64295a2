// Kills the control plane's processes when the process that started it dies,
// even by SIGKILL, so no etcd or kube-apiserver is left behind.
// Usage: node watchdog.mjs <parent-pid> <pid-file>
import { readFileSync } from 'node:fs';

const [parentPid, pidFile] = [Number(process.argv[2]), process.argv[3]];

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
  process.exit(0);
}, 300);
