import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isForeignArch, normalizeArch, qemuProgramNames } from '../../../src/run/arch.js';
import { FAKE_PROC_FILES, fakeProcBinds } from '../../../src/run/fake-proc.js';
import { ensureWithin, removeOwnWithin } from '../../../src/run/env-fs.js';
import { hostPathOf, readInRoot, resolveCommand, resolveGuestPath, resolveInRoot } from '../../../src/run/guest-path.js';
import { parseProotHelp } from '../../../src/run/proot-tool.js';
import { signalExitCode } from '../../../src/run/spawn-guest.js';

const tmp = mkdtempSync(join(tmpdir(), 'cake-run-unit-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('arch', () => {
  it('normalizes distro spellings', () => {
    expect(normalizeArch('amd64')).toBe('x86_64');
    expect(normalizeArch('arm64')).toBe('aarch64');
    expect(normalizeArch('armhf')).toBe('arm');
    expect(normalizeArch('i686')).toBe('i386');
  });
  it('detects foreign guests strictly', () => {
    expect(isForeignArch(undefined, 'x86_64')).toBe(false);
    expect(isForeignArch('amd64', 'x86_64')).toBe(false);
    expect(isForeignArch('aarch64', 'x86_64')).toBe(true);
    expect(isForeignArch('i386', 'x86_64')).toBe(true);
    expect(qemuProgramNames('arm64')).toEqual(['qemu-aarch64-static', 'qemu-aarch64']);
  });
});

describe('parseProotHelp', () => {
  it('recognises Debian 5.1.0 (proot-me, no --kill-on-exit)', () => {
    const help = 'proot 5.1.0: chroot, mount --bind, and binfmt_misc without privilege/setup.\n\n  -r *path*, --rootfs=*path*\n  -0, --root-id\n';
    expect(parseProotHelp(help)).toEqual({ fork: 'proot-me', killOnExit: false, version: '5.1.0' });
  });
  it('recognises termux builds', () => {
    const help = 'proot 5.1.107-65: ...\n  -L, --fix-low-ports\n  --kill-on-exit\n  --sysvipc\n';
    expect(parseProotHelp(help)).toMatchObject({ fork: 'termux', killOnExit: true });
  });
});

describe('signalExitCode', () => {
  it('is 128+N', () => {
    expect(signalExitCode('SIGINT')).toBe(130);
    expect(signalExitCode('SIGTERM')).toBe(143);
    expect(signalExitCode('SIGKILL')).toBe(137);
  });
});

