import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { GROUPS_SHIM, groupsShimElf, prepareGroupsShim } from '../../../src/run/groups-shim.js';
import { userGroups } from '../../../src/run/guest-user.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('userGroups', () => {
  it('gives the primary gid first, then each group naming the user, once, in file order', () => {
    const text = 'root:x:0:\nsudo:x:27:alice,bob\nbob:x:1000:\nusers:x:100: bob \nbad:x:notanumber:bob\ntwice:x:27:bob\nstaff:x:50:bobby\n';
    expect(userGroups('bob', 1000, text)).toEqual([1000, 27, 100]);
    expect(userGroups('carol', 1001, text)).toEqual([1001]);
  });
});

describe('groupsShimElf', () => {
  it('has machine code for x86_64 only', () => {
    expect(groupsShimElf('arm64', [1])).toBeUndefined();
    expect(groupsShimElf('x64', [])).toBeUndefined();
    const elf = groupsShimElf('x64', [1000, 27])!;
    expect(elf.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
  });

  it.runIf(process.arch === 'x64')('answers getgroups for a program that preloads it (the host\'s own id)', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'cake-groups-'));
    dirs.push(cache);
    const dir = (await prepareGroupsShim(cache, [4242, 27, 100]))!;
    expect(await prepareGroupsShim(cache, [4242, 27, 100])).toBe(dir);
    expect(readFileSync(join(dir, GROUPS_SHIM)).equals(groupsShimElf('x64', [4242, 27, 100])!)).toBe(true);
    const out = execFileSync('id', ['-G'], { env: { PATH: '/usr/bin:/bin', LD_PRELOAD: join(dir, GROUPS_SHIM) }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(out.trim()).toMatch(/^\d+ 4242 27 100$/); // id -G: the effective gid, then getgroups
  });
});
