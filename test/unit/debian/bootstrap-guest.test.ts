import { execFileSync, spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fakerootWrapper, parseFakedSave, inodeKey } from '../../../src/debian/bootstrap-fakeroot.js';
import { shWord, stageDebs, stopFaked } from '../../../src/debian/bootstrap-guest.js';
import { missing } from '../../helpers/tools.js';

const HOST_FAKED = '/usr/bin/faked-sysv';
const HOST_LIB = ['/usr/lib/x86_64-linux-gnu/libfakeroot/libfakeroot-sysv.so', '/usr/lib/aarch64-linux-gnu/libfakeroot/libfakeroot-sysv.so'].find((p) => existsSync(p));
const haveFakeroot = existsSync(HOST_FAKED) && HOST_LIB !== undefined;

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'cake-guest-'));
  dirs.push(d);
  return d;
}

describe.skipIf(missing('fakeroot (faked-sysv, libfakeroot-sysv.so)', haveFakeroot))('the fakeroot wrapper with the host fakeroot', () => {
  it('records chown/chmod into the save file and keeps it across runs', () => {
    const prefix = tmp();
    mkdirSync(join(prefix, 'usr/bin'), { recursive: true });
    symlinkSync(HOST_FAKED, join(prefix, 'usr/bin/faked-sysv'));
    const save = join(prefix, 'faked.save');
    writeFileSync(join(prefix, 'w.sh'), fakerootWrapper(prefix, HOST_LIB!, save));
    const a = join(prefix, 'a');
    const b = join(prefix, 'b');
    const run = (script: string): string => execFileSync('sh', [join(prefix, 'w.sh'), 'sh', '-c', script], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } });
    expect(run(`touch ${a} && chown 0:42 ${a} && chmod 2755 ${a} && id -u`).trim()).toBe('0');
    expect(run(`touch ${b} && chgrp 8 ${b} && stat -c %g ${a}`).trim()).toBe('42'); // the first run's entry was loaded
    const entries = parseFakedSave(readFileSync(save, 'utf8'));
    const byInode = new Map(entries.map((e) => [inodeKey(e.dev, e.ino), e]));
    const sa = lstatSync(a, { bigint: true });
    const sb = lstatSync(b, { bigint: true });
    expect(byInode.get(inodeKey(sa.dev, sa.ino))).toMatchObject({ uid: 0, gid: 42, mode: 0o102755 });
    expect(byInode.get(inodeKey(sb.dev, sb.ino))).toMatchObject({ gid: 8 });
    expect(existsSync(`${save}.pid`)).toBe(false);
  });

  it('stopFaked ends a faked left behind, and only a faked', async () => {
    const d = tmp();
    const kp = execFileSync(HOST_FAKED, ['--save-file', join(d, 'save')], { encoding: 'utf8' }).trim();
    const pid = Number(kp.split(':')[1]);
    writeFileSync(join(d, 'pid'), `${pid}\n`);
    await stopFaked(join(d, 'pid'));
    expect(existsSync(`/proc/${pid}/cmdline`) && readFileSync(`/proc/${pid}/cmdline`, 'latin1') !== '').toBe(false);
    expect(existsSync(join(d, 'save'))).toBe(true); // SIGTERM: faked saved on its way out
    const sleeper = spawn('sleep', ['5']);
    writeFileSync(join(d, 'pid'), `${sleeper.pid}\n`);
    await stopFaked(join(d, 'pid'));
    expect(sleeper.exitCode).toBeNull();
    expect(sleeper.kill()).toBe(true);
    await stopFaked(join(d, 'missing'));
  });
});

describe('stageDebs', () => {
  it('links each blob under apt\'s file name, copying across filesystems', () => {
    const root = tmp();
    const store = tmp();
    writeFileSync(join(store, 'blob'), 'deb');
    const m = stageDebs(root, [{ name: 'passwd', version: '1:4.13', arch: 'amd64' } as never], () => join(store, 'blob'));
    expect(m.get('passwd 1:4.13 amd64')).toBe('/.cake-bootstrap/debs/passwd_1%3a4.13_amd64.deb');
    expect(readFileSync(join(root, '.cake-bootstrap/debs/passwd_1%3a4.13_amd64.deb'), 'utf8')).toBe('deb');
  });

  it('copies a blob from another filesystem as a new file (the hole-keeping copy)', () => {
    const root = tmp();
    const store = mkdtempSync('/dev/shm/cake-guest-store-');
    dirs.push(store);
    writeFileSync(join(store, 'blob'), 'deb');
    expect(lstatSync(store).dev).not.toBe(lstatSync(root).dev);
    const m = stageDebs(root, [{ name: 'passwd', version: '1:4.13', arch: 'amd64' } as never], () => join(store, 'blob'));
    const staged = join(root, m.get('passwd 1:4.13 amd64')!);
    expect(readFileSync(staged, 'utf8')).toBe('deb');
    expect(lstatSync(staged).ino).not.toBe(lstatSync(join(store, 'blob')).ino);
  });
});

describe('shWord', () => {
  it('quotes only what needs it', () => {
    expect(shWord('/.cake-bootstrap/debs/passwd_1%3a4.13+x_amd64.deb')).toBe('/.cake-bootstrap/debs/passwd_1%3a4.13+x_amd64.deb');
    expect(shWord("a b'c")).toBe(`'a b'\\''c'`);
  });
});
