/**
 * writeTar: a rootfs with its real ownership as a deterministic tar, checked with GNU tar (a
 * reader we did not write) and by re-importing it.
 */
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { afterEach, describe, expect, it } from 'vitest';
import { extractTar } from '../../../src/archive/extract.js';
import type { OwnershipTable } from '../../../src/model/ownership.js';
import { removeTreeSync } from '../../../src/archive/remove-tree.js';
import { writeTar } from '../../../src/archive/tar-writer.js';
import { asUnprivileged, entry, gnuTar, pax, snapshot, tar } from '../../helpers/tar-build.js';

const dirs: string[] = [];
afterEach(() => {
  while (dirs.length) removeTreeSync(dirs.pop()!);
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'cake-writer-'));
  dirs.push(d);
  return d;
}

const T = 1_700_000_000;
const LONG = 'usr/share/' + 'x'.repeat(150) + '/file';
const NON_UTF8 = Buffer.concat([Buffer.from('usr/share/caf'), Buffer.from([0xe9])]);

/** A root install in miniature: [tar entries, the `tar -tv` lines GNU tar must show for our output]. */
const SOURCE = tar(
  entry({ name: 'bin', type: 'symlink', linkname: 'usr/bin', mode: 0o777 }),
  entry({ name: 'dev/', type: 'dir', mode: 0o755 }),
  entry({ name: 'dev/null', type: 'char', mode: 0o666, devmajor: 1, devminor: 3 }),
  entry({ name: 'dev/sda', type: 'block', mode: 0o660, gid: 6, devmajor: 8, devminor: 0 }),
  entry({ name: 'empty/', type: 'dir', mode: 0o755 }),
  entry({ name: 'etc/', type: 'dir', mode: 0o755 }),
  entry({ name: 'etc/shadow', mode: 0o000, gid: 42 }, 'root:*:19000::::::\n'),
  entry({ name: 'home/', type: 'dir', mode: 0o755 }),
  entry({ name: 'home/user/', type: 'dir', mode: 0o700, uid: 1000, gid: 1000 }),
  entry({ name: 'home/user/.profile', mode: 0o644, uid: 1000, gid: 1000 }, 'PATH=/bin\n'),
  entry({ name: 'ro/', type: 'dir', mode: 0o555 }),
  entry({ name: 'ro/f', mode: 0o444 }, 'read only\n'),
  entry({ name: 'run/', type: 'dir', mode: 0o755 }),
  entry({ name: 'run/initctl', type: 'fifo', mode: 0o600 }),
  entry({ name: 'tmp/', type: 'dir', mode: 0o1777 }),
  entry({ name: 'usr/', type: 'dir', mode: 0o755 }),
  entry({ name: 'usr/bin/', type: 'dir', mode: 0o755 }),
  entry({ name: 'usr/bin/a', mode: 0o755 }, 'binary\n'),
  entry({ name: 'usr/bin/b', type: 'hardlink', linkname: 'usr/bin/a' }),
  entry({ name: 'usr/bin/sudo', mode: 0o4755 }, 'sudo\n'),
  entry({ name: 'usr/bin/wall', mode: 0o2755, gid: 5 }, 'wall\n'),
  pax([['path', LONG]]),
  entry({ name: 'placeholder', mode: 0o644 }, 'long\n'),
  pax([['path', 'usr/share/ünïcödé']]),
  entry({ name: 'placeholder', mode: 0o644 }, 'unicode\n'),
  pax([['path', NON_UTF8]]),
  entry({ name: 'placeholder', mode: 0o644 }, 'latin1\n'),
  pax([['uid', '3000000'], ['gid', '3000001']]),
  entry({ name: 'usr/share/big-ids', mode: 0o640 }, 'ids\n'),
);

const EXPECTED = `
lrwxrwxrwx 0/0 0 bin -> usr/bin
drwxr-xr-x 0/0 0 dev/
crw-rw-rw- 0/0 1,3 dev/null
brw-rw---- 0/6 8,0 dev/sda
drwxr-xr-x 0/0 0 empty/
drwxr-xr-x 0/0 0 etc/
---------- 0/42 19 etc/shadow
drwxr-xr-x 0/0 0 home/
drwx------ 1000/1000 0 home/user/
-rw-r--r-- 1000/1000 10 home/user/.profile
dr-xr-xr-x 0/0 0 ro/
-r--r--r-- 0/0 10 ro/f
drwxr-xr-x 0/0 0 run/
prw------- 0/0 0 run/initctl
drwxrwxrwt 0/0 0 tmp/
drwxr-xr-x 0/0 0 usr/
drwxr-xr-x 0/0 0 usr/bin/
-rwxr-xr-x 0/0 7 usr/bin/a
hrwxr-xr-x 0/0 0 usr/bin/b link to usr/bin/a
-rwsr-xr-x 0/0 5 usr/bin/sudo
-rwxr-sr-x 0/5 5 usr/bin/wall
drwxr-xr-x 0/0 0 usr/share/
-rw-r----- 3000000/3000001 4 usr/share/big-ids
-rw-r--r-- 0/0 7 usr/share/caf\\351
drwxr-xr-x 0/0 0 usr/share/${'x'.repeat(150)}/
-rw-r--r-- 0/0 5 ${LONG}
-rw-r--r-- 0/0 8 usr/share/ünïcödé
`
  .trim()
  .split('\n');

async function importSource(data = SOURCE): Promise<{ root: string; table: OwnershipTable }> {
  const root = join(tmp(), 'root');
  mkdirSync(root);
  const table: OwnershipTable = {};
  await extractTar(Readable.from([data]), { root, ownership: table });
  return { root, table };
}

