/** A decoded API server response body; tests read arbitrary fields from it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type RawJson = any;

/** A running etcd + kube-apiserver pair on loopback. */
export interface ControlPlane {
  server: string;
  dir: string;
  etcdUrl: string;
  /** Kubeconfig file per user: admin, limited, candidate-0..7 (or as many as `candidates`). */
  kubeconfigs: Record<string, string>;
  tokens: Record<string, string>;
  auditLogPath?: string;
  binaries: { kubeApiserver: string; etcd: string; source: string };
  stopApiserver(signal?: NodeJS.Signals): Promise<void>;
  startApiserver(): Promise<number>;
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
}): Promise<ControlPlane>;

export function apiRequest(
  server: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; text: string; json: RawJson }>;