describe('guest paths', () => {
  const root = join(tmp, 'root');
  const host = join(tmp, 'hosthome');
  mkdirSync(join(root, 'etc'), { recursive: true });
  mkdirSync(join(root, 'usr/lib'), { recursive: true });
  mkdirSync(join(host, 'proj'), { recursive: true });
  writeFileSync(join(root, 'etc/passwd'), 'x');
  mkdirSync(join(root, 'bin'));
  writeFileSync(join(root, 'bin/sh'), '', { mode: 0o755 });
  symlinkSync('/usr/lib', join(root, 'lib'));
  symlinkSync('../../../../../etc', join(root, 'usr/lib/up'));
  symlinkSync('/run/systemd/resolve/stub-resolv.conf', join(root, 'etc/resolv.conf'));
  symlinkSync('loop2', join(root, 'loop1'));
  symlinkSync('loop1', join(root, 'loop2'));
  symlinkSync('/', join(host, 'escape'));

  it('maps through the longest mount', () => {
    const mounts = [{ src: '/h', dst: '/home' }, { src: '/hp', dst: '/home/p' }];
    expect(hostPathOf('/R', mounts, '/home/p/x')).toBe('/hp/x');
    expect(hostPathOf('/R', mounts, '/home/q')).toBe('/h/q');
    expect(hostPathOf('/R', mounts, '/homework')).toBe('/R/homework');
    expect(hostPathOf('/R', mounts, '/')).toBe('/R');
  });
  it('follows symlinks as guest symlinks, never above the guest root', async () => {
    expect(await resolveGuestPath(root, [], '/lib')).toMatchObject({ guestPath: '/usr/lib', kind: 'dir' });
    expect(await resolveGuestPath(root, [], '/lib/up/passwd')).toMatchObject({ guestPath: '/etc/passwd', hostPath: join(root, 'etc/passwd'), kind: 'file' });
    expect(await resolveGuestPath(root, [], '/etc/resolv.conf')).toMatchObject({
      guestPath: '/run/systemd/resolve/stub-resolv.conf',
      hostPath: join(root, 'run/systemd/resolve/stub-resolv.conf'),
      kind: 'missing',
    });
    await expect(resolveGuestPath(root, [], '/loop1')).rejects.toThrow(/symbolic links/);
  });
  it('the sync resolver (bake) answers as the async one (engine) does', async () => {
    for (const p of ['/lib', '/lib/up/passwd', '/etc/resolv.conf', '/bin/sh', '/bin/sh/x', '/', '/nope/x', '/loop1']) {
      const r = await resolveGuestPath(root, [], p).catch(() => undefined);
      expect(resolveInRoot(root, p), p).toBe(r === undefined || r.kind === 'missing' ? undefined : r.hostPath);
    }
    expect(readInRoot(root, '/lib/up/passwd')).toBe('x');
    expect(readInRoot(root, '/lib')).toBeUndefined();
  });
  it('resolves through mounts; a symlink inside a bound dir is a guest symlink', async () => {
    const mounts = [{ src: host, dst: '/home/me' }];
    expect(await resolveGuestPath(root, mounts, '/home/me/proj')).toMatchObject({ hostPath: join(host, 'proj'), kind: 'dir' });
    expect(await resolveGuestPath(root, mounts, '/home/me/escape/etc/passwd')).toMatchObject({ guestPath: '/etc/passwd', hostPath: join(root, 'etc/passwd') });
  });
  it('creates mount points of the right kind, idempotently, and removes only its own', async () => {
    const r = await resolveGuestPath(root, [], '/etc/resolv.conf');
    expect(ensureWithin(root, r.guestPath, 'file')).toEqual(['/run', '/run/systemd', '/run/systemd/resolve', '/run/systemd/resolve/stub-resolv.conf']);
    expect(readFileSync(join(root, 'run/systemd/resolve/stub-resolv.conf'), 'utf8')).toBe('');
    expect(ensureWithin(root, r.guestPath, 'file')).toEqual([]);
    const d = await resolveGuestPath(root, [], '/lib/new/dir');
    expect(d.guestPath).toBe('/usr/lib/new/dir');
    expect(ensureWithin(root, d.guestPath, 'dir')).toEqual(['/usr/lib/new', '/usr/lib/new/dir']);
    expect((await resolveGuestPath(root, [], '/usr/lib/new/dir')).kind).toBe('dir');
    expect(removeOwnWithin(root, '/usr/lib/new/dir')).toBe(true);
    expect(removeOwnWithin(root, '/usr/lib/new')).toBe(true);
    expect(removeOwnWithin(root, '/run/systemd/resolve/stub-resolv.conf', { size: 1 })).toBe(false);
    expect(removeOwnWithin(root, '/run/systemd/resolve/stub-resolv.conf', { size: 0 })).toBe(true);
  });
  it('refuses to create or remove through a symlink, even one swapped in later', () => {
    // /lib is a symlink in this tree: a symlink-free walk must not go through it
    expect(() => ensureWithin(root, '/lib/other', 'dir')).toThrow(/a symlink or a non-directory is in the way/);
    expect(existsSync(join(root, 'usr/lib/other'))).toBe(false);
    expect(removeOwnWithin(root, '/lib/x86_64-linux-gnu')).toBe(false);
  });
  it('finds commands on the guest PATH, keeping the name it found', async () => {
    expect(await resolveCommand(root, [], 'sh', '/nope:/bin', '/')).toBe('/bin/sh');
    expect(await resolveCommand(root, [], 'no-such-program', '/bin:/usr/bin', '/')).toBeUndefined();
    expect(await resolveCommand(root, [], './x', '/bin', '/')).toBe('./x');
  });
});

describe('fakeProcBinds', () => {
  it('binds nothing when every file is readable', async () => {
    expect(await fakeProcBinds(join(tmp, 'fp1'), async () => true)).toEqual([]);
  });
  it('writes fakes for unreadable files only', async () => {
    const dir = join(tmp, 'fp2');
    const binds = await fakeProcBinds(dir, async (p) => p !== '/proc/loadavg' && p !== '/proc/sys/kernel/cap_last_cap');
    expect(binds).toEqual([
      { src: join(dir, 'loadavg'), dst: '/proc/loadavg' },
      { src: join(dir, 'sys.kernel.cap_last_cap'), dst: '/proc/sys/kernel/cap_last_cap' },
    ]);
    expect(readFileSync(join(dir, 'loadavg'), 'utf8')).toBe(FAKE_PROC_FILES['/proc/loadavg']);
  });
});
