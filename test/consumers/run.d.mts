/** One consumer of the matrix: folder test/consumers/<name>/ with package.json and the project's files. */
export interface Consumer {
  name: string;
  /** `app`: runs `entry` against the apiserver; `test`: runs `npm test` and `tsc`, without client-node. */
  kind: 'app' | 'test';
  /** Node major the consumer runs on. */
  node: number;
  /** The app's entry (kind `app`). */
  entry?: string;
  /** A TypeScript version the project must compile with too (kind `test`), and what sets that floor. */
  typescriptFloor?: string;
  floorReason?: string;
  /** A TypeScript version just below the floor, and the error it must fail with there. */
  belowFloor?: { typescript: string; error: string };
}

export interface ConsumerResult {
  name: string;
  kind: 'app' | 'test';
  installMs: number;
  runMs: number;
  versions: {
    node: string;
    nest: string;
    clientNode: string | null;
    runner?: string;
    typescript?: string;
    typescriptFloor?: string;
    belowFloor?: string;
  };
  /** kind `app` */
  identity?: string;
  runs?: number;
  lease?: string;
  /** kind `test`: how many tests passed */
  tests?: number;
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
  typescript: string;
  runs: string;
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
