// One election candidate in its own process, using the built package.
// Prints one JSON line per event with a CLOCK_MONOTONIC timestamp
// (process.hrtime.bigint(), comparable across processes on one machine).
// SIGTERM stops gracefully (release); SIGKILL is a crash.
import { KubeConfig } from '@kubernetes/client-node';
import { KubernetesLeaseLock, LeaderElector } from '../../dist/esm/elector/index.js';

const env = process.env;
const kubeConfig = new KubeConfig();
kubeConfig.loadFromFile(env.KUBECONFIG);
const lock = new KubernetesLeaseLock({ kubeConfig, name: env.LEASE_NAME, namespace: env.LEASE_NAMESPACE ?? 'default' });
const elector = new LeaderElector({
  lock,
  identity: env.IDENTITY,
  leaseDuration: Number(env.LEASE_DURATION ?? 2000),
  renewDeadline: Number(env.RENEW_DEADLINE ?? 1000),
  retryPeriod: Number(env.RETRY_PERIOD ?? 250),
  logger: { log: () => undefined, warn: () => undefined, error: (m) => process.stderr.write(`${m}\n`) },
});

const print = (event) =>
  process.stdout.write(`${JSON.stringify({ ...event, at: process.hrtime.bigint().toString() })}\n`);
elector.subscribe((event) => {
  if (event.type === 'started-leading') print({ event: 'started', token: event.term.fencingToken });
  else if (event.type === 'stopped-leading') print({ event: 'stopped', reason: event.reason });
  else if (event.type === 'new-leader') print({ event: 'new-leader', identity: event.identity });
  else if (event.type === 'follower-mode') print({ event: 'follower-mode', mode: event.mode });
  else if (event.type === 'error') print({ event: 'error', reason: event.error.reason, operation: event.operation });
});
process.on('SIGTERM', async () => {
  await elector.stop();
  print({ event: 'exited' });
  process.exit(0);
});
elector.start();
print({ event: 'candidate' });
