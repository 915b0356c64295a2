import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CONSUMERS,
  describeResult,
  nodeBinary,
  packLibrary,
  readmeCompatibilityTable,
  renderCompatibilityTable,
  runConsumer,
} from '../consumers/run.mjs';
import { sharedControlPlane } from '../support/cluster.js';

// Each consumer installs the packed tarball and its own dependencies from the
// npm registry into a folder outside the repo (persistent npm cache, so a warm
// run takes seconds; a cold one downloads everything, Nodes 22 and 24
// included). An app runs against the shared kube-apiserver; a test project
// (without @kubernetes/client-node) runs its own `npm test` with
// nestjs-lease-election/testing and `tsc`. See test/consumers/run.mjs.
const CONSUMER_TIMEOUT = 5 * 60_000;
const log = (message: string) => process.stderr.write(`[consumers] ${message}\n`);

describe('consumers: the packed package in apps outside the repo', () => {
  let packDir: string;
  let tarball: string;

  beforeAll(async () => {
    packDir = mkdtempSync(join(tmpdir(), 'nle-consumers-pack-'));
    tarball = await packLibrary(packDir);
  }, 60_000);
  afterAll(() => rmSync(packDir, { recursive: true, force: true }));

  it('the README compatibility table is exactly the consumer matrix', () => {
    expect(readmeCompatibilityTable()).toBe(renderCompatibilityTable());
    expect(CONSUMERS.map((consumer) => consumer.name)).toEqual([
      'nest12-esm-node20',
      'nest12-esm-node22',
      'nest12-esm-node24',
      'nest11-cjs-node20',
      'nest12-vitest-node20',
      'nest11-starter-node20',
    ]);
  });

  const matrix = CONSUMERS.map((consumer, index) => [consumer.name, consumer, index] as const);

  it.each(matrix.filter(([, consumer]) => consumer.kind === 'app'))(
    '%s acquires the Lease, runs its @OnlyWhenLeader @Interval job as leader and releases on close',
    async (_name, consumer, index) => {
      await nodeBinary(consumer.node, log); // a first run installs Node from the registry; not part of the app's time
      const result = await runConsumer(consumer, {
        tarball,
        plane: sharedControlPlane(),
        user: `candidate-${index}`,
        log,
      });
      log(describeResult(result));
      expect(result.runs).toBeGreaterThanOrEqual(3);
      expect(result.versions.node.startsWith(`v${consumer.node}.`)).toBe(true);
    },
    CONSUMER_TIMEOUT,
  );

  it.each(matrix.filter(([, consumer]) => consumer.kind === 'test'))(
    '%s, without @kubernetes/client-node, passes its own npm test with nestjs-lease-election/testing and compiles',
    async (_name, consumer) => {
      await nodeBinary(consumer.node, log);
      const result = await runConsumer(consumer, { tarball, plane: sharedControlPlane(), user: 'unused', log });
      log(describeResult(result));
      expect(result.versions.clientNode).toBeNull();
      expect(result.tests).toBeGreaterThan(0);
      expect(result.versions.node.startsWith(`v${consumer.node}.`)).toBe(true);
    },
    CONSUMER_TIMEOUT,
  );
});
