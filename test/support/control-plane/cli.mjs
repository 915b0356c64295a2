// `npm run control-plane`: starts etcd + kube-apiserver, prints how to reach
// them, and waits for Ctrl-C.
import { startControlPlane } from './control-plane.mjs';

const plane = await startControlPlane({ keep: process.argv.includes('--keep') });
console.log(`
kube-apiserver: ${plane.server}
state folder:   ${plane.dir}
kubeconfigs:
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
