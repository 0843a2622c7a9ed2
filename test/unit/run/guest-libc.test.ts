import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { glibcMismatch, glibcVersions, hasGlibc, libcCandidates } from '../../../src/run/guest-libc.js';

const dirs: string[] = [];
function tree(files: Record<string, string | { link: string }>): string {
  const root = mkdtempSync(join(tmpdir(), 'cake-libc-'));
  dirs.push(root);
  for (const [p, v] of Object.entries(files)) {
    mkdirSync(join(root, p, '..'), { recursive: true });
    if (typeof v === 'string') writeFileSync(join(root, p), v);
    else symlinkSync(v.link, join(root, p));
  }
  return root;
}
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** The version strings a glibc's dynamic string table holds, NUL-terminated like in the ELF. */
const libc = (...versions: string[]): string => `\x7fELF GNU C Library (Debian GLIBC)\0${versions.map((v) => `GLIBC_${v}\0`).join('')}GLIBC_PRIVATE\0`;

describe('guest glibc check', () => {
  it('reads the GLIBC_ versions an object names, sorted by number', () => {
    expect(glibcVersions(Buffer.from(libc('2.2.5', '2.34', '2.4', '2.14')))).toEqual(['GLIBC_2.2.5', 'GLIBC_2.4', 'GLIBC_2.14', 'GLIBC_2.34']);
  });

  it('accepts a guest whose libc provides every needed version, through guest symlinks (merged /usr)', async () => {
    const t = libcCandidates('x86_64')[1]!;
    const root = tree({ [t]: libc('2.2.5', '2.34', '2.36'), lib: { link: 'usr/lib' } });
    expect(await glibcMismatch(root, ['GLIBC_2.2.5', 'GLIBC_2.34'])).toBeUndefined();
    expect(await hasGlibc(root)).toBe(true);
  });

  it('says which version is missing when the guest glibc is too old', async () => {
    const root = tree({ 'lib64/libc.so.6': libc('2.2.5', '2.30', '2.31') });
    expect(await glibcMismatch(root, ['GLIBC_2.2.5', 'GLIBC_2.34'])).toEqual({ why: "the env's glibc (2.31) is older than the 2.34 the fakeroot kit needs", glibc: true });
  });

  it('finds no glibc in a musl or static guest, and never follows a symlink out to the host', async () => {
    expect(await glibcMismatch(tree({ 'lib/ld-musl-x86_64.so.1': 'musl' }), [])).toMatchObject({ glibc: false });
    expect(await hasGlibc(tree({ 'usr/lib/libc.so.6': { link: '/../../../../../lib/x86_64-linux-gnu/libc.so.6' } }))).toBe(false);
    expect(await glibcMismatch(tree({ 'lib/libc.so.6': 'not an elf' }), [])).toEqual({ why: "the env's /lib/libc.so.6 is not glibc", glibc: false });
  });
});
