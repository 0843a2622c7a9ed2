import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, readdirSync, mkdirSync, mkdtempSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { machine, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { snapshotTable } from '../../../src/archive/faked-save.js';
import type { OwnershipTable } from '../../../src/model/ownership.js';
import { kitKey, prepareFakerootKit } from '../../../src/kit/fakeroot.js';
import { kitDebs } from '../../../src/kit/kit-deb.js';
import { applySaved, FakedDaemon, FAKEROOT_GUEST_DIR, whyNotRecorded, withFakeroot } from '../../../src/run/ownership-recorder.js';
import { GROUPS_GUEST_DIR, GROUPS_SHIM } from '../../../src/run/groups-shim.js';
import { OWNER_GUEST_DIR, OWNER_SHIM } from '../../../src/run/owner-shim.js';
import { defaultRunOptions } from '../../../src/model/run-options.js';
import { unrecordedModesWarning } from '../../../src/run/unrecorded-modes.js';
import { tmpOwnerPid } from '../../../src/store/atomic-write.js';
import { missing } from '../../helpers/tools.js';

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'cake-recorder-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('whether a run is recorded', () => {
  it('only as root and for the host architecture', () => {
    const native = machine();
    for (const user of [undefined, 'root', '0', '0:0']) expect(whyNotRecorded({ arch: native }, { user })).toBeUndefined();
    // a --user run is recorded too (issue 16.3): the user sees recorded owners, its chowns are kept
    expect(whyNotRecorded({ arch: native }, { user: 'nobody' })).toBeUndefined();
    expect(whyNotRecorded({ arch: native === 'aarch64' ? 'x86_64' : 'aarch64' }, {})).toMatch(/cannot run on this/);
    expect(whyNotRecorded({}, {})).toBeUndefined();
  });
});

describe('withFakeroot', () => {
  it('binds the libfakeroot dir and preloads it before any LD_PRELOAD of the user', () => {
    const opts = defaultRunOptions({ env: { LD_PRELOAD: '/usr/lib/libmine.so', FOO: '1' }, binds: [{ src: '/a', dst: '/b' }] });
    const o = withFakeroot(opts, { libDir: '/kit/lib/libfakeroot' }, '1234');
    expect(o.binds).toEqual([{ src: '/a', dst: '/b' }, { src: '/kit/lib/libfakeroot', dst: FAKEROOT_GUEST_DIR }]);
    expect(o.env).toEqual({
      FOO: '1',
      LD_PRELOAD: `${FAKEROOT_GUEST_DIR}/libfakeroot-sysv.so:/usr/lib/libmine.so`,
      FAKEROOTKEY: '1234',
      FAKED_MODE: 'unknown-is-root',
      FAKEROOTDONTTRYCHOWN: '1',
    });
    expect(opts.binds).toHaveLength(1); // not changed in place
    expect(withFakeroot(defaultRunOptions(), { libDir: '/k' }, '1').env.LD_PRELOAD).toBe(`${FAKEROOT_GUEST_DIR}/libfakeroot-sysv.so`);
  });

  it('binds and preloads cake\'s shims before libfakeroot: the groups shim first, then the owner shim', () => {
    const o = withFakeroot(defaultRunOptions(), { libDir: '/k' }, '1', { uid: 33, gid: 4 }, { groupsDir: '/c/groups/x', ownerDir: '/c/owner/y' });
    expect(o.env.LD_PRELOAD).toBe(`${GROUPS_GUEST_DIR}/${GROUPS_SHIM}:${OWNER_GUEST_DIR}/${OWNER_SHIM}:${FAKEROOT_GUEST_DIR}/libfakeroot-sysv.so`);
    expect(o.binds).toEqual([{ src: '/k', dst: FAKEROOT_GUEST_DIR }, { src: '/c/groups/x', dst: GROUPS_GUEST_DIR }, { src: '/c/owner/y', dst: OWNER_GUEST_DIR }]);
    expect(withFakeroot(defaultRunOptions(), { libDir: '/k' }, '1', undefined, { ownerDir: '/o' }).env.LD_PRELOAD).toBe(`${OWNER_GUEST_DIR}/${OWNER_SHIM}:${FAKEROOT_GUEST_DIR}/libfakeroot-sysv.so`);
  });

  it('gives libfakeroot the ids of a --user run, and none for root', () => {
    const env = withFakeroot(defaultRunOptions(), { libDir: '/k' }, '1', { uid: 33, gid: 4 }).env;
    expect([env.FAKEROOTUID, env.FAKEROOTEUID, env.FAKEROOTSUID, env.FAKEROOTFUID]).toEqual(['33', '33', '33', '33']);
    expect([env.FAKEROOTGID, env.FAKEROOTEGID, env.FAKEROOTSGID, env.FAKEROOTFGID]).toEqual(['4', '4', '4', '4']);
    expect(Object.keys(withFakeroot(defaultRunOptions(), { libDir: '/k' }, '1', { uid: 0, gid: 0 }).env).filter((k) => k.endsWith('ID'))).toEqual([]);
  });
});

