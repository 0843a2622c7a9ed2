import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cake, TEST_CACHE } from '../../helpers/cli.js';
import { bzImageRelease } from '../../../src/bake/kernel.js';
import { BAKE_HOME, BAKE_TOOLS, catInImage, partitionOffset, SSH_OPTS, sshUntilUp, startBoot, statInImage, type Boot } from './harness.js';
import { missingCommands } from '../../helpers/tools.js';

const ENV = 'bake-debian';
const PACKAGES = 'systemd-sysv,udev,openssh-server,linux-image-amd64';

/**
 * The Debian env: cake's own bootstrap from the archive (minbase + systemd + OpenSSH + a kernel),
 * kept in the persistent test home; mmdebstrap is the fallback when the bootstrap cannot run here.
 */
async function ensureDebianEnv(): Promise<void> {
  const list = await cake(BAKE_HOME, ['list', '--json']);
  if (list.code === 0 && (JSON.parse(list.stdout) as Array<{ name: string }>).some((e) => e.name === ENV)) return;
  const pull = await cake(BAKE_HOME, ['pull', 'debian:bookworm', '--variant', 'minbase', '--packages', PACKAGES, '--name', ENV, '--force']);
  if (pull.code === 0) return;
  const tarball = join(TEST_CACHE, 'bake/debian-ssh.tar');
  if (!existsSync(tarball)) {
    const mm = spawnSync('mmdebstrap', ['--quiet', '--variant=minbase', `--include=${PACKAGES}`, 'bookworm', tarball, 'http://deb.debian.org/debian'], { encoding: 'utf8' });
    if (mm.status !== 0) throw new Error(`cake pull failed (${pull.stderr}) and so did mmdebstrap (${mm.stderr})`);
  }
  const imp = await cake(BAKE_HOME, ['import', tarball, '--name', ENV, '--force']);
  if (imp.code !== 0) throw new Error(imp.stderr);
}

/** Boot to the login prompt, log in over SSH, run a command, make the guest print the marker cake boot waits for. */
async function bootAndSsh(boot: Boot, key: string): Promise<string> {
  try {
    await boot.waitFor('login:', 400);
    const port = await boot.sshPort();
    const out = await sshUntilUp(key, port, 'id -un; hostname; systemctl is-active ssh systemd-networkd; ls /etc/ssh/ | grep -c host_', 150);
    spawnSync('ssh', [...SSH_OPTS, '-i', key, '-p', String(port), 'root@127.0.0.1', 'echo CAKE-SSH-$((6*7)) > /dev/ttyS0'], { timeout: 30_000 });
    expect(await boot.done, boot.stderr()).toBe(0);
    return out;
  } finally {
    boot.kill();
  }
}

describe.skipIf(missingCommands(...BAKE_TOOLS, 'ssh', 'ssh-keygen'))('cake bake + boot: Debian with systemd and OpenSSH (TCG unless KVM works)', () => {
  let work: string;
  let key: string;
  let image: string;

  beforeAll(async () => {
    await ensureDebianEnv();
    work = mkdtempSync(join(tmpdir(), 'cake-bake-deb-'));
    key = join(work, 'id_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'cake-test', '-f', key]);
    image = join(work, 'debian.img');
    const r = await cake(BAKE_HOME, ['bake', ENV, '-o', image, '--ssh-key', `${key}.pub`, '--hostname', 'cakedeb']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/systemd\)/);
  }, 900_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('keeps real owners, setuid bits and group-owned secrets; bakes no SSH host key and no password', () => {
    expect(statInImage(image, '/etc/shadow')).toMatchObject({ uid: 0, gid: 42, mode: 0o640 });
    expect(statInImage(image, '/usr/bin/passwd')).toMatchObject({ uid: 0, gid: 0, mode: 0o4755 });
    expect(statInImage(image, '/root/.ssh')).toMatchObject({ uid: 0, gid: 0, mode: 0o700 });
    expect(statInImage(image, '/root/.ssh/authorized_keys')).toMatchObject({ uid: 0, gid: 0, mode: 0o600 });
    expect(catInImage(image, '/root/.ssh/authorized_keys')).toBe(readFileSync(`${key}.pub`, 'utf8'));
    expect(catInImage(image, '/etc/shadow')).toMatch(/^root:[*!]/);
    const ls = spawnSync('debugfs', ['-R', 'ls /etc/ssh', `${image}?offset=${partitionOffset(image, 2)}`], { encoding: 'utf8' }).stdout;
    expect(ls).toContain('sshd_config');
    expect(ls).not.toMatch(/ssh_host_\w+_key/);
    expect(statInImage(image, '/etc/systemd/system/getty.target.wants/serial-getty@ttyS0.service')?.type).toBe('symlink');
    expect(catInImage(image, '/etc/systemd/network/80-cake-dhcp.network')).toContain('DHCP=yes');
    expect(catInImage(image, '/etc/hostname')).toBe('cakedeb\n');
  });

  it('boots with BIOS to a login prompt on the serial console, then SSH with the key works', async () => {
    const boot = startBoot(BAKE_HOME, [image, '--expect', 'CAKE-SSH-42', '--timeout', '600', '--', '-snapshot'], { CAKE_BOOT_FIRMWARE: 'bios' });
    const out = await bootAndSsh(boot, key);
    expect(boot.stderr()).toMatch(/with BIOS \(SeaBIOS\)/);
    expect(out.split('\n').slice(0, 4)).toEqual(['root', 'cakedeb', 'active', 'active']);
    expect(Number(out.split('\n')[4])).toBeGreaterThanOrEqual(2);
    expect(boot.console()).toMatch(/cakedeb login:/);
  }, 700_000);

  it('boots the env\'s own kernel from a qcow2 image with EFI (OVMF), and SSH works', async () => {
    const qcow = join(work, 'debian-env-kernel.qcow2');
    const r = await cake(BAKE_HOME, ['bake', ENV, '-o', qcow, '--format', 'qcow2', '--boot', 'efi', '--kernel', 'env', '--ssh-key', `${key}.pub`, '--hostname', 'cakedeb']);
    expect(r.code, r.stderr).toBe(0);
    const release = /kernel: the env's kernel (\S+),/.exec(r.stderr)?.[1];
    expect(release).toBeDefined();
    const rootfs = join(BAKE_HOME, 'v1/envs', ENV, 'rootfs');
    expect(readdirSync(join(rootfs, 'boot'))).toContain(`vmlinuz-${release}`);
    expect(bzImageRelease(readFileSync(join(rootfs, 'boot', `vmlinuz-${release}`)))).toBe(release);
    const boot = startBoot(BAKE_HOME, [qcow, '--expect', 'CAKE-SSH-42', '--timeout', '600', '--', '-snapshot']);
    const out = await bootAndSsh(boot, key);
    expect(boot.stderr()).toMatch(/\(qcow2\) with EFI \(OVMF\)/);
    expect(out.split('\n')[0]).toBe('root');
    expect(boot.console()).toContain(`Linux version ${release}`);
  }, 700_000);
});
