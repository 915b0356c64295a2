// One election candidate in its own process, using the built package.
// Prints one JSON line per event with a CLOCK_MONOTONIC timestamp
// (process.hrtime.bigint(), comparable across processes on one machine).
// SIGTERM stops gracefully (release); SIGKILL is a crash.
// With SPREAD_GROUP set, the candidate is the one election ('x', on LEASE_NAME) of a spreading group of that name
// (member Leases labelled with it), so after a release the candidates campaign in rendezvous-rank order instead of
// racing; the events printed are the same.
import { KubeConfig } from '@kubernetes/client-node';
import {
  KubernetesLeaseLock,
  KubernetesMemberDirectory,
  LeaderElectionGroup,
  LeaderElector,
} from '../../dist/esm/elector/index.js';

const env = process.env;
const kubeConfig = new KubeConfig();
kubeConfig.loadFromFile(env.KUBECONFIG);
const namespace = env.LEASE_NAMESPACE ?? 'default';
const lock = new KubernetesLeaseLock({ kubeConfig, name: env.LEASE_NAME, namespace });
const options = {
  identity: env.IDENTITY,
  leaseDuration: Number(env.LEASE_DURATION ?? 2000),
  renewDeadline: Number(env.RENEW_DEADLINE ?? 1000),
  retryPeriod: Number(env.RETRY_PERIOD ?? 250),
  logger: {
    log: () => undefined,
    // A group's warnings (member view lost, announce failing) explain a failed trial; a plain elector's are noise.
    warn: env.SPREAD_GROUP ? (m) => process.stderr.write(`${m}\n`) : () => undefined,
    error: (m) => process.stderr.write(`${m}\n`),
  },
};
const group = env.SPREAD_GROUP
  ? new LeaderElectionGroup({
      ...options,
      elections: ['x'],
      lockFor: () => lock,
      members: new KubernetesMemberDirectory({ kubeConfig, group: env.SPREAD_GROUP, namespace }),
    })
  : null;
const elector = group ? group.electors.get('x') : new LeaderElector({ ...options, lock });

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
  // A group member withdraws its member Lease while the elector releases, so the others rank without it at once.
  await (group ? group.stop() : elector.stop());
  print({ event: 'exited' });
  process.exit(0);
});
if (group) {
  // The group announces this member and lists the others before its elector starts; the process is up already.
  const starting = group.start();
  print({ event: 'candidate' });
  await starting;
} else {
  elector.start();
  print({ event: 'candidate' });
}
