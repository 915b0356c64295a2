import type { ConfigurationOptions } from '@kubernetes/client-node';

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

/**
 * Per-call options for client-node's generated APIs that abort the request
 * with `signal`. The APIs take "observable" middleware: objects whose
 * `toPromise()` yields the request context.
 */
export function requestOptions(signal: AbortSignal, headers: Record<string, string> = {}): ConfigurationOptions {
  const resolved = <T>(value: T) => ({ toPromise: () => Promise.resolve(value) });
  return {
    middleware: [
      {
        pre: (context: { setSignal(signal: AbortSignal): void; setHeaderParam(key: string, value: string): void }) => {
          context.setSignal(signal);
          for (const [key, value] of Object.entries(headers)) context.setHeaderParam(key, value);
          return resolved(context);
        },
        post: <T>(context: T) => resolved(context),
      },
    ],
    middlewareMergeStrategy: 'append',
  } as unknown as ConfigurationOptions;
}

/** The `message` of a Kubernetes Status in an API error's body, if there is one. */
export function statusMessage(body: unknown): string | undefined {
  let parsed = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      return body.trim() || undefined;
    }
  }
  if (parsed && typeof parsed === 'object' && typeof (parsed as { message?: unknown }).message === 'string') {
    return (parsed as { message: string }).message;
  }
  return undefined;
}
