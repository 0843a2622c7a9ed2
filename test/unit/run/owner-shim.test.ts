import { execFileSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { OWNER_SHIM, ownerShimElf, prepareOwnerShim } from '../../../src/run/owner-shim.js';
import { Asm, shimElf } from '../../../src/run/shim-elf.js';
import { skipUnless } from '../../helpers/tools.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/**
 * What libfakeroot answers after `setuid(4242)`: geteuid and getegid of 4242/4343, as a second
 * generated object (preloaded after the owner shim, so the shim's imports find it first).
 */
function fakeIds(uid: number, gid: number): Buffer {
  return shimElf({
    exports: ['geteuid', 'getegid'],
    imports: [],
    dataSize: 0,
    build(at) {
      const a = new Asm(at.code);
      a.b(0xb8).imm32(uid).b(0xc3); // mov eax, uid; ret
      const egid = a.offset;
      a.b(0xb8).imm32(gid).b(0xc3);
      return { data: Buffer.alloc(0), code: a.done(), entries: new Map([['geteuid', 0], ['getegid', egid]]) };
    },
  });
}

describe('ownerShimElf', () => {
  it('has machine code for x86_64 only', () => {
    expect(ownerShimElf('arm64')).toBeUndefined();
    expect(ownerShimElf('x64')!.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
  });

  it.runIf(process.arch === 'x64')('chowns what a program creates to the euid/egid it is given, and leaves what existed alone', async (ctx) => {
    // the real chown to another uid needs root (CI runs as root)
    skipUnless(ctx, 'root, to chown to another uid', process.getuid?.() === 0);
    const cache = mkdtempSync(join(tmpdir(), 'cake-owner-'));
    dirs.push(cache);
    const dir = (await prepareOwnerShim(cache))!;
    expect(await prepareOwnerShim(cache)).toBe(dir);
    expect(readFileSync(join(dir, OWNER_SHIM)).equals(ownerShimElf('x64')!)).toBe(true);
    writeFileSync(join(cache, 'ids.so'), fakeIds(4242, 4343));
    const t = join(cache, 't');
    execFileSync('mkdir', [t]);
    writeFileSync(join(t, 'old'), 'x');
    chmodSync(join(t, 'old'), 0o666);
    const script = [
      'touch new', // openat(O_CREAT)
      'echo more >> old', // O_CREAT of an existing file
      'mkdir d',
      'ln -s nowhere l', // symlinkat: the link itself
      'mkfifo p',
      'mktemp tmp.XXXXXX >/dev/null',
      'cat new > /dev/null', // no O_CREAT
    ].join(' && ');
    execFileSync('sh', ['-c', script], { cwd: t, env: { PATH: '/usr/bin:/bin', LD_PRELOAD: `${join(dir, OWNER_SHIM)}:${join(cache, 'ids.so')}` }, stdio: 'pipe' });
    const owner = (p: string): string => {
      const st = lstatSync(join(t, p));
      return `${st.uid}:${st.gid}`;
    };
    for (const p of ['new', 'd', 'l', 'p']) expect(owner(p), p).toBe('4242:4343');
    const tmp = execFileSync('sh', ['-c', 'ls tmp.*'], { cwd: t, encoding: 'utf8' }).trim();
    expect(owner(tmp)).toBe('4242:4343');
    expect(owner('old')).toBe('0:0');
    expect(readFileSync(join(t, 'old'), 'utf8')).toBe('xmore\n');
    // and for root (ids 0:0) nothing is chowned: the program runs as without the shim
    writeFileSync(join(cache, 'root.so'), fakeIds(0, 0));
    execFileSync('sh', ['-c', 'touch r && mkdir rd'], { cwd: t, env: { PATH: '/usr/bin:/bin', LD_PRELOAD: `${join(dir, OWNER_SHIM)}:${join(cache, 'root.so')}` } });
    expect([owner('r'), owner('rd')]).toEqual(['0:0', '0:0']);
  });
});
