/** A decoded API server response body; tests read arbitrary fields from it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type RawJson = any;

/** One etcd member's `/v3/maintenance/status`, as the control plane reads it. */
export interface EtcdMemberStatus {
  index: number;
  url: string;
  running: boolean;
  /** Member id (uint64, decimal); absent when the member did not answer. */
  id?: string;
  /** The leader this member sees, or null during an election. */
  leaderId?: string | null;
  raftTerm?: number;
  raftIndex?: number;
  error?: string;
}

/** A running etcd + kube-apiserver pair on loopback (or, with `ha`, an etcd cluster and several apiservers). */
export interface ControlPlane {
  /** The first apiserver; every kubeconfig names it. */
  server: string;
  /** Every apiserver's URL (one unless `ha`). */
  servers: string[];
  ha: boolean;
  dir: string;
  etcdUrl: string;
  etcdUrls: string[];
  /** Kubeconfig file per user: admin, limited, candidate-0..7 (or as many as `candidates`). */
  kubeconfigs: Record<string, string>;
  tokens: Record<string, string>;
  auditLogPath?: string;
  binaries: { kubeApiserver: string; etcd: string; source: string };
  /** Stops apiserver `index` (default 0). */
  stopApiserver(signal?: NodeJS.Signals, index?: number): Promise<void>;
  /** Starts apiserver `index` (default 0) again; resolves with the ms until it was ready. */
  startApiserver(index?: number): Promise<number>;
  apiserverRunning(index?: number): boolean;
  stopEtcdMember(index: number, signal?: NodeJS.Signals): Promise<void>;
  /** Restarts a stopped member (it rejoins with its data); resolves once it sees a leader. */
  startEtcdMember(index: number): Promise<void>;
  etcdMemberRunning(index: number): boolean;
  etcdStatus(): Promise<EtcdMemberStatus[]>;
  /** Index of the etcd leader, or null when none is agreed. */
  etcdLeader(): Promise<number | null>;
  /** Waits for a quorum that agrees on a leader; resolves with the leader's index. */
  waitEtcdHealthy(timeoutMs?: number): Promise<number>;
  request(
    method: string,
    path: string,
    body?: unknown,
    user?: string,
  ): Promise<{ status: number; text: string; json: RawJson }>;
  stop(): Promise<void>;
}

export interface ControlPlaneUser {
  name: string;
  groups: string[];
}

export const DEFAULT_USERS: ControlPlaneUser[];

/** admin, limited and `candidates` (default 8) users `candidate-0`..`candidate-<n-1>`. */
export function defaultUsers(candidates?: number): ControlPlaneUser[];

export function startControlPlane(options?: {
  users?: ControlPlaneUser[];
  /** Number of `candidate-N` users in the default user list (8); ignored when `users` is given. */
  candidates?: number;
  dir?: string;
  keep?: boolean;
  auditLog?: boolean;
  /** Extra kube-apiserver flags, e.g. feature gates. */
  apiserverArgs?: string[];
  log?: (message: string) => void;
  /** Three etcd members (a cluster) and two apiservers sharing them, or as many as given. */
  ha?: boolean | { etcdMembers?: number; apiservers?: number };
}): Promise<ControlPlane>;

export function apiRequest(
  server: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; text: string; json: RawJson }>;
