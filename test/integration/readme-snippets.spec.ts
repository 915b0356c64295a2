import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** Every ```ts block of the README, named by its `// file:` comment or by position. */
export function readmeSnippets(markdown: string): { file: string; code: string }[] {
  return [...markdown.matchAll(/```ts\n([\s\S]*?)```/g)].map((match, index) => {
    const code = match[1];
    const named = /^\/\/ file: (\S+\.ts)\n/.exec(code);
    return { file: named ? named[1] : `snippet-${index}.ts`, code };
  });
}

describe('README', () => {
  it('every TypeScript snippet compiles against the built package', () => {
    const snippets = readmeSnippets(readFileSync(`${root}README.md`, 'utf8'));
    expect(snippets.length).toBeGreaterThanOrEqual(8);
    // Inside the package, so `nestjs-lease-election` resolves to this package's own exports (dist/).
    const dir = `${root}test/.readme-snippets/`;
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    for (const { file, code } of snippets) writeFileSync(`${dir}${file}`, code);
    writeFileSync(
      `${dir}tsconfig.json`,
      JSON.stringify({
        extends: '../../tsconfig.json',
        compilerOptions: { rootDir: '.', noEmit: true, noUnusedLocals: false },
        include: ['*.ts'],
      }),
    );
    const result = spawnSync(
      process.execPath,
      [`${root}node_modules/typescript/bin/tsc`, '-p', `${dir}tsconfig.json`],
      {
        encoding: 'utf8',
      },
    );
    const diagnostics = `${result.stdout}${result.stderr}`;
    expect(diagnostics).toBe('');
    expect(result.status).toBe(0);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);
});
