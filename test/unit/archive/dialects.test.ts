/**
 * Real-world tar dialects, written at test time by the host's GNU tar (a writer we did not write):
 * GNU and PAX long names, unicode and non-UTF-8 names, sparse files in every GNU format, hard
 * links, read-only directories, setuid/setgid, fifos, owners; device nodes built by hand.
 */
import { closeSync, existsSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, symlinkSync, linkSync, writeFileSync, writeSync, ftruncateSync, chmodSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { extractTar } from '../../../src/archive/extract.js';
import { removeTree } from '../../../src/archive/remove-tree.js';
import { asUnprivileged, entry, gnuTar, sandbox, snapshot, tar, type Sandbox } from '../../helpers/tar-build.js';

const boxes: Sandbox[] = [];
afterEach(() => {
  while (boxes.length) boxes.pop()!.cleanup();
});
function box(): Sandbox {
  const b = sandbox();
  boxes.push(b);
  return b;
}

/** A sandbox whose outside/ holds a source tree made by `make`, archived by GNU tar with `args`. */
function archived(make: (src: string) => void, args: string[]): { b: Sandbox; src: string; data: Buffer } {
  const b = box();
  const src = join(b.parent, 'src');
  mkdirSync(src);
  make(src);
  const data = gnuTar(['-c', '-f', '-', ...args, '-C', src, '.']);
  return { b, src, data };
}

const LONG_DIR = 'a-rather-long-directory-name-0123456789/'.repeat(4);
const LONG_FILE = 'and-a-file-name-that-is-also-rather-long-0123456789-0123456789.txt';

function richTree(src: string): void {
  mkdirSync(join(src, LONG_DIR), { recursive: true });
  writeFileSync(join(src, LONG_DIR, LONG_FILE), 'long\n');
  linkSync(join(src, LONG_DIR, LONG_FILE), join(src, 'hardlink-to-long'));
  symlinkSync(LONG_DIR + LONG_FILE, join(src, 'symlink-with-long-target'));
  writeFileSync(join(src, 'plain'), 'plain\n');
  linkSync(join(src, 'plain'), join(src, 'plain-link'));
}

describe('GNU tar dialects', () => {
  it.each([['gnu'], ['pax']])('--format=%s: long names, long link targets and hard links', async (format) => {
    const { b, src, data } = archived(richTree, [`--format=${format}`]);
    const stats = await b.extract(data);
    expect(snapshot(b.root)).toEqual(snapshot(src));
    expect(stats.hardlinks).toBe(2);
    expect(lstatSync(join(b.root, 'plain-link')).ino).toBe(lstatSync(join(b.root, 'plain')).ino);
  });

  it('--format=pax with unicode, long and non-UTF-8 names (exact bytes)', async () => {
    const latin1 = Buffer.from([0x63, 0x61, 0x66, 0xe9]); // "café" in latin1: not UTF-8
    const other = Buffer.from([0x63, 0x61, 0x66, 0xe8]);
    const { b, src, data } = archived((s) => {
      mkdirSync(join(s, 'ünïcödé-日本語'));
      writeFileSync(join(s, 'ünïcödé-日本語', 'ファイル-' + 'x'.repeat(200)), 'u');
      writeFileSync(Buffer.concat([Buffer.from(s + '/'), latin1]), 'latin1');
      writeFileSync(Buffer.concat([Buffer.from(s + '/'), other]), 'other');
    }, ['--format=pax']);
    await b.extract(data);
    expect(snapshot(b.root)).toEqual(snapshot(src));
    const names = readdirSync(b.root, { encoding: 'buffer' }).map((n) => n.toString('hex')).sort();
    expect(names).toContain(latin1.toString('hex'));
    expect(names).toContain(other.toString('hex'));
    expect(readFileSync(Buffer.concat([Buffer.from(b.root + '/'), latin1]), 'utf8')).toBe('latin1');
    expect(b.ownership).toEqual({});
  });

  it('--format=gnu with a non-UTF-8 name in a GNU long name', async () => {
    const name = Buffer.concat([Buffer.from('x'.repeat(120)), Buffer.from([0xff, 0xfe])]);
    const { b, data } = archived((s) => writeFileSync(Buffer.concat([Buffer.from(s + '/'), name]), 'bytes'), ['--format=gnu']);
    await b.extract(data);
    expect(readFileSync(Buffer.concat([Buffer.from(b.root + '/'), name]), 'utf8')).toBe('bytes');
  });

  describe('sparse files', () => {
    const SIZE = 10 * 1024 * 1024 + 123;
    function sparseTree(src: string): void {
      // 9 data segments: more than the 4 an old-GNU header holds, so extension headers are needed
      const fd = openSync(join(src, 'sparse'), 'w');
      for (let i = 0; i < 9; i++) writeSync(fd, Buffer.alloc(4096, 0x41 + i), 0, 4096, i * 1024 * 1024 + 17);
      ftruncateSync(fd, SIZE);
      closeSync(fd);
      writeFileSync(join(src, 'after'), 'after the sparse file');
    }

    it.each([
      ['old GNU (--format=gnu)', ['--format=gnu']],
      ['PAX 1.0 (GNU tar default for pax)', ['--format=pax']],
      ['PAX 0.0', ['--format=pax', '--sparse-version=0.0']],
      ['PAX 0.1', ['--format=pax', '--sparse-version=0.1']],
    ])('%s: content and size are exact, holes stay holes', async (_label, args) => {
      const { b, src, data } = archived(sparseTree, ['--sparse', ...args]);
      if (args[0] === '--format=gnu') {
        const first = data.subarray(512); // after "./"
        expect(String.fromCharCode(first[156]!)).toBe('S');
        expect(first[482]).toBe(1); // extended sparse headers follow
      }
      await b.extract(data);
      const got = join(b.root, 'sparse');
      expect(lstatSync(got).size).toBe(SIZE);
      expect(readFileSync(got).equals(readFileSync(join(src, 'sparse')))).toBe(true);
      expect(lstatSync(got).blocks * 512).toBeLessThan(SIZE / 4);
      expect(readFileSync(join(b.root, 'after'), 'utf8')).toBe('after the sparse file');
    });

    it('the same archive fed one byte at a time gives the same tree', async () => {
      const { b, src, data } = archived((s) => {
        sparseTree(s);
        richTree(s);
      }, ['--sparse', '--format=gnu']);
      const bytes = Array.from({ length: data.length }, (_, i) => data.subarray(i, i + 1));
      await extractTar(Readable.from(bytes), { root: b.root, ownership: b.ownership });
      expect(snapshot(b.root)).toEqual(snapshot(src));
    });
  });

  it('a 0555 directory with files: extracts with u+rwx on disk, records 0555, and is removable', async () => {
    const { b, data } = archived((s) => {
      mkdirSync(join(s, 'ro'));
      writeFileSync(join(s, 'ro', 'f'), 'f');
      mkdirSync(join(s, 'ro', 'locked'));
      writeFileSync(join(s, 'ro', 'locked', 'g'), 'g');
      chmodSync(join(s, 'ro', 'locked'), 0o000);
      chmodSync(join(s, 'ro', 'f'), 0o444);
      chmodSync(join(s, 'ro'), 0o555);
    }, ['--format=pax']);
    await asUnprivileged([b.parent], async () => {
      await b.extract(data);
      expect(lstatSync(join(b.root, 'ro')).mode & 0o7777).toBe(0o755);
      expect(lstatSync(join(b.root, 'ro', 'locked')).mode & 0o7777).toBe(0o700);
      expect(lstatSync(join(b.root, 'ro', 'f')).mode & 0o7777).toBe(0o644);
      await removeTree(b.root);
    });
    expect(b.ownership).toMatchObject({ ro: { uid: 0, gid: 0, mode: 0o555 }, 'ro/locked': { mode: 0 }, 'ro/f': { mode: 0o444 } });
    expect(existsSync(b.root)).toBe(false);
  });

  it('setuid and setgid bits are kept on disk and recorded when the disk differs', async () => {
    const { b, data } = archived((s) => {
      for (const [name, mode] of [['suid', 0o4755], ['sgid', 0o2755], ['suid-ro', 0o4511]] as const) {
        writeFileSync(join(s, name), name);
        chmodSync(join(s, name), mode);
      }
      mkdirSync(join(s, 'sticky'));
      chmodSync(join(s, 'sticky'), 0o1777);
    }, ['--format=gnu']);
    await asUnprivileged([b.parent], () => b.extract(data));
    expect(lstatSync(join(b.root, 'suid')).mode & 0o7777).toBe(0o4755);
    expect(lstatSync(join(b.root, 'sgid')).mode & 0o7777).toBe(0o2755);
    expect(lstatSync(join(b.root, 'suid-ro')).mode & 0o7777).toBe(0o4711);
    expect(lstatSync(join(b.root, 'sticky')).mode & 0o7777).toBe(0o1777);
    expect(b.ownership['suid-ro']).toEqual({ uid: 0, gid: 0, mode: 0o4511 });
    expect(b.ownership['suid']).toBeUndefined();
  });

  it('fifos are created', async () => {
    const { b, data } = archived((s) => execFileSync('mkfifo', ['-m', '0640', join(s, 'pipe')]), ['--format=gnu']);
    const stats = await b.extract(data);
    expect(stats.fifos).toBe(1);
    expect(lstatSync(join(b.root, 'pipe')).isFIFO()).toBe(true);
    expect(lstatSync(join(b.root, 'pipe')).mode & 0o7777).toBe(0o640);
  });

  it('owners uid 1000 / gid 42 are recorded', async () => {
    const { b, data } = archived((s) => {
      mkdirSync(join(s, 'home'));
      writeFileSync(join(s, 'home', 'f'), 'f');
    }, ['--owner=1000', '--group=42', '--numeric-owner']);
    await b.extract(data);
    expect(b.ownership['home']).toEqual({ uid: 1000, gid: 42, mode: 0o755 });
    expect(b.ownership['home/f']).toEqual({ uid: 1000, gid: 42, mode: 0o644 });
  });

  it('--strip-components=1 on a proot-distro style tarball', async () => {
    const { b, data } = archived((s) => {
      mkdirSync(join(s, 'rootfs', 'bin'), { recursive: true });
      writeFileSync(join(s, 'rootfs', 'bin', 'sh'), 'sh');
    }, []);
    // names are ./rootfs/bin/sh: GNU tar counts "." as a component
    const c = box();
    await c.extract(gnuTar(['-c', '-f', '-', '-C', join(b.parent, 'src'), 'rootfs']), { stripComponents: 1 });
    expect(readFileSync(join(c.root, 'bin', 'sh'), 'utf8')).toBe('sh');
    await b.extract(data, { stripComponents: 2 });
    expect(readFileSync(join(b.root, 'bin', 'sh'), 'utf8')).toBe('sh');
  });
});

describe('device nodes (built by hand)', () => {
  it('are skipped, counted and recorded with their rdev, owner and mode', async () => {
    const b = box();
    const stats = await b.extract(
      tar(
        entry({ name: 'dev/', type: 'dir', mode: 0o755 }),
        entry({ name: 'dev/null', type: 'char', mode: 0o666, devmajor: 1, devminor: 3 }),
        entry({ name: 'dev/sda', type: 'block', mode: 0o660, gid: 6, devmajor: 8, devminor: 0 }),
        entry({ name: 'dev/null2', type: 'hardlink', linkname: 'dev/null' }),
      ),
    );
    expect(stats.devicesSkipped).toBe(3);
    expect(readdirSync(join(b.root, 'dev'))).toEqual([]);
    expect(b.ownership).toEqual({
      'dev/null': { uid: 0, gid: 0, mode: 0o666, kind: 'char', rdev: [1, 3] },
      'dev/null2': { uid: 0, gid: 0, mode: 0o666, kind: 'char', rdev: [1, 3] },
      'dev/sda': { uid: 0, gid: 6, mode: 0o660, kind: 'block', rdev: [8, 0] },
    });
  });

  it('a later regular file over a skipped device drops the device record', async () => {
    const b = box();
    await b.extract(tar(entry({ name: 'null', type: 'char', devmajor: 1, devminor: 3 })));
    await b.extract(tar(entry({ name: 'null' }, 'now a file')));
    expect(b.ownership).toEqual({});
  });
});