describe('applySaved', () => {
  it('changes nothing when faked saw nothing new and recorded paths kept their inodes', () => {
    const root = tmp();
    writeFileSync(join(root, 'shadow'), 'x');
    const table: OwnershipTable = { shadow: { uid: 0, gid: 42, mode: 0o640 } };
    const snap = snapshotTable(root, table);
    expect(applySaved(root, table, snap, snap.entries)).toEqual({ set: [], removed: [] });
    expect(table.shadow).toEqual({ uid: 0, gid: 42, mode: 0o640 });
  });

  it('records what faked saw and drops records of paths replaced or removed', () => {
    const root = tmp();
    writeFileSync(join(root, 'shadow'), 'x');
    writeFileSync(join(root, 'gone'), 'x');
    const table: OwnershipTable = { shadow: { uid: 0, gid: 42, mode: 0o640 }, gone: { uid: 3, gid: 3, mode: 0o600 } };
    const snap = snapshotTable(root, table);
    rmSync(join(root, 'gone'));
    mkdirSync(join(root, 'var/lib/testdir'), { recursive: true });
    mkdirSync(join(root, '.cake/fakeroot'), { recursive: true });
    const st = lstatSync(join(root, 'var/lib/testdir'), { bigint: true });
    const saved = [...snap.entries, { dev: st.dev, ino: st.ino, mode: 0o42770, uid: 0, gid: 999, nlink: 2, rdev: 0n }];
    const diff = applySaved(root, table, snap, saved);
    expect(diff).toEqual({ set: [['var/lib/testdir', { uid: 0, gid: 999, mode: 0o2770 }]], removed: ['gone'] });
    expect(table).toEqual({ shadow: { uid: 0, gid: 42, mode: 0o640 }, 'var/lib/testdir': { uid: 0, gid: 999, mode: 0o2770 } });
  });

  it('adopts a mode changed on disk behind faked (a static chmod) and reports it', () => {
    const root = tmp();
    writeFileSync(join(root, 'shadow'), 'x', { mode: 0o640 });
    chmodSync(join(root, 'shadow'), 0o640);
    mkdirSync(join(root, 'www'), { mode: 0o755 });
    chmodSync(join(root, 'www'), 0o755);
    const table: OwnershipTable = { shadow: { uid: 0, gid: 42, mode: 0o640 }, www: { uid: 33, gid: 33, mode: 0o755 } };
    const snap = snapshotTable(root, table);
    chmodSync(join(root, 'shadow'), 0o4000); // static chmod 4000: no owner access left on disk
    chmodSync(join(root, 'www'), 0o750);
    const adopted: string[] = [];
    const diff = applySaved(root, table, snap, snap.entries, adopted);
    expect(adopted.sort()).toEqual(['shadow', 'www']);
    expect(table).toEqual({ shadow: { uid: 0, gid: 42, mode: 0o4000 }, www: { uid: 33, gid: 33, mode: 0o750 } });
    expect(diff.set.map(([k]) => k).sort()).toEqual(['shadow', 'www']);
    expect(lstatSync(join(root, 'shadow')).mode & 0o7777).toBe(0o4600); // owner access back on disk
  });

  it('does not adopt a chmod faked saw (libfakeroot keeps owner access on disk)', () => {
    const root = tmp();
    writeFileSync(join(root, 'f'), 'x');
    chmodSync(join(root, 'f'), 0o644);
    const table: OwnershipTable = { f: { uid: 5, gid: 5, mode: 0o644 } };
    const snap = snapshotTable(root, table);
    chmodSync(join(root, 'f'), 0o600); // what libfakeroot does for chmod 0400
    const saved = snap.entries.map((e) => ({ ...e, mode: (e.mode & 0o170000) | 0o400 }));
    const adopted: string[] = [];
    applySaved(root, table, snap, saved, adopted);
    expect(adopted).toEqual([]);
    expect(table.f).toEqual({ uid: 5, gid: 5, mode: 0o400 });
  });
});

describe('unrecordedModesWarning', () => {
  it('names the env, up to three paths and the way out', () => {
    const w = unrecordedModesWarning('deb', ['a', 'b', 'c', 'd']);
    expect(w).toContain('4 mode change(s) in deb bypassed fakeroot (/a, /b, /c and 1 more)');
    expect(w).toContain('dynamically linked tools');
  });
});

