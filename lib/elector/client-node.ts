/** The `@kubernetes/client-node` module (ESM-only), as loaded by {@link loadClientNode}. */
export type ClientNode = typeof import('@kubernetes/client-node');

/**
 * Loads `@kubernetes/client-node` with `import()`, on the first request of a
 * Kubernetes lock, so that importing this package (from CommonJS too, or in a
 * test runner without ESM support) never loads it. Node caches the module.
 */
export async function loadClientNode(): Promise<ClientNode> {
  try {
    return await import('@kubernetes/client-node');
  } catch (error) {
    const code = (error as { code?: unknown })?.code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new Error(
        'nestjs-lease-election: @kubernetes/client-node is not installed; a Kubernetes Lease needs it. ' +
          'Install it (`npm install @kubernetes/client-node`), or use `standalone: true` outside Kubernetes.',
        { cause: error },
      );
    }
    throw error;
  }
}
