// Starts a real etcd and kube-apiserver on loopback for tests, benchmarks and
// the demo. Each user gets a bearer token and its own kubeconfig.
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freeLoopbackPort as freePort } from '../server-process.mjs';
import { ensureBinaries } from './binaries.mjs';

const here = dirname(fileURLToPath(import.meta.url));

/** `admin` (system:masters), `limited` (may only read leases), `nowatch` (may elect, but not watch) and `candidate-0`..`candidate-<count-1>` (lease electors). */
export function defaultUsers(candidates = 8) {
  return [
    { name: 'admin', groups: ['system:masters'] },
    { name: 'limited', groups: ['lease-readers'] },
    { name: 'nowatch', groups: ['lease-electors-nowatch'] },
    ...Array.from({ length: candidates }, (_, index) => ({ name: `candidate-${index}`, groups: ['lease-electors'] })),
  ];
}

/** Users every control plane has by default: admin, limited, candidate-0..7. */
export const DEFAULT_USERS = defaultUsers();

function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Minimal HTTPS call to the test apiserver (self-signed serving cert). */
export function apiRequest(server, token, method, path, body) {
  return new Promise((resolve, reject) => {
    const url = new URL(path, server);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      url,
      {
        method,
        rejectUnauthorized: false,
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'application/json',
          ...(payload
            ? {
                // A PATCH body is a JSON merge patch.
                'content-type': method === 'PATCH' ? 'application/merge-patch+json' : 'application/json',
                'content-length': Buffer.byteLength(payload),
              }
            : {}),
        },
        timeout: 5000,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => {
          let json;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode, text, json });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout ${method} ${path}`)));
    req.on('error', reject);
    if (payload) req.write(payload);
    req.end();
  });
}

function kubeconfigFor(server, user) {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: local',
    '  cluster:',
    `    server: ${server}`,
    '    insecure-skip-tls-verify: true',
    'users:',
    `- name: ${user.name}`,
    '  user:',
    `    token: ${user.token}`,
    'contexts:',
    `- name: ${user.name}@local`,
    '  context:',
    '    cluster: local',
    `    user: ${user.name}`,
    '    namespace: default',
    `current-context: ${user.name}@local`,
    '',
  ].join('\n');
}

const RBAC = [
  {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: 'nle-lease-reader' },
    rules: [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'list', 'watch'] }],
  },
  {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: 'nle-lease-readers' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'nle-lease-reader' },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'lease-readers' }],
  },
  {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: 'nle-lease-elector' },
    rules: [
      {
        apiGroups: ['coordination.k8s.io'],
        resources: ['leases'],
        verbs: ['get', 'list', 'watch', 'create', 'update'],
      },
      // The leadership Events client-go records (the nowatch electors may not: a denied Event is best-effort).
      { apiGroups: [''], resources: ['events'], verbs: ['create'] },
      // The opt-in leader Pod label: patch to set and remove it, list to clean up after a crashed leader.
      { apiGroups: [''], resources: ['pods'], verbs: ['list', 'patch'] },
      // Coordinated Leader Election candidates (where the apiserver serves coordination.k8s.io/v1beta1).
      {
        apiGroups: ['coordination.k8s.io'],
        resources: ['leasecandidates'],
        verbs: ['get', 'list', 'watch', 'create', 'update', 'delete'],
      },
    ],
  },
  {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: 'nle-lease-electors' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'nle-lease-elector' },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'lease-electors' }],
  },
  {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: 'nle-lease-elector-nowatch' },
    rules: [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] }],
  },
  {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: 'nle-lease-electors-nowatch' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'nle-lease-elector-nowatch' },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'lease-electors-nowatch' }],
  },
];

/**
 * Starts etcd and kube-apiserver on free loopback ports and waits until the
 * apiserver is ready and the `default` namespace exists.
 *
 * `candidates` sets how many `candidate-N` users the default user list has
 * (8 unless given; ignored when `users` is given), e.g. one per process in a
 * benchmark that tells candidates apart in the audit log.
 *
 * `apiserverArgs` are extra kube-apiserver flags, e.g. feature gates.
 * @param {{ users?: {name: string, groups: string[]}[], candidates?: number, dir?: string, log?: (m: string) => void, auditLog?: boolean, apiserverArgs?: string[] }} [options]
 */
export async function startControlPlane(options = {}) {
  const log = options.log ?? ((message) => process.stderr.write(`[control-plane] ${message}\n`));
  const binaries = await ensureBinaries();
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'nle-control-plane-'));
  mkdirSync(dir, { recursive: true });
  const pidFile = join(dir, 'pids');
  const children = new Map();
  const writePids = () =>
    writeFileSync(
      pidFile,
      [...children.values()]
        .map((child) => child.pid)
        .filter(Boolean)
        .join('\n'),
    );
  const watchdog = spawn(process.execPath, [join(here, 'watchdog.mjs'), String(process.pid), pidFile], {
    stdio: 'ignore',
    detached: true,
  });
  watchdog.unref();

  const [etcdClientPort, etcdPeerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  const etcdUrl = `http://127.0.0.1:${etcdClientPort}`;
  const server = `https://127.0.0.1:${apiPort}`;

  const users = (options.users ?? defaultUsers(options.candidates)).map((user) => ({
    ...user,
    token: `${user.name}-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`,
  }));
  writeFileSync(
    join(dir, 'tokens.csv'),
    users.map((user, index) => `${user.token},${user.name},uid-${index},"${user.groups.join(',')}"`).join('\n') + '\n',
  );
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(join(dir, 'sa.key'), privateKey.export({ type: 'pkcs1', format: 'pem' }));
  const auditPath = join(dir, 'audit.log');
  if (options.auditLog) {
    writeFileSync(
      join(dir, 'audit-policy.yaml'),
      'apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: ["RequestReceived"]\nrules:\n- level: Metadata\n  resources:\n  - group: coordination.k8s.io\n    resources: ["leases"]\n- level: None\n',
    );
  }

  function launch(name, command, args) {
    const out = createWriteStream(join(dir, `${name}.log`), { flags: 'a' });
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.pipe(out);
    child.stderr.pipe(out);
    child.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    children.set(name, child);
    writePids();
    return child;
  }

  async function stopChild(name, signal = 'SIGTERM') {
    const child = children.get(name);
    if (!child) return;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill(signal);
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await child.exited;
      clearTimeout(killer);
    }
    children.delete(name);
    writePids();
  }

  const apiserverArgs = [
    `--etcd-servers=${etcdUrl}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    `--secure-port=${apiPort}`,
    `--cert-dir=${join(dir, 'certs')}`,
    `--token-auth-file=${join(dir, 'tokens.csv')}`,
    '--authorization-mode=RBAC',
    `--service-account-issuer=${server}`,
    `--service-account-key-file=${join(dir, 'sa.key')}`,
    `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
    '--service-cluster-ip-range=10.0.0.0/24',
    '--disable-admission-plugins=ServiceAccount',
    '--endpoint-reconciler-type=none',
    '--allow-privileged=true',
    ...(options.apiserverArgs ?? []),
    ...(options.auditLog
      ? [
          `--audit-policy-file=${join(dir, 'audit-policy.yaml')}`,
          `--audit-log-path=${auditPath}`,
          '--audit-log-mode=blocking',
        ]
      : []),
  ];
  const admin = users.find((user) => user.groups.includes('system:masters'));

  async function waitReady(timeoutMs = 90_000) {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer yet';
    while (Date.now() < deadline) {
      const child = children.get('kube-apiserver');
      if (!child || child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`kube-apiserver exited during startup; see ${join(dir, 'kube-apiserver.log')}`);
      }
      try {
        const ready = await apiRequest(server, admin.token, 'GET', '/readyz');
        if (ready.status === 200) {
          const ns = await apiRequest(server, admin.token, 'GET', '/api/v1/namespaces/default');
          if (ns.status === 200) return;
          last = `namespace default: HTTP ${ns.status}`;
        } else last = `readyz: HTTP ${ready.status}`;
      } catch (error) {
        last = error.message;
      }
      await delay(250);
    }
    throw new Error(`kube-apiserver not ready after ${timeoutMs}ms (${last}); see ${join(dir, 'kube-apiserver.log')}`);
  }

  async function startApiserver() {
    const started = Date.now();
    launch('kube-apiserver', binaries.kubeApiserver, apiserverArgs);
    await waitReady();
    return Date.now() - started;
  }

  let stopped = false;
  async function stop() {
    if (stopped) return;
    stopped = true;
    process.off('exit', killAllSync);
    await stopChild('kube-apiserver');
    await stopChild('etcd');
    try {
      process.kill(watchdog.pid, 'SIGKILL');
    } catch {
      // gone
    }
    if (!options.keep && !options.dir) rmSync(dir, { recursive: true, force: true });
  }
  function killAllSync() {
    for (const child of children.values()) child.kill('SIGKILL');
  }
  process.on('exit', killAllSync);

  const started = Date.now();
  try {
    launch('etcd', binaries.etcd, [
      '--name=default',
      `--data-dir=${join(dir, 'etcd-data')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
      `--initial-cluster=default=http://127.0.0.1:${etcdPeerPort}`,
      '--unsafe-no-fsync',
      '--log-level=warn',
    ]);
    await startApiserver();
    for (const object of RBAC) {
      const plural = object.kind === 'ClusterRole' ? 'clusterroles' : 'clusterrolebindings';
      const result = await apiRequest(
        server,
        admin.token,
        'POST',
        `/apis/rbac.authorization.k8s.io/v1/${plural}`,
        object,
      );
      if (result.status !== 201 && result.status !== 409) {
        throw new Error(`creating ${object.kind} ${object.metadata.name}: HTTP ${result.status} ${result.text}`);
      }
    }
  } catch (error) {
    await stop();
    throw error;
  }

  const kubeconfigs = {};
  const tokens = {};
  for (const user of users) {
    const path = join(dir, `kubeconfig-${user.name}.yaml`);
    writeFileSync(path, kubeconfigFor(server, user));
    kubeconfigs[user.name] = path;
    tokens[user.name] = user.token;
  }
  log(`ready at ${server} in ${Date.now() - started}ms (binaries: ${binaries.source}; state: ${dir})`);

  return {
    server,
    dir,
    etcdUrl,
    kubeconfigs,
    tokens,
    auditLogPath: options.auditLog ? auditPath : undefined,
    binaries,
    /** Stops only kube-apiserver (etcd keeps the data). */
    stopApiserver: (signal = 'SIGTERM') => stopChild('kube-apiserver', signal),
    /** Starts kube-apiserver again on the same port; resolves once ready. */
    startApiserver,
    /** Sends a raw request as `user` (default admin). */
    request: (method, path, body, user = 'admin') => apiRequest(server, tokens[user], method, path, body),
    stop,
  };
}
