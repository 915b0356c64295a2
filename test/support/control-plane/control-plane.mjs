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
        // delete: a spreading group's member Lease, removed when its replica leaves.
        verbs: ['get', 'list', 'watch', 'create', 'update', 'delete'],
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

/** A POST to etcd's v3 JSON gateway (plain HTTP on loopback). */
function etcdCall(url, path, body = {}, timeoutMs = 1000) {
  return fetch(new URL(path, url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  }).then(async (response) => ({ status: response.status, json: await response.json().catch(() => undefined) }));
}

/**
 * Starts etcd and kube-apiserver on free loopback ports and waits until the
 * apiserver is ready and the `default` namespace exists.
 *
 * `candidates` sets how many `candidate-N` users the default user list has
 * (8 unless given; ignored when `users` is given), e.g. one per process in a
 * benchmark that tells candidates apart in the audit log.
 *
 * `apiserverArgs` are extra kube-apiserver flags, e.g. feature gates.
 *
 * `ha` starts a highly available control plane instead: `etcdMembers` (3) etcd
 * members forming one cluster, and `apiservers` (2) kube-apiservers that share
 * them (`--etcd-servers` lists every member) and share the token file,
 * service-account key and serving certificate, so every user's token works on
 * each. `servers` lists their URLs; `server` (and every kubeconfig) is the first.
 * @param {{ users?: {name: string, groups: string[]}[], candidates?: number, dir?: string, log?: (m: string) => void, auditLog?: boolean, apiserverArgs?: string[], ha?: boolean | { etcdMembers?: number, apiservers?: number } }} [options]
 */
