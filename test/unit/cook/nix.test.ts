import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isStorePath, scanClosure, storePathRoot } from '../../../src/cook/nix.js';

const H = (c: string) => c.repeat(32);

describe('Nix store paths', () => {
  const store = mkdtempSync(join(tmpdir(), 'cake-nixstore-'));
  afterAll(() => rmSync(store, { recursive: true, force: true }));
  const make = (hash: string, name: string, files: Record<string, string>, links: Record<string, string> = {}): string => {
    const p = join(store, `${hash}-${name}`);
    for (const [rel, text] of Object.entries(files)) {
      mkdirSync(join(p, rel, '..'), { recursive: true });
      writeFileSync(join(p, rel), text);
    }
    for (const [rel, target] of Object.entries(links)) {
      mkdirSync(join(p, rel, '..'), { recursive: true });
      symlinkSync(target, join(p, rel));
    }
    return p;
  };

  it('knows store paths and their roots', () => {
    expect(storePathRoot(`/nix/store/${H('a')}-hello-2.12/bin/hello`)).toBe(`/nix/store/${H('a')}-hello-2.12`);
    expect(isStorePath(`/nix/store/${H('a')}-hello`)).toBe(true);
    expect(isStorePath('nixpkgs#hello')).toBe(false);
    expect(isStorePath(`/nix/store/${H('e')}-x`)).toBe(false); // 'e' is not in Nix's base32
    expect(storePathRoot(`${store}/${H('b')}-x/y`, store)).toBe(`${store}/${H('b')}-x`);
  });

  it('finds references by scanning files and symlinks, across chunk boundaries, only to paths that exist', () => {
    const libc = make(H('c'), 'glibc-2.39', { 'lib/libc.so.6': 'ELF...' });
    const dep = make(H('d'), 'dep-1', { 'lib/libdep.so': `rpath ${libc}/lib\0` });
    const big = 'x'.repeat((1 << 20) - 10);
    const app = make(
      H('f'),
      'app-1',
      { 'bin/app': `${big}${dep}/lib\0 and ${store}/${H('z')}-not-there`, 'share/doc': 'none' },
      { 'lib/link': `${libc}/lib/libc.so.6` },
    );
    make(H('g'), 'unrelated', { x: 'y' });
    expect(scanClosure([app], store)).toEqual([libc, dep, app].sort());
    expect(scanClosure([dep], store)).toEqual([libc, dep].sort());
  });
});