async function written(root: string, table: OwnershipTable, sourceDateEpoch?: number): Promise<Buffer> {
  const out = new PassThrough();
  const collected = buffer(out);
  await writeTar(root, table, out, sourceDateEpoch === undefined ? {} : { sourceDateEpoch });
  return collected;
}

/** GNU tar's listing without the dates: "perms owner size-or-dev name [-> target | link to target]". */
function listing(data: Buffer): string[] {
  const f = join(tmp(), 'out.tar');
  writeFileSync(f, data);
  return gnuTar(['-tvv', '--numeric-owner', '-f', f])
    .toString()
    .trim()
    .split('\n')
    .map((line) => line.replace(/^(\S+) +(\S+) +(\S+) \d{4}-\d\d-\d\d \d\d:\d\d /, '$1 $2 $3 '));
}

describe('writeTar', () => {
  it('GNU tar reads back real owners, modes, devices, fifos, hard links, long and non-UTF-8 names', async () => {
    const { root, table } = await importSource();
    const out = await written(root, table, T + 1000);
    expect(listing(out)).toEqual(EXPECTED);
  });

  it.skipIf(process.getuid?.() !== 0)('GNU tar as root recreates exactly that tree (owners, modes, device nodes)', async () => {
    const { root, table } = await importSource();
    const dest = join(tmp(), 'dest');
    mkdirSync(dest);
    const f = join(tmp(), 'out.tar');
    writeFileSync(f, await written(root, table));
    gnuTar(['-x', '-p', '--same-owner', '--numeric-owner', '-f', f, '-C', dest]);
    const st = (p: string) => lstatSync(join(dest, p));
    expect(st('dev/null').isCharacterDevice()).toBe(true);
    expect(st('dev/null').rdev).toBe(lstatSync('/dev/null').rdev);
    expect(st('dev/sda').isBlockDevice()).toBe(true);
    expect([st('home/user').uid, st('home/user').gid, st('home/user').mode & 0o7777]).toEqual([1000, 1000, 0o700]);
    expect([st('etc/shadow').gid, st('etc/shadow').mode & 0o7777]).toEqual([42, 0]);
    expect(st('usr/bin/sudo').mode & 0o7777).toBe(0o4755);
    expect([st('usr/bin/wall').gid, st('usr/bin/wall').mode & 0o7777]).toEqual([5, 0o2755]);
    expect(st('ro').mode & 0o7777).toBe(0o555);
    expect(st('usr/bin/b').ino).toBe(st('usr/bin/a').ino);
    expect(st('run/initctl').isFIFO()).toBe(true);
    expect(readlinkSync(join(dest, 'bin'))).toBe('usr/bin');
    expect(st('usr/share/big-ids').uid).toBe(3000000);
    expect(readdirSync(join(dest, 'usr/share'), { encoding: 'buffer' }).some((n) => n.equals(Buffer.from([0x63, 0x61, 0x66, 0xe9])))).toBe(true);
  });

  it('is deterministic: same bytes twice, and from two separate imports', async () => {
    const sde = Math.floor(Date.now() / 1000) - 3600;
    const a = await importSource();
    const b = await importSource();
    const first = await written(a.root, a.table, sde);
    const second = await written(a.root, a.table, sde);
    expect(first.equals(second)).toBe(true);
    expect((await written(b.root, b.table, sde)).equals(first)).toBe(true);
  });

  it('clamps mtimes to sourceDateEpoch and keeps older ones', async () => {
    const { root, table } = await importSource();
    utimesSync(join(root, 'etc/shadow'), T + 5000, T + 5000);
    const f = join(tmp(), 'out.tar');
    writeFileSync(f, await written(root, table, T + 100));
    const lines = gnuTar(['-tv', '--full-time', '--numeric-owner', '--utc', '-f', f]).toString();
    expect(lines).toMatch(/etc\/shadow/);
    const date = (name: string) => new RegExp(`(\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d) ${name}\\n`).exec(lines)![1];
    expect(date('etc/shadow')).toBe(new Date((T + 100) * 1000).toISOString().slice(0, 19).replace('T', ' '));
    expect(date('usr/bin/a')).toBe(new Date(T * 1000).toISOString().slice(0, 19).replace('T', ' '));
  });

  it('re-imports to the same tree and the same ownership table', async () => {
    const a = await importSource();
    const b = await importSource(await written(a.root, a.table, T + 1000));
    expect(b.table).toEqual(a.table);
    expect(snapshot(b.root)).toEqual(snapshot(a.root));
  });

  it('reads directories and files without owner permissions (restoring their modes), also unprivileged', async () => {
    const { root, table } = await importSource();
    const parent = join(root, '..');
    chmodSync(join(root, 'etc/shadow'), 0o000);
    chmodSync(join(root, 'ro'), 0o000);
    const out = await asUnprivileged([parent], async () => {
      const data = await written(root, table, T + 1000);
      expect(lstatSync(join(root, 'ro')).mode & 0o7777).toBe(0o000);
      chmodSync(join(root, 'ro'), 0o755);
      return data;
    });
    expect(lstatSync(join(root, 'etc/shadow')).mode & 0o7777).toBe(0o000);
    const lines = listing(out);
    expect(lines).toContain('---------- 0/42 19 etc/shadow');
    expect(lines).toContain('-r--r--r-- 0/0 10 ro/f');
  });

  it('ends the output stream and destroys it on failure', async () => {
    const out = new PassThrough();
    const collected = buffer(out);
    const err = await writeTar(join(tmp(), 'missing'), {}, out).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(out.destroyed).toBe(true);
    await collected.catch(() => {});
  });
});
