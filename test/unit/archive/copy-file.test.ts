import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, lstatSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync, writeSync, chmodSync, readSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { copyFileKeepingHoles, mayHaveHoles, sparseLoop } from '../../../src/archive/copy-file.js';

const GiB = 2 ** 30;

describe('copyFileKeepingHoles', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cake-copy-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** A 200 GiB file with no blocks but 5 bytes at 100 GiB. */
  function giant(): string {
    const p = join(dir, 'giant');
    writeFileSync(p, '');
    truncateSync(p, 200 * GiB);
    const fd = openSync(p, 'r+');
    writeSync(fd, 'hello', 100 * GiB);
    closeSync(fd);
    chmodSync(p, 0o640);
    return p;
  }

  function at(p: string, pos: number, n: number): string {
    const fd = openSync(p, 'r');
    const b = Buffer.alloc(n);
    const got = readSync(fd, b, 0, n, pos) as number;
    closeSync(fd);
    return b.subarray(0, got).toString();
  }

  it('copies a 200 GiB sparse file as a sparse file, data and mode kept', () => {
    const src = giant();
    const dst = join(dir, 'copy');
    copyFileKeepingHoles(src, dst);
    const st = statSync(dst);
    expect(st.size).toBe(200 * GiB);
    expect(st.blocks * 512).toBeLessThan(1 << 20);
    expect(st.mode & 0o7777).toBe(0o640);
    expect(at(dst, 100 * GiB, 5)).toBe('hello');
    expect(at(dst, 0, 4)).toBe('\0\0\0\0');
  });

  it("cake's own loop (no cp) keeps the holes too", () => {
    const src = join(dir, 'small');
    writeFileSync(src, '');
    truncateSync(src, 64 << 20);
    const fd = openSync(src, 'r+');
    writeSync(fd, 'tail', (64 << 20) - 4);
    writeSync(fd, 'head', 0);
    closeSync(fd);
    const dst = join(dir, 'copy');
    const from = openSync(src, 'r');
    const to = openSync(dst, 'w');
    sparseLoop(from, to, statSync(src).size);
    closeSync(from);
    closeSync(to);
    expect(readFileSync(dst).equals(readFileSync(src))).toBe(true);
    expect(mayHaveHoles(statSync(dst))).toBe(true);
    // the two chunks holding data (1 MiB each) are written, the 62 MiB between them are not
    expect(statSync(dst).blocks * 512).toBeLessThanOrEqual(2 << 20);
  });

  it('copies a plain file, refuses an existing destination and a symlink source', () => {
    const src = join(dir, 'plain');
    writeFileSync(src, 'data', { mode: 0o755 });
    const dst = join(dir, 'copy');
    copyFileKeepingHoles(src, dst);
    expect(readFileSync(dst, 'utf8')).toBe('data');
    expect(lstatSync(dst).mode & 0o777).toBe(0o755);
    expect(() => copyFileKeepingHoles(src, dst)).toThrow(/EEXIST/);
    symlinkSync(src, join(dir, 'link'));
    expect(() => copyFileKeepingHoles(join(dir, 'link'), join(dir, 'c2'))).toThrow(/ELOOP/);
  });
});

describe('copyFileKeepingHoles on guest-made objects', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cake-copy-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses a fifo at once (never blocks on it) and a directory, naming them', () => {
    execFileSync('mkfifo', [join(dir, 'fifo')]);
    const t0 = Date.now();
    expect(() => copyFileKeepingHoles(join(dir, 'fifo'), join(dir, 'c1'))).toThrow(/fifo: it is not a regular file/);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(() => copyFileKeepingHoles(dir, join(dir, 'c2'))).toThrow(/it is not a regular file/);
    expect(existsSync(join(dir, 'c1'))).toBe(false);
  });

  it('never writes through a symlink at the destination', () => {
    writeFileSync(join(dir, 'src'), 'new');
    writeFileSync(join(dir, 'victim'), 'host file');
    symlinkSync(join(dir, 'victim'), join(dir, 'dst'));
    expect(() => copyFileKeepingHoles(join(dir, 'src'), join(dir, 'dst'))).toThrow(/EEXIST/);
    expect(readFileSync(join(dir, 'victim'), 'utf8')).toBe('host file');
  });
});