export async function startControlPlane(options = {}) {
  const log = options.log ?? ((message) => process.stderr.write(`[control-plane] ${message}\n`));
  const binaries = await ensureBinaries();
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'nle-control-plane-'));
  mkdirSync(dir, { recursive: true });
  const ha = options.ha ? { etcdMembers: 3, apiservers: 2, ...(options.ha === true ? {} : options.ha) } : null;
  const memberCount = ha ? ha.etcdMembers : 1;
  const apiserverCount = ha ? ha.apiservers : 1;
  if (!(memberCount >= 1 && apiserverCount >= 1))
    throw new Error('control plane: needs at least one etcd member and one apiserver');
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

  // A single control plane keeps the historical process and log names (etcd, kube-apiserver).
  const members = [];
  for (let index = 0; index < memberCount; index++) {
    const [clientPort, peerPort] = [await freePort(), await freePort()];
    members.push({
      index,
      name: ha ? `etcd-${index}` : 'etcd',
      memberName: ha ? `etcd-${index}` : 'default',
      url: `http://127.0.0.1:${clientPort}`,
      peerUrl: `http://127.0.0.1:${peerPort}`,
      dataDir: join(dir, ha ? `etcd-data-${index}` : 'etcd-data'),
    });
  }
  const apiservers = [];
  for (let index = 0; index < apiserverCount; index++) {
    const port = await freePort();
    apiservers.push({
      index,
      name: ha ? `kube-apiserver-${index}` : 'kube-apiserver',
      port,
      url: `https://127.0.0.1:${port}`,
    });
  }
  const etcdUrl = members[0].url;
  const server = apiservers[0].url;
  const initialCluster = members.map((member) => `${member.memberName}=${member.peerUrl}`).join(',');

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

  const running = (name) => {
    const child = children.get(name);
    return Boolean(child && child.exitCode === null && child.signalCode === null);
  };

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

  // In HA mode the apiservers share one serving certificate: the first one writes it, the others start after.
  const certDir = join(dir, 'certs');
  const apiserverArgsFor = (apiserver) => [
    `--etcd-servers=${members.map((member) => member.url).join(',')}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    `--secure-port=${apiserver.port}`,
    `--cert-dir=${certDir}`,
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
          `--audit-log-path=${apiserver.index === 0 ? auditPath : join(dir, `audit-${apiserver.index}.log`)}`,
          '--audit-log-mode=blocking',
        ]
      : []),
  ];
  const admin = users.find((user) => user.groups.includes('system:masters'));

  async function waitReady(apiserver, timeoutMs = 90_000) {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer yet';
    while (Date.now() < deadline) {
      if (!running(apiserver.name)) {
        throw new Error(`${apiserver.name} exited during startup; see ${join(dir, `${apiserver.name}.log`)}`);
      }
      try {
        const ready = await apiRequest(apiserver.url, admin.token, 'GET', '/readyz');
        if (ready.status === 200) {
          const ns = await apiRequest(apiserver.url, admin.token, 'GET', '/api/v1/namespaces/default');
          if (ns.status === 200) return;
          last = `namespace default: HTTP ${ns.status}`;
        } else last = `readyz: HTTP ${ready.status}`;
      } catch (error) {
        last = error.message;
      }
      await delay(250);
    }
    throw new Error(
      `${apiserver.name} not ready after ${timeoutMs}ms (${last}); see ${join(dir, `${apiserver.name}.log`)}`,
    );
  }

  const apiserverAt = (index) => {
    const apiserver = apiservers[index];
    if (!apiserver) throw new Error(`control plane: no apiserver ${index} (there are ${apiservers.length})`);
    return apiserver;
  };

  /** Starts apiserver `index` (default 0) on its port; resolves with the ms it took to be ready. */
  async function startApiserver(index = 0) {
    const apiserver = apiserverAt(index);
    const started = Date.now();
    launch(apiserver.name, binaries.kubeApiserver, apiserverArgsFor(apiserver));
    await waitReady(apiserver);
    return Date.now() - started;
  }

  const memberAt = (index) => {
    const member = members[index];
    if (!member) throw new Error(`control plane: no etcd member ${index} (there are ${members.length})`);
    return member;
  };

  /** Launches etcd member `index`; with existing data it rejoins its cluster (the initial-cluster flags are ignored then). */
  function launchMember(member) {
    launch(member.name, binaries.etcd, [
      `--name=${member.memberName}`,
      `--data-dir=${member.dataDir}`,
      `--listen-client-urls=${member.url}`,
      `--advertise-client-urls=${member.url}`,
      `--listen-peer-urls=${member.peerUrl}`,
      `--initial-advertise-peer-urls=${member.peerUrl}`,
      `--initial-cluster=${initialCluster}`,
      '--initial-cluster-state=new',
      '--initial-cluster-token=nle-test',
      '--unsafe-no-fsync',
      '--log-level=warn',
    ]);
  }

  /** `/v3/maintenance/status` of each running member: its id, the leader it sees, its raft term and index. */
  async function etcdStatus() {
    return Promise.all(
      members.map(async (member) => {
        if (!running(member.name)) return { index: member.index, url: member.url, running: false };
        try {
          const { status, json } = await etcdCall(member.url, '/v3/maintenance/status');
          if (status !== 200 || !json?.header) return { index: member.index, url: member.url, running: true };
          return {
            index: member.index,
            url: member.url,
            running: true,
            id: json.header.member_id,
            leaderId: json.leader && json.leader !== '0' ? json.leader : null,
            raftTerm: Number(json.raftTerm ?? 0),
            raftIndex: Number(json.raftIndex ?? 0),
          };
        } catch (error) {
          return { index: member.index, url: member.url, running: true, error: error.message };
        }
      }),
    );
  }

  /** The index of the member that leads the etcd cluster (agreed by the running members that answer), or null. */
  async function etcdLeader() {
    const statuses = await etcdStatus();
    const byId = new Map(statuses.filter((status) => status.id).map((status) => [status.id, status.index]));
    const seen = statuses.filter((status) => status.leaderId).map((status) => status.leaderId);
    const leaderId = seen.find((id) => byId.has(id));
    return leaderId === undefined ? null : byId.get(leaderId);
  }

  /** Waits until a quorum of members answers and agrees on a leader; resolves with its index. */
  async function waitEtcdHealthy(timeoutMs = 60_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const statuses = await etcdStatus();
      const answering = statuses.filter((status) => status.id);
      const leaders = new Set(answering.map((status) => status.leaderId).filter(Boolean));
      if (answering.length > members.length / 2 && leaders.size === 1) {
        const [leaderId] = leaders;
        const leader = answering.find((status) => status.id === leaderId);
        if (leader) return leader.index;
      }
      if (Date.now() >= deadline) throw new Error(`etcd: no healthy cluster after ${timeoutMs}ms; see ${dir}`);
      await delay(100);
    }
  }

  /** Starts etcd member `index` again (it rejoins with its data); resolves once it answers and sees a leader. */
  async function startEtcdMember(index) {
    const member = memberAt(index);
    launchMember(member);
    const deadline = Date.now() + 60_000;
    for (;;) {
      const status = (await etcdStatus())[index];
      if (status.leaderId) return;
      if (!running(member.name))
        throw new Error(`${member.name} exited on restart; see ${join(dir, `${member.name}.log`)}`);
      if (Date.now() >= deadline) throw new Error(`${member.name} did not rejoin within 60s`);
      await delay(100);
    }
  }

  /** The URL of an apiserver that is running (the first one if all are), for the harness's own requests. */
  const liveServer = () => (apiservers.find((apiserver) => running(apiserver.name)) ?? apiservers[0]).url;

  let stopped = false;
  async function stop() {
    if (stopped) return;
    stopped = true;
    process.off('exit', killAllSync);
    await Promise.all(apiservers.map((apiserver) => stopChild(apiserver.name)));
    await Promise.all(members.map((member) => stopChild(member.name)));
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
    for (const member of members) launchMember(member);
    if (ha) await waitEtcdHealthy();
    await startApiserver(0);
    // The others share the first one's certificate (written by now), token file and service-account key.
    await Promise.all(apiservers.slice(1).map((apiserver) => startApiserver(apiserver.index)));
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
  log(
    `ready at ${apiservers.map((apiserver) => apiserver.url).join(', ')}${ha ? ` over ${members.length} etcd members` : ''} in ${Date.now() - started}ms (binaries: ${binaries.source}; state: ${dir})`,
  );

  return {
    server,
    servers: apiservers.map((apiserver) => apiserver.url),
    ha: Boolean(ha),
    dir,
    etcdUrl,
    etcdUrls: members.map((member) => member.url),
    kubeconfigs,
    tokens,
    auditLogPath: options.auditLog ? auditPath : undefined,
    binaries,
    /** Stops only kube-apiserver `index` (default 0); etcd keeps the data. */
    stopApiserver: (signal = 'SIGTERM', index = 0) => stopChild(apiserverAt(index).name, signal),
    /** Starts kube-apiserver `index` (default 0) again on the same port; resolves with the ms until ready. */
    startApiserver,
    /** Whether kube-apiserver `index` is running (started and not exited). */
    apiserverRunning: (index = 0) => running(apiserverAt(index).name),
    /** Stops etcd member `index` (SIGTERM or SIGKILL); the others keep quorum when there are three. */
    stopEtcdMember: (index, signal = 'SIGKILL') => stopChild(memberAt(index).name, signal),
    startEtcdMember,
    etcdMemberRunning: (index) => running(memberAt(index).name),
    etcdStatus,
    etcdLeader,
    waitEtcdHealthy,
    /** Sends a raw request as `user` (default admin) to the first running apiserver. */
    request: (method, path, body, user = 'admin') => apiRequest(liveServer(), tokens[user], method, path, body),
    stop,
  };
}
