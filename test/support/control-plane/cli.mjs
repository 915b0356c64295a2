// `npm run control-plane [-- --ha [--apiservers N] [--etcd-members N]] [--keep]`: starts etcd + kube-apiserver
// (with --ha: an etcd cluster and several apiservers sharing it), prints how to reach them, and waits for Ctrl-C.
import { parseArgs } from 'node:util';
import { startControlPlane } from './control-plane.mjs';

const { values: flags } = parseArgs({
  options: {
    keep: { type: 'boolean', default: false },
    ha: { type: 'boolean', default: false },
    apiservers: { type: 'string', default: '2' },
    'etcd-members': { type: 'string', default: '3' },
  },
});
const plane = await startControlPlane({
  keep: flags.keep,
  ha: flags.ha ? { apiservers: Number(flags.apiservers), etcdMembers: Number(flags['etcd-members']) } : false,
});
const leader = plane.ha ? await plane.etcdLeader() : null;
console.log(`
kube-apiserver${plane.servers.length > 1 ? 's' : ''}: ${plane.servers.join('  ')}
etcd:            ${plane.etcdUrls.join('  ')}${leader !== null ? `  (leader: ${plane.etcdUrls[leader]})` : ''}
state folder:    ${plane.dir}
kubeconfigs (they name the first apiserver):
${Object.entries(plane.kubeconfigs)
  .map(([user, path]) => `  ${user.padEnd(12)} ${path}`)
  .join('\n')}

Try: KUBECONFIG=${plane.kubeconfigs.admin} kubectl get leases -A
Press Ctrl-C to stop.`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    console.log('\nstopping control plane...');
    await plane.stop();
    process.exit(0);
  });
}
setInterval(() => undefined, 1 << 30);
