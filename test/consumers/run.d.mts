/** One consumer app of the matrix: folder test/consumers/<name>/ with package.json and `entry`. */
export interface Consumer {
  name: string;
  /** Node major the app runs on. */
  node: number;
  entry: string;
}

export interface ConsumerResult {
  name: string;
  installMs: number;
  runMs: number;
  versions: { node: string; nest: string; clientNode: string };
  identity: string;
  runs: number;
  lease: string;
}

export interface ConsumerPlane {
  server: string;
  kubeconfigs: Record<string, string>;
  tokens: Record<string, string>;
}

export const CONSUMERS: Consumer[];
export function consumerManifest(consumer: Consumer): { type?: string; dependencies: Record<string, string> };
export function compatibilityRow(consumer: Consumer): {
  node: string;
  nest: string;
  clientNode: string;
  modules: string;
  optional: string;
};
export function renderCompatibilityTable(consumers?: Consumer[]): string;
export function readmeCompatibilityTable(readme?: string): string | null;
export function npmCache(): string;
export function nodeBinary(major: number, log?: (message: string) => void): Promise<string>;
export function packLibrary(destination: string): Promise<string>;
export function runConsumer(
  consumer: Consumer,
  options: { tarball: string; plane: ConsumerPlane; user: string; keep?: boolean; log?: (message: string) => void },
): Promise<ConsumerResult>;
export function runConsumers(options: {
  plane: ConsumerPlane;
  consumers?: Consumer[];
  keep?: boolean;
  log?: (message: string) => void;
}): Promise<ConsumerResult[]>;
export function describeResult(result: ConsumerResult): string;
