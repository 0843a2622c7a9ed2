import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  applyFakedOwnership,
  decodeDev,
  fakerootWrapper,
  inodeKey,
  parseFakedSave,
  snapshotInodes,
  type FakedEntry,
} from '../../../src/debian/bootstrap-fakeroot.js';
import type { OwnershipTable } from '../../../src/model/ownership.js';
import { CakeError } from '../../../src/model/errors.js';

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'cake-fakeroot-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function entryFor(path: string, over: Partial<FakedEntry>): FakedEntry {
  const st = lstatSync(path, { bigint: true });
  return { dev: st.dev, ino: st.ino, mode: Number(st.mode), uid: 0, gid: 0, nlink: 1, rdev: 0n, ...over };
}

describe('parseFakedSave', () => {
  it('reads faked 1.31 lines: dev hex, mode octal, the rest decimal', () => {
    const text =
      'dev=fe00,ino=2147297,mode=104755,uid=1,gid=42,nlink=1,rdev=0\n' +
      'dev=fe00,ino=2147313,mode=20644,uid=0,gid=0,nlink=1,rdev=259\n' +
      '\n' +
      'dev=10303,ino=18446744073709551615,mode=40755,uid=0,gid=8,nlink=2,rdev=0\n';
    const e = parseFakedSave(text);
    expect(e).toHaveLength(3);
    expect(e[0]).toEqual({ dev: 0xfe00n, ino: 2147297n, mode: 0o104755, uid: 1, gid: 42, nlink: 1, rdev: 0n });
    expect(e[1]!.mode).toBe(0o020644);
    expect(decodeDev(e[1]!.rdev)).toEqual([1, 3]);
    expect(e[2]!.dev).toBe(0x10303n);
    expect(e[2]!.ino).toBe(18446744073709551615n);
  });

  it('rejects anything else', () => {
    expect(() => parseFakedSave('dev=fe00,ino=1,mode=100644,uid=0,gid=0\n')).toThrow(CakeError);
    expect(() => parseFakedSave('hello\n')).toThrow(/line 1/);
  });
});

describe('decodeDev', () => {
  it('follows glibc makedev for small and large numbers', () => {
    expect(decodeDev(259n)).toEqual([1, 3]);
    expect(decodeDev(1088n)).toEqual([4, 64]);
    // makedev(259, 70000), as fakeroot recorded it
    expect(decodeDev(286327664n)).toEqual([259, 70000]);
  });
});

describe('fakerootWrapper', () => {
  it('is valid sh that loads an existing save file and waits for faked', () => {
    const text = fakerootWrapper('/.cake-bootstrap/fakeroot', '/.cake-bootstrap/fakeroot/usr/lib/x86_64-linux-gnu/libfakeroot/libfakeroot-sysv.so', '/.cake-bootstrap/faked.save');
    const d = tmp();
    writeFileSync(join(d, 'w.sh'), text);
    execFileSync('sh', ['-n', join(d, 'w.sh')]);
    expect(text).toContain('--load --save-file /.cake-bootstrap/faked.save < /.cake-bootstrap/faked.save');
    expect(text).toContain('LD_PRELOAD=/.cake-bootstrap/fakeroot/usr/lib/x86_64-linux-gnu/libfakeroot/libfakeroot-sysv.so "$@"');
    expect(text).toContain('while kill -0 "$pid"');
  });

  it('preloads the objects it is given before libfakeroot (the owner shim)', () => {
    const text = fakerootWrapper('/p', '/p/libfakeroot-sysv.so', '/s', ['/.cake-bootstrap/libcake-owner.so']);
    expect(text).toContain('LD_PRELOAD=/.cake-bootstrap/libcake-owner.so:/p/libfakeroot-sysv.so "$@"');
    expect(() => fakerootWrapper('/p', '/l', '/s', ['/a b.so'])).toThrow(CakeError);
  });

  it('refuses paths that would need quoting', () => {
    expect(() => fakerootWrapper('/x y', '/l', '/s')).toThrow(CakeError);
    expect(() => fakerootWrapper('/x', '/l;rm', '/s')).toThrow(CakeError);
  });
});

