/**
 * The journey of issue 10: `cake pull debian:bookworm --packages systemd-sysv,openssh-server` (no
 * udev, no dbus, no DHCP client, no kernel), `cake bake`, `cake boot`: a login prompt on the serial
 * console, SSH with the key, the comforts checked inside the booted machine, and a second copy
 * (qcow2, EFI) that makes its own host keys. Two boots in all.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cake } from '../../helpers/cli.js';
import { BAKE_HOME, BAKE_TOOLS, catInImage, sshMarker, sshUntilUp, startBoot } from './harness.js';
import { missingCommands } from '../../helpers/tools.js';

const ENV = 'bake-noudev';

async function ensureEnv(): Promise<void> {
  const list = await cake(BAKE_HOME, ['list', '--json']);
  if (list.code === 0 && (JSON.parse(list.stdout) as Array<{ name: string }>).some((e) => e.name === ENV)) return;
  const pull = await cake(BAKE_HOME, ['pull', 'debian:bookworm', '--name', ENV, '--packages', 'systemd-sysv,openssh-server', '--force']);
  if (pull.code !== 0) throw new Error(pull.stderr);
}

/** Every entry of the env with its ctime and link count: bake must change none of them. */
function envInodes(): string {
  return execFileSync('find', [join(BAKE_HOME, 'v1/envs', ENV, 'rootfs'), '-printf', '%C@ %n %p\\n'], { encoding: 'utf8', maxBuffer: 1 << 28 });
}

/** What the test asks the booted machine, one answer per line. */
const PROBE = [
  'id -un',
  'systemctl is-active serial-getty@ttyS0.service getty@tty1.service ssh.service cake-dhcp.service | tr "\\n" " "; echo',
  'cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -o "bookworm[a-z-]*" | sort -u | tr "\\n" " "; echo',
  'ip -4 -o addr show dev eth0 2>/dev/null | grep -o "inet [0-9.]*" || /usr/lib/cake/busybox ip -4 -o addr show dev eth0 | grep -o "inet [0-9.]*"',
  'getent hosts deb.debian.org >/dev/null && echo dns-ok || echo dns-failed',
  'ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub | cut -d" " -f2',
  'test -f /lib/modules/$(uname -r)/modules.dep.bin && echo modules-ok; grep -c "^autofs4 " /proc/modules',
  'awk -F: \'$1 == "root" { print $2 }\' /etc/shadow',
].join('; ');

describe.skipIf(missingCommands(...BAKE_TOOLS, 'ssh', 'ssh-keygen'))('the journey: a Debian env without udev bakes into a machine that logs in (TCG unless KVM works)', () => {
  let work: string;
  let key: string;
  let image: string;
  let bakeErr: string;
  let inodesBefore: string;
  let firstKey = '';

  beforeAll(async () => {
    await ensureEnv();
    work = mkdtempSync(join(tmpdir(), 'cake-journey-'));
    key = join(work, 'id_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'cake-journey', '-f', key]);
    image = join(work, 'vm.img');
    inodesBefore = envInodes();
    const r = await cake(BAKE_HOME, ['bake', ENV, '-o', image, '--ssh-key', `${key}.pub`, '--hostname', 'journey']);
    expect(r.code, r.stderr).toBe(0);
    bakeErr = r.stderr;
  }, 900_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('says in one line each what it added for what the env lacks, and leaves the env as it was (not even a ctime)', () => {
    expect(bakeErr).toMatch(/^networking: systemd-networkd waits for udev, which the env lacks; added cake's DHCP client/m);
    expect(bakeErr).toMatch(/^no udev in the env: serial-getty@\.service overridden/m);
    expect(bakeErr).toMatch(/^added the kernel's modules to the image: \/lib\/modules\/\S+ \(\d+ files/m);
    expect(bakeErr).toMatch(/baked .*vm\.img \(raw, .*, systemd\)/);
    expect(envInodes()).toBe(inodesBefore);
    expect(catInImage(image, '/etc/systemd/system/serial-getty@.service')).not.toContain('BindsTo=dev-%i.device');
  });

  it('boots with BIOS to a login prompt on the serial console that takes no password; SSH with the key; the comforts work inside', async () => {
    const boot = startBoot(BAKE_HOME, [image, '--expect', 'CAKE-JOURNEY-1', '--timeout', '900', '--', '-snapshot'], { CAKE_BOOT_FIRMWARE: 'bios' });
    try {
      await boot.waitFor('journey login:', 600);
      boot.send('root\n');
      await boot.waitFor('Password:', 60);
      boot.send('\n');
      await boot.waitFor('Login incorrect', 60);
      const port = await boot.sshPort();
      const out = (await sshUntilUp(key, port, PROBE, 200)).split('\n');
      expect(out[0]).toBe('root');
      expect(out[1]?.trim()).toBe('active active active active');
      expect(out[2]?.trim()).toBe('bookworm bookworm-security bookworm-updates');
      expect(out[3]).toMatch(/^inet 10\.0\.2\.\d+$/);
      expect(out[4]).toBe('dns-ok');
      expect(out[5]).toMatch(/^SHA256:/);
      firstKey = out[5] as string;
      expect(out[6]).toBe('modules-ok');
      expect(out[7]).toBe('1');
      expect(out[8]).toMatch(/^[*!]/);
      sshMarker(key, port, 'CAKE-JOURNEY-$((0+1))');
      expect(await boot.done, boot.stderr()).toBe(0);
    } finally {
      boot.kill();
    }
  }, 1_000_000);

  it('a second copy, qcow2 with EFI, boots and makes host keys of its own', async () => {
    const qcow = join(work, 'vm.qcow2');
    const r = await cake(BAKE_HOME, ['bake', ENV, '-o', qcow, '--format', 'qcow2', '--boot', 'efi', '--ssh-key', `${key}.pub`, '--hostname', 'journey']);
    expect(r.code, r.stderr).toBe(0);
    expect(spawnSync('qemu-img', ['info', qcow], { encoding: 'utf8' }).stdout).toMatch(/file format: qcow2/);
    const boot = startBoot(BAKE_HOME, [qcow, '--expect', 'CAKE-JOURNEY-2', '--timeout', '900', '--', '-snapshot']);
    try {
      await boot.waitFor('journey login:', 700);
      expect(boot.stderr()).toMatch(/\(qcow2\) with EFI \(OVMF\)/);
      const port = await boot.sshPort();
      const fp = (await sshUntilUp(key, port, 'ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub | cut -d" " -f2', 200)).trim();
      expect(fp).toMatch(/^SHA256:/);
      expect(firstKey).toMatch(/^SHA256:/);
      expect(fp).not.toBe(firstKey);
      sshMarker(key, port, 'CAKE-JOURNEY-$((1+1))');
      expect(await boot.done, boot.stderr()).toBe(0);
    } finally {
      boot.kill();
    }
  }, 1_000_000);
});
