// One replica of a spreading group in its own process, using the built package.
// Prints one JSON line per event with a CLOCK_MONOTONIC timestamp (process.hrtime.bigint()).
// SIGTERM leaves gracefully (withdraw, drain, release); SIGKILL is a crash.
// Env: KUBECONFIG, GROUP, ELECTIONS (comma-separated), IDENTITY, LEASE_NAMESPACE, timings.
import { KubeConfig } from '@kubernetes/client-node';
import { KubernetesLeaseLock, KubernetesMemberDirectory, LeaderElectionGroup } from '../../dist/esm/elector/index.js';

const env = process.env;
const kubeConfig = new KubeConfig();
kubeConfig.loadFromFile(env.KUBECONFIG);
const namespace = env.LEASE_NAMESPACE ?? 'default';
const group = new LeaderElectionGroup({
  identity: env.IDENTITY,
  elections: env.ELECTIONS.split(','),
  lockFor: (election) =>
    new KubernetesLeaseLock({ kubeConfig, name: `${env.GROUP}-${election}`, namespace, kubernetesEvents: false }),
  members: new KubernetesMemberDirectory({ kubeConfig, group: env.GROUP, namespace }),
  leaseDuration: Number(env.LEASE_DURATION ?? 2000),
  renewDeadline: Number(env.RENEW_DEADLINE ?? 1000),
  retryPeriod: Number(env.RETRY_PERIOD ?? 250),
  logger: {
    log: () => undefined,
    warn: (m) => process.stderr.write(`${m}\n`),
    error: (m) => process.stderr.write(`${m}\n`),
  },
});

const print = (event) =>
  process.stdout.write(`${JSON.stringify({ ...event, at: process.hrtime.bigint().toString() })}\n`);
for (const [election, elector] of group.electors) {
  elector.subscribe((event) => {
    if (event.type === 'started-leading') print({ event: 'started', election, token: event.term.fencingToken });
    else if (event.type === 'stopped-leading') print({ event: 'stopped', election, reason: event.reason });
    else if (event.type === 'error')
      print({ event: 'error', election, reason: event.error.reason, operation: event.operation });
  });
}
process.on('SIGTERM', async () => {
  print({ event: 'leaving' });
  await group.stop();
  print({ event: 'exited' });
  process.exit(0);
});
print({ event: 'member' });
await group.start();
print({ event: 'campaigning' });
