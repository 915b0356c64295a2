import {
  DEFAULT_RENEW_DEADLINE,
  KubeConnections,
  KubernetesMemberDirectory,
  LeaderElectionGroup,
  MemoryLeaseLock,
  MemoryMemberDirectory,
  resolveNamespace,
  validateLeaseName,
  type ElectorLogger,
  type LeaseLock,
  type MemberDirectory,
} from './elector/internal.js';
import type {
  LeaderElectionModuleExtras,
  LeaderElectionModuleOptions,
} from './interfaces/leader-election-module-options.interface.js';
import { DEFAULT_ELECTION } from './leader-election.constants.js';
import { INVALID_SPREAD, NOT_WITH_SPREAD } from './leader-election.messages.js';
import { fail, validateModuleOptions } from './leader-election-options.validator.js';
import { electorTiming, kubernetesLeaseLock } from './elector.factory.js';
import { contextNamespaceOf, loadKubeConfig } from './kube-config.loader.js';

const MAX_SHARDS = 1000;

/**
 * The election names of a `spread` registration: the names listed, or
 * `shard-<i>` (`<registration>-<i>` when named) for `{ shards }`. Throws with
 * what to write instead when the value is unusable.
 */
export function spreadElections(registration: string, spread: LeaderElectionModuleExtras['spread']): string[] {
  if (Array.isArray(spread)) {
    const names = spread as unknown[];
    const valid = names.every((name) => typeof name === 'string' && name.trim() !== '');
    if (names.length === 0 || !valid || new Set(names).size !== names.length) throw new Error(INVALID_SPREAD(spread));
    return names as string[];
  }
  const shards = (spread as { shards?: unknown } | null)?.shards;
  if (typeof shards !== 'number' || !Number.isInteger(shards) || shards < 1 || shards > MAX_SHARDS) {
    throw new Error(INVALID_SPREAD(spread));
  }
  const prefix = registration === DEFAULT_ELECTION ? 'shard' : registration;
  return Array.from({ length: shards }, (_, index) => `${prefix}-${index}`);
}

/** The shard index of each election of a `{ shards }` registration; empty for a list of names. */
export function shardIndexes(
  spread: LeaderElectionModuleExtras['spread'],
  elections: readonly string[],
): ReadonlyMap<string, number> {
  return Array.isArray(spread) ? new Map() : new Map(elections.map((election, index) => [election, index]));
}

/** The Lease of one election of a group: `<leaseName>-<election>`. */
export function groupLeaseName(leaseName: string, election: string): string {
  return `${leaseName}-${election}`;
}

/**
 * Validates the options of a spreading registration and builds its group:
 * a Kubernetes Lease per election and member Leases, or in-memory ones when
 * standalone.
 */
export async function createElectionGroup(
  options: LeaderElectionModuleOptions,
  elections: readonly string[],
  logger: ElectorLogger,
  electionLogger: (election: string) => ElectorLogger,
  handoverDrain: (election: string) => Promise<void>,
): Promise<{ group: LeaderElectionGroup; standalone: boolean }> {
  validateModuleOptions(options);
  if (options.lock) fail('lock', NOT_WITH_SPREAD('lock', 'a spreading group needs one Lease per election.'));
  if (options.coordinated) {
    fail('coordinated', NOT_WITH_SPREAD('coordinated', 'the kube-apiserver, not the group, would pick the holders.'));
  }
  if (options.leaderPodLabel) {
    fail('leaderPodLabel', NOT_WITH_SPREAD('leaderPodLabel', 'a Pod may lead several elections of the group.'));
  }
  if (options.awaitLeadershipOnBootstrap) {
    fail(
      'awaitLeadershipOnBootstrap',
      NOT_WITH_SPREAD('awaitLeadershipOnBootstrap', 'each replica leads only its share; wait on one election instead.'),
    );
  }
  for (const election of elections) {
    validateLeaseName(groupLeaseName(options.leaseName, election), `spread (election ${JSON.stringify(election)})`);
  }
  const standalone = options.standalone === true;
  const kubeConfig = standalone ? null : await loadKubeConfig(options);
  const namespace = resolveNamespace(options.namespace, { contextNamespace: contextNamespaceOf(kubeConfig) });
  let lockFor: (election: string) => LeaseLock;
  let members: MemberDirectory;
  if (kubeConfig === null) {
    lockFor = (election) => new MemoryLeaseLock(groupLeaseName(options.leaseName, election), namespace);
    members = new MemoryMemberDirectory(options.leaseName);
  } else {
    // One set of kept connections for all of the replica's group requests.
    const connections = new KubeConnections(kubeConfig);
    lockFor = (election) =>
      kubernetesLeaseLock(options, kubeConfig, groupLeaseName(options.leaseName, election), namespace, connections);
    members = new KubernetesMemberDirectory({
      kubeConfig,
      group: options.leaseName,
      namespace,
      connections,
      // The electors' own bound on one call.
      requestTimeout: (options.renewDeadline ?? DEFAULT_RENEW_DEADLINE) / 2,
    });
  }
  const group = new LeaderElectionGroup({
    elections,
    lockFor,
    members,
    identity: options.identity,
    ...electorTiming(options),
    logger,
    electorOptions: (election) => ({
      logger: electionLogger(election),
      handoverDrain: () => handoverDrain(election),
    }),
  });
  return { group, standalone };
}