describe('fakeroot kits', () => {
  it('are read from env.json only when well formed', () => {
    const deb = { name: 'libc6', version: '2.36', arch: 'amd64', sha256: 'a'.repeat(64) };
    expect(kitDebs({ fakeroot: { debs: [deb] } })).toEqual([deb]);
    expect(kitDebs({})).toBeUndefined();
    expect(kitDebs({ fakeroot: { debs: [] } })).toBeUndefined();
    expect(kitDebs({ fakeroot: { debs: [{ ...deb, sha256: '../x' }] } })).toBeUndefined();
    expect(kitKey(['b', 'a'])).toBe(kitKey(['a', 'b']));
  });

  it('are unpacked once, finding the loader, libc, faked and libfakeroot, without links that leave the kit', async () => {
    const work = tmp();
    const deb = (name: string, files: Record<string, string>, links: Record<string, string> = {}): { path: string; sha256: string } => {
      const dir = join(work, name);
      mkdirSync(join(dir, 'DEBIAN'), { recursive: true });
      writeFileSync(join(dir, 'DEBIAN/control'), `Package: ${name}\nVersion: 1\nArchitecture: amd64\nMaintainer: t <t@t>\nDescription: t\n`);
      for (const [p, c] of Object.entries(files)) {
        mkdirSync(join(dir, p, '..'), { recursive: true });
        writeFileSync(join(dir, p), c, { mode: 0o755 });
      }
      for (const [p, t] of Object.entries(links)) symlinkSync(t, join(dir, p));
      execFileSync('dpkg-deb', ['--root-owner-group', '-Zgzip', '-b', dir, `${dir}.deb`], { stdio: 'ignore' });
      return { path: `${dir}.deb`, sha256: name.padEnd(64, '0').replace(/[^0-9a-f]/g, '0') };
    };
    const debs = [
      deb('libc6', { 'lib/x86_64-linux-gnu/libc.so.6': 'libc', 'lib/x86_64-linux-gnu/ld-linux-x86-64.so.2': 'ld' }, { 'lib/x86_64-linux-gnu/libhost.so': '/lib/x86_64-linux-gnu/libc.so.6' }),
      deb('libfakeroot', { 'usr/lib/x86_64-linux-gnu/libfakeroot/libfakeroot-sysv.so': 'lf' }),
      deb('fakeroot', { 'usr/bin/faked-sysv': 'faked' }),
    ];
    const cache = join(work, 'cache');
    const kit = await prepareFakerootKit(debs, cache);
    expect(kit.ldso).toBe(join(kit.dir, 'root/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2'));
    expect(kit.libraryPath).toBe(join(kit.dir, 'root/lib/x86_64-linux-gnu'));
    expect(kit.faked).toBe(join(kit.dir, 'root/usr/bin/faked-sysv'));
    expect(kit.libDir).toBe(join(kit.dir, 'root/usr/lib/x86_64-linux-gnu/libfakeroot'));
    expect(() => readlinkSync(join(kit.libraryPath, 'libhost.so'))).toThrow();
    expect(await prepareFakerootKit(debs, cache)).toEqual(kit);
    await expect(prepareFakerootKit(debs.slice(1), join(work, 'other'))).rejects.toThrow(/lack a glibc loader, libc\.so\.6/);
  });
});

const HOST_LDSO = ['/lib64/ld-linux-x86-64.so.2', '/lib/ld-linux-aarch64.so.1'].find((p) => existsSync(p));
const HOST_LIBS = ['/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/lib/aarch64-linux-gnu', '/usr/lib/aarch64-linux-gnu'].filter((p) => existsSync(p)).join(':');

describe.skipIf(missing('faked-sysv and a glibc loader (fakeroot)', existsSync('/usr/bin/faked-sysv') && HOST_LDSO !== undefined))("faked's work dir", () => {
  it('is named in the temporary scheme gc sweeps (a run killed with -9 leaves it) and removed on stop', async () => {
    const parent = join(tmp(), 'faked');
    const kit = { dir: '/', ldso: HOST_LDSO!, libraryPath: HOST_LIBS, faked: '/usr/bin/faked-sysv', libDir: '/' };
    const faked = await FakedDaemon.start(kit, [], parent);
    try {
      const [work, ...more] = readdirSync(parent);
      expect(more).toEqual([]);
      expect(tmpOwnerPid(work!)).toBe(process.pid);
      expect(lstatSync(join(parent, work!)).mode & 0o777).toBe(0o700);
    } finally {
      await faked.stop();
    }
    expect(readdirSync(parent)).toEqual([]);
  });
});
