import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

// The bake stages are typed (src/bake/bake-context.ts): each takes the previous stage's result.
// This compiles small programs against the real stage modules and checks that the pipeline's order
// type-checks while a swapped order does not.
const BAKE = resolve(import.meta.dirname, '../../../src/bake');
const config = ts.parseJsonConfigFileContent(JSON.parse(readFileSync(resolve(BAKE, '../../tsconfig.json'), 'utf8')) as unknown, ts.sys, resolve(BAKE, '../..'));

/** Type errors of `body`, compiled as if it were a module in src/bake/. */
function typeErrors(body: string): string[] {
  const file = join(BAKE, '__stage-order-check.ts');
  const text = `import type { BakeStart } from './bake-context.js';
import { stageEnv, stageKernel, stagePackages } from './env-stages.js';
import { stageInitramfs, stageTree } from './tree-stages.js';
import { stageBoot, stageFilesystem, stageImage } from './image-stages.js';
export async function check(start: BakeStart): Promise<unknown> {
${body}
}
`;
  const host = ts.createCompilerHost(config.options);
  const read = host.getSourceFile.bind(host);
  host.getSourceFile = (name, lang, ...rest) => (name === file ? ts.createSourceFile(name, text, lang) : read(name, lang, ...rest));
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === file || fileExists(name);
  const program = ts.createProgram([file], { ...config.options, noEmit: true }, host);
  return ts
    .getPreEmitDiagnostics(program, program.getSourceFile(file))
    .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

describe('bake stages are typed', () => {
  it('the pipeline order compiles', () => {
    expect(
      typeErrors(`  const a = await stageEnv(start);
  const b = await stagePackages(a);
  const c = await stageKernel(b);
  const d = await stageTree(c);
  const e = await stageInitramfs(d);
  const f = await stageFilesystem(e);
  const g = await stageBoot(f);
  return stageImage(g);`),
    ).toEqual([]);
  }, 60_000);

  it('swapping two stages does not compile', () => {
    const errors = typeErrors(`  const a = await stageEnv(start);
  const b = await stagePackages(a);
  const c = await stageTree(b);
  const d = await stageKernel(c);
  return stageInitramfs(d);`);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.join('\n')).toMatch(/kernel/);
  }, 60_000);

  it('a stage cannot skip the one before it', () => {
    const errors = typeErrors(`  const a = await stageEnv(start);
  const b = await stagePackages(a);
  const c = await stageKernel(b);
  const d = await stageTree(c);
  return stageFilesystem(d);`);
    expect(errors.join('\n')).toMatch(/initrd/);
  }, 60_000);
});
