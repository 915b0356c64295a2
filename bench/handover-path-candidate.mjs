// The bench's candidate (test/support/candidate-process.mjs) with the steps of a
// handover printed as events too: SIGTERM received, each Lease write sent and
// answered (a release is a write with no holder), each watched change arrived.
// Used by bench/handover-path.mjs; wraps the lock's methods, not the elector.
import { KubernetesLeaseLock } from '../dist/esm/elector/index.js';

const print = (event, fields = {}) =>
  process.stdout.write(`${JSON.stringify({ event, ...fields, at: process.hrtime.bigint().toString() })}\n`);

const { update, watch } = KubernetesLeaseLock.prototype;
KubernetesLeaseLock.prototype.update = async function (record, resourceVersion, signal) {
  const step = record.holderIdentity === '' ? 'release' : 'write';
  print(`${step}-sent`);
  try {
    const written = await update.call(this, record, resourceVersion, signal);
    print(`${step}-answered`);
    return written;
  } catch (error) {
    print(`${step}-failed`, { reason: error?.reason });
    throw error;
  }
};
KubernetesLeaseLock.prototype.watch = function (handlers, resourceVersion, signal) {
  const onChange = (snapshot) => {
    print('watched-change', { holder: snapshot?.record.holderIdentity ?? null });
    handlers.onChange(snapshot);
  };
  return watch.call(this, { onChange, onBookmark: handlers.onBookmark?.bind(handlers) }, resourceVersion, signal);
};
process.prependListener('SIGTERM', () => print('sigterm'));
await import('../test/support/candidate-process.mjs');
