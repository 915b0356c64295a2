// Starts the shared control plane for the integration project. Fails the run
// (never skips) when it cannot be had.
import { startControlPlane } from './control-plane.mjs';

export default async function globalSetup() {
  let plane;
  try {
    plane = await startControlPlane();
  } catch (error) {
    throw new Error(
      `Integration tests need a real kube-apiserver and etcd and could not start them:\n${error.message}\n` +
        'See README.md, "Tests and the local control plane".',
      { cause: error },
    );
  }
  globalThis.__NLE_CONTROL_PLANE__ = plane;
  process.env.NLE_CONTROL_PLANE = JSON.stringify({
    server: plane.server,
    kubeconfigs: plane.kubeconfigs,
    tokens: plane.tokens,
    dir: plane.dir,
  });
}
