import { KubeConfig } from '@kubernetes/client-node';
import { apiRequest, type RawJson } from './control-plane/control-plane.mjs';

/** Connection facts of the control plane started by jest's globalSetup. */
export interface SharedControlPlane {
  server: string;
  kubeconfigs: Record<string, string>;
  tokens: Record<string, string>;
  dir: string;
}

/** The shared control plane; throws (never skips) when globalSetup did not provide one. */
export function sharedControlPlane(): SharedControlPlane {
  const raw = process.env.NLE_CONTROL_PLANE;
  if (!raw) {
    throw new Error(
      'NLE_CONTROL_PLANE is not set: integration tests must run through `npm test` or ' +
        '`npm run test:integration`, whose globalSetup starts a real kube-apiserver.',
    );
  }
  return JSON.parse(raw) as SharedControlPlane;
}

/** A client-node KubeConfig for one of the control plane's users. */
export function kubeConfigFor(
  user = 'admin',
  plane: { kubeconfigs: Record<string, string> } = sharedControlPlane(),
): KubeConfig {
  const path = plane.kubeconfigs[user];
  if (!path) throw new Error(`no kubeconfig for user ${user}`);
  const config = new KubeConfig();
  config.loadFromFile(path);
  return config;
}

/** Raw API call as the admin (or another user), bypassing the library under test. */
export function rawRequest(
  method: string,
  path: string,
  body?: unknown,
  user = 'admin',
  plane: { server: string; tokens: Record<string, string> } = sharedControlPlane(),
): Promise<{ status: number; text: string; json: RawJson }> {
  return apiRequest(plane.server, plane.tokens[user], method, path, body);
}

/** Path of a Lease in the REST API. */
export function leasePath(name: string, namespace = 'default'): string {
  return `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${name}`;
}

let counter = 0;
/** A Lease name unique within this run, so tests never share election state. */
export function uniqueLeaseName(prefix: string): string {
  counter++;
  return `${prefix}-${process.pid}-${counter}-${Math.random().toString(36).slice(2, 7)}`;
}

/** Polls `condition` until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor<T>(
  condition: () => T | Promise<T>,
  timeoutMs: number,
  what: string,
  stepMs = 20,
): Promise<Exclude<T, null | undefined | false | 0 | ''>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value) return value as Exclude<T, null | undefined | false | 0 | ''>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, stepMs));
  }
}