describe('applyFakedOwnership', () => {
  it('takes faked owners by inode, keeps unchanged baseline records, drops replaced ones', () => {
    const root = tmp();
    mkdirSync(join(root, 'etc'));
    mkdirSync(join(root, 'var/mail'), { recursive: true });
    mkdirSync(join(root, '.cake-bootstrap'));
    writeFileSync(join(root, 'etc/shadow'), 'x', { mode: 0o640 });
    writeFileSync(join(root, 'etc/replaced'), 'old');
    writeFileSync(join(root, 'plain'), 'p', { mode: 0o644 });
    writeFileSync(join(root, '.cake-bootstrap/skipped'), 's');
    const table: OwnershipTable = {
      'var/mail': { uid: 0, gid: 8, mode: 0o2775 },
      'etc/replaced': { uid: 0, gid: 43, mode: 0o664 },
      'gone': { uid: 5, gid: 5, mode: 0o600 },
      'dev/null': { uid: 0, gid: 0, mode: 0o666, kind: 'char', rdev: [1, 3] },
    };
    const baseline = snapshotInodes(root, table);
    // replaced outside faked: another inode at the same path (made while the old one exists)
    writeFileSync(join(root, 'etc/replaced.new'), 'new');
    renameSync(join(root, 'etc/replaced.new'), join(root, 'etc/replaced'));
    const entries = [
      entryFor(join(root, 'etc/shadow'), { gid: 42, mode: 0o100640 }),
      entryFor(join(root, 'plain'), {}),
      entryFor(join(root, '.cake-bootstrap/skipped'), { uid: 7 }),
    ];
    const stats = applyFakedOwnership(root, entries, table, { skip: ['.cake-bootstrap'], baseline });
    expect(table['etc/shadow']).toEqual({ uid: 0, gid: 42, mode: 0o640 });
    expect(table['var/mail']).toEqual({ uid: 0, gid: 8, mode: 0o2775 });
    expect(table['dev/null']).toEqual({ uid: 0, gid: 0, mode: 0o666, kind: 'char', rdev: [1, 3] });
    expect(Object.hasOwn(table, 'etc/replaced')).toBe(false);
    expect(Object.hasOwn(table, 'gone')).toBe(false);
    expect(Object.hasOwn(table, 'plain')).toBe(false); // root:root with the disk mode: sparse
    expect(Object.keys(table).some((k) => k.startsWith('.cake-bootstrap'))).toBe(false);
    expect(stats.faked).toBe(2);
    expect(stats.dropped).toBe(2);
    expect(stats.paths).toBe(6); // etc, var, plain, etc/shadow, etc/replaced, var/mail
  });

  it('turns a faked mknod placeholder into a device record and removes the file', () => {
    const root = tmp();
    mkdirSync(join(root, 'dev'));
    writeFileSync(join(root, 'dev/console'), '');
    const e = entryFor(join(root, 'dev/console'), { mode: 0o020600, gid: 5, rdev: 1281n });
    const table: OwnershipTable = {};
    const stats = applyFakedOwnership(root, [e], table, { skip: [], baseline: new Map() });
    expect(table['dev/console']).toEqual({ uid: 0, gid: 5, mode: 0o600, kind: 'char', rdev: [5, 1] });
    expect(lstatSync(join(root, 'dev/console'), { throwIfNoEntry: false })).toBeUndefined();
    expect(stats.devices).toBe(1);
  });

  it('ignores a stale faked entry whose inode now holds another kind of object', () => {
    const root = tmp();
    mkdirSync(join(root, 'd'));
    const e = entryFor(join(root, 'd'), { mode: 0o100644, uid: 9 });
    const table: OwnershipTable = {};
    applyFakedOwnership(root, [e], table, { skip: [], baseline: new Map() });
    expect(table).toEqual({});
  });

  it('keys inodes by device and number', () => {
    expect(inodeKey(65024n, 12n)).toBe('65024:12');
  });
});
