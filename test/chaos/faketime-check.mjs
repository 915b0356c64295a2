// `node test/chaos/faketime-check.mjs`: checks that libfaketime changes the clocks Node's timers and time
// readings use, before the chaos harness relies on it for its skew faults. libuv's timers and performance.now()
// and process.hrtime read clock_gettime(CLOCK_MONOTONIC); libfaketime fakes that clock too, unless
// DONT_FAKE_MONOTONIC=1.
//
// For each rate, a child node runs with LD_PRELOAD=libfaketimeMT.so.1 and FAKETIME='+0 x<rate>'. It prints a line,
// then sets a 1000 ms timer; when it fires, it prints how far performance.now(), process.hrtime.bigint() and
// Date.now() advanced. The parent (not faked) measures, on its own clock, the time from the first line to the
// second. Expected: the timer fires after 1000 / rate real ms, and every child clock advanced about 1000 ms.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const lib = [
  process.env.FAKETIME_LIB,
  '/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1',
  '/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1',
  '/usr/lib/faketime/libfaketimeMT.so.1',
].find((path) => path && existsSync(path));
if (!lib) {
  console.error('libfaketime not found (apt-get install faketime, or set FAKETIME_LIB)');
  process.exit(2);
}

const CHILD = `
const p0 = performance.now(), h0 = process.hrtime.bigint(), d0 = Date.now();
console.log('ready');
setTimeout(() => console.log(JSON.stringify({
  performanceNow: performance.now() - p0,
  hrtime: Number(process.hrtime.bigint() - h0) / 1e6,
  dateNow: Date.now() - d0,
})), 1000);
`;

function measure(rate) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD], {
      env: { ...process.env, LD_PRELOAD: lib, FAKETIME: `+0 x${rate}` },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let readyAt = null;
    let buffer = '';
    child.stdout.on('data', (chunk) => {
      buffer += chunk;
      const lines = buffer.split('\n');
      buffer = lines.pop();
      for (const line of lines) {
        if (line === 'ready') readyAt = performance.now();
        else resolve({ rate, realMs: performance.now() - readyAt, child: JSON.parse(line) });
      }
    });
    child.on('error', reject);
    child.on('exit', (code) => code !== 0 && reject(new Error(`child exited ${code}`)));
  });
}

let ok = true;
console.log(`libfaketime: ${lib}`);
for (const rate of [2, 0.5, 1.3]) {
  const { realMs, child } = await measure(rate);
  const expected = 1000 / rate;
  const timerOk = Math.abs(realMs - expected) < 0.1 * expected + 30;
  const clocksOk = Object.values(child).every((value) => Math.abs(value - 1000) < 100);
  ok &&= timerOk && clocksOk;
  console.log(
    `x${rate}: a 1000 ms setTimeout fired after ${realMs.toFixed(0)} real ms (expected ${expected.toFixed(0)}); ` +
      `in the child performance.now() advanced ${child.performanceNow.toFixed(0)} ms, process.hrtime ${child.hrtime.toFixed(0)} ms, ` +
      `Date.now() ${child.dateNow} ms: ${timerOk && clocksOk ? 'ok' : 'NOT SKEWED'}`,
  );
}
process.exit(ok ? 0 : 1);
