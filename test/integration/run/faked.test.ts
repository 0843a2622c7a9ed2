/**
 * The ownership recorder's faked daemon against the host's own fakeroot (Debian's `fakeroot`
 * package), without an env: loading a table, a program under libfakeroot seeing and changing
 * owners, the save file read back when faked stops.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, lstatSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { snapshotTable } from '../../../src/archive/faked-save.js';
import type { OwnershipTable } from '../../../src/model/ownership.js';
import type { FakerootKit } from '../../../src/run/kit-provider.js';
import { applySaved, FakedDaemon } from '../../../src/run/ownership-recorder.js';
import { runInEnv } from '../../../src/run/engine.js';
import { defaultRunOptions } from '../../../src/model/run-options.js';
import { silentLogger } from '../../../src/model/logger.js';
import { createBusyboxRootfs, haveBusybox } from '../../helpers/busybox-rootfs.js';
import { missing } from '../../helpers/tools.js';

const TRIPLET = `${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`;
const hostKit: FakerootKit = {
  dir: '/',
  ldso: process.arch === 'arm64' ? '/lib/ld-linux-aarch64.so.1' : '/lib64/ld-linux-x86-64.so.2',
  libraryPath: `/lib/${TRIPLET}`,
  faked: '/usr/bin/faked-sysv',
  libDir: `/usr/lib/${TRIPLET}/libfakeroot`,
};
const haveFakeroot = [hostKit.ldso, hostKit.faked, join(hostKit.libDir, 'libfakeroot-sysv.so')].every((p) => existsSync(p));

describe.skipIf(missing('fakeroot (faked-sysv, libfakeroot-sysv.so)', haveFakeroot))("faked on the host, from a kit's files", () => {
  const root = mkdtempSync(join(tmpdir(), 'cake-faked-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('serves the loaded table and saves what programs under libfakeroot did', async () => {
    writeFileSync(join(root, 'shadow'), 'x', { mode: 0o644 });
    writeFileSync(join(root, 'hostname'), 'h', { mode: 0o644 });
    const table: OwnershipTable = { shadow: { uid: 0, gid: 42, mode: 0o640 } };
    const snap = snapshotTable(root, table);
    const faked = await FakedDaemon.start(hostKit, snap.entries, join(root, '.work'));
    let out: string;
    try {
      out = execFileSync('/bin/sh', ['-c', 'stat -c "%u:%g %a" shadow && chown 65534:42 hostname && chmod 600 hostname && mknod null c 1 3 && stat -c "%u:%g %a" hostname'], {
        cwd: root,
        env: { PATH: '/usr/bin:/bin', LD_PRELOAD: join(hostKit.libDir, 'libfakeroot-sysv.so'), FAKEROOTKEY: faked.key, FAKED_MODE: 'unknown-is-root', FAKEROOTDONTTRYCHOWN: '1' },
      }).toString();
    } finally {
      const saved = await faked.stop();
      const diff = applySaved(root, table, snap, saved);
      expect(diff.set.map(([k]) => k).sort()).toEqual(['hostname', 'null']);
    }
    expect(out).toBe('0:42 640\n65534:42 600\n');
    expect(table).toEqual({
      shadow: { uid: 0, gid: 42, mode: 0o640 },
      hostname: { uid: 65534, gid: 42, mode: 0o600 },
      null: { uid: 0, gid: 0, mode: 0o644, kind: 'char', rdev: [1, 3] },
    });
    // mknod under fakeroot leaves an empty file: recorded as a device, the placeholder removed
    expect(lstatSync(join(root, 'null'), { throwIfNoEntry: false })).toBeUndefined();
    expect(existsSync(join(root, '.work'))).toBe(true);
    expect(execFileSync('ls', [join(root, '.work')]).toString()).toBe('');
  });

  it('reports a faked that does not start', async () => {
    await expect(FakedDaemon.start({ ...hostKit, faked: '/bin/false' }, [], join(root, '.work'))).rejects.toThrow(/faked did not start/);
  });
});

describe.skipIf(missing('fakeroot (faked-sysv, libfakeroot-sysv.so)', haveFakeroot) || missing('busybox-static', haveBusybox()))('a static guest (busybox, as musl programs are to a glibc libfakeroot)', () => {
  it('runs without faked (the guest has no glibc for libfakeroot), so its chown is not recorded: EINVAL in a user namespace, the table unchanged', async (ctx) => {
    const fs = createBusyboxRootfs();
    const work = mkdtempSync(join(tmpdir(), 'cake-faked-bb-'));
    try {
      writeFileSync(join(fs.root, 'f'), 'x');
      const table: OwnershipTable = {};
      const changes: unknown[] = [];
      const out = join(work, 'out');
      const fd = openSync(out, 'w');
      let code: number;
      try {
        code = await runInEnv(
          { name: 'bb', rootfs: fs.root },
          ['/bin/sh', '-c', 'echo "key=$FAKEROOTKEY"; chown 42 /f'],
          defaultRunOptions({ engine: 'userns', isolated: true }),
          { logger: silentLogger, hostEnv: process.env, cacheDir: join(work, 'engine'), stdio: ['ignore', fd, fd], recordOwnership: { table, kit: hostKit, onChange: (d) => void changes.push(d) } },
        );
      } catch (err) {
        if (/self-check/.test((err as Error).message)) ctx.skip();
        throw err;
      } finally {
        closeSync(fd);
      }
      const text = readFileSync(out, 'utf8');
      // no faked is started for a guest without glibc (run/guest-libc.ts): no key reaches it
      expect(text).toMatch(/^key=\n/);
      expect(text).toMatch(/Invalid argument/);
      expect(code).toBe(1);
      expect(table).toEqual({});
      expect(changes).toEqual([]);
    } finally {
      fs.cleanup();
      rmSync(work, { recursive: true, force: true });
    }
  });
});
