import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { applyPlan } from '../../../src/cook/add-apply.js';
import { planFromTree } from '../../../src/cook/add-plan.js';
import type { OwnershipTable } from '../../../src/model/ownership.js';
import { buildElf, type ElfSpec } from './elf-fixture.js';

const base = mkdtempSync(join(tmpdir(), 'cake-addplan-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

function tree(name: string, files: Record<string, ElfSpec | string>, links: Record<string, string> = {}): string {
  const root = join(base, name);
  for (const [p, spec] of Object.entries(files)) {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), typeof spec === 'string' ? spec : buildElf(spec));
    chmodSync(join(root, p), 0o755);
  }
  for (const [p, target] of Object.entries(links)) {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    symlinkSync(target, join(root, p));
  }
  return root;
}

describe('add plans', () => {
  const src = tree(
    'src',
    {
      'usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2': { soname: 'ld-linux-x86-64.so.2', needed: [], payload: 'usage: --argv0 STRING' },
      'usr/lib/x86_64-linux-gnu/libc.so.6': { soname: 'libc.so.6', needed: ['ld-linux-x86-64.so.2'] },
      'usr/lib/x86_64-linux-gnu/libz.so.1.3': { soname: 'libz.so.1', needed: ['libc.so.6'] },
      'usr/bin/tool': { interp: '/lib64/ld-linux-x86-64.so.2', needed: ['libz.so.1', 'libc.so.6'] },
      'usr/bin/static': { type: 2 },
      'usr/bin/script': '#!/bin/sh\necho hi\n',
      'usr/bin/arm': { interp: '/lib/ld-linux-aarch64.so.1', needed: ['libc.so.6'], machine: 183 },
      'usr/bin/broken': { interp: '/lib64/ld-linux-x86-64.so.2', needed: ['libnope.so.3'] },
    },
    {
      lib64: 'usr/lib64',
      'usr/lib64/ld-linux-x86-64.so.2': '../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2',
      'usr/lib/x86_64-linux-gnu/libz.so.1': 'libz.so.1.3',
      bin: 'usr/bin',
    },
  );

  it('puts a dynamic program under /opt/cake/SOURCE with its loader and libraries, behind a wrapper', async () => {
    const plan = await planFromTree({ label: 'deb', root: src }, '/bin/tool', 'x86_64');
    expect(plan.items.map((i) => [i.kind, i.dest])).toEqual([
      ['file', '/opt/cake/deb/lib/libz.so.1'],
      ['file', '/opt/cake/deb/lib/libc.so.6'],
      ['file', '/opt/cake/deb/lib/ld-linux-x86-64.so.2'],
      ['file', '/opt/cake/deb/usr/bin/tool'],
      ['text', '/bin/tool'],
    ]);
    const wrapper = plan.items.at(-1)!;
    expect(wrapper.kind === 'text' && wrapper.content).toBe(
      "#!/bin/sh\n# Added by cake from deb:/bin/tool: runs it with its own loader and libraries (/opt/cake/deb).\nexec '/opt/cake/deb/lib/ld-linux-x86-64.so.2' --library-path '/opt/cake/deb/lib' --argv0 \"$0\" '/opt/cake/deb/usr/bin/tool' \"$@\"\n",
    );
    expect(plan.needsShell).toBe(true);

    const target = tree('target', { 'bin/sh': { type: 2 } });
    const table: OwnershipTable = {};
    await applyPlan(target, table, plan, 'target');
    expect(readFileSync(join(target, 'bin/tool'), 'utf8')).toBe(wrapper.kind === 'text' ? wrapper.content : '');
    expect(lstatSync(join(target, 'opt/cake/deb/lib/libz.so.1')).isFile()).toBe(true);
    expect(lstatSync(join(target, 'bin/sh')).size).toBeGreaterThan(0);

    // a wrapper taken from an env where cake added it brings the real program, placed by its origin
    const again = await planFromTree({ label: 'target', root: target }, '/bin/tool', 'x86_64');
    expect(again.items.map((i) => i.dest)).toEqual([
      '/opt/cake/target/lib/libz.so.1',
      '/opt/cake/target/lib/libc.so.6',
      '/opt/cake/target/lib/ld-linux-x86-64.so.2',
      '/opt/cake/target/usr/bin/tool',
      '/bin/tool',
    ]);
  });

  it('copies static programs and scripts as they are; refuses foreign machines and missing libraries', async () => {
    expect((await planFromTree({ label: 'deb', root: src }, '/usr/bin/static', 'x86_64')).items.map((i) => [i.kind, i.dest])).toEqual([['file', '/usr/bin/static']]);
    const script = await planFromTree({ label: 'deb', root: src }, '/usr/bin/script', 'x86_64');
    expect(script.items).toMatchObject([{ kind: 'file', dest: '/usr/bin/script', mode: 0o755 }]);
    await expect(planFromTree({ label: 'deb', root: src }, '/usr/bin/arm', 'x86_64')).rejects.toThrow('deb:/usr/bin/arm is a program for aarch64, and the env is x86_64');
    await expect(planFromTree({ label: 'deb', root: src }, '/usr/bin/broken', 'x86_64')).rejects.toThrow('deb:/usr/bin/broken needs libraries that deb does not have: libnope.so.3 (for /usr/bin/broken)');
    await expect(planFromTree({ label: 'deb', root: src }, '/usr/bin/none', 'x86_64')).rejects.toThrow('deb:/usr/bin/none does not exist');
  });

  it('needs /bin/sh in the target for wrappers', async () => {
    const plan = await planFromTree({ label: 'deb', root: src }, '/usr/bin/tool', 'x86_64');
    const empty = tree('empty', { 'etc/x': 'x' });
    await expect(applyPlan(empty, {}, plan, 'empty')).rejects.toThrow('env empty has no /bin/sh to run the wrapper of a dynamic program');
  });
});
