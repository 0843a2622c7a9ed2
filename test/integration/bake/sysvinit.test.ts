/**
 * An env with sysvinit as its init (`--packages sysvinit-core,openssh-server`) and the seed
 * article's inittab edit (`sed -i 's/#T0/T0/' /etc/inittab`): the image boots the env's own
 * /sbin/init with that inittab — the user's serial getty, not a second one of cake's — and SSH
 * works with host keys made at first boot. One boot.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cake } from '../../helpers/cli.js';
import { BAKE_HOME, BAKE_TOOLS, catInImage, sshMarker, sshUntilUp, startBoot } from './harness.js';
import { missingCommands } from '../../helpers/tools.js';

const ENV = 'bake-sysv';

async function ensureEnv(): Promise<void> {
  const list = await cake(BAKE_HOME, ['list', '--json']);
  if (list.code !== 0 || !(JSON.parse(list.stdout) as Array<{ name: string }>).some((e) => e.name === ENV)) {
    const pull = await cake(BAKE_HOME, ['pull', 'debian:bookworm', '--name', ENV, '--packages', 'sysvinit-core,openssh-server', '--force']);
    if (pull.code !== 0) throw new Error(pull.stderr);
  }
  // the seed article's edit: the env's own serial getty (idempotent)
  const sed = await cake(BAKE_HOME, ['exec', ENV, '--', 'sed', '-i', 's/^#T0:/T0:/', '/etc/inittab']);
  if (sed.code !== 0) throw new Error(sed.stderr);
}

describe.skipIf(missingCommands(...BAKE_TOOLS, 'ssh', 'ssh-keygen'))('cake bake + boot: a sysvinit env with its own inittab (TCG unless KVM works)', () => {
  let work: string;
  let key: string;
  let image: string;
  let bakeErr: string;

  beforeAll(async () => {
    await ensureEnv();
    work = mkdtempSync(join(tmpdir(), 'cake-sysv-'));
    key = join(work, 'id_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'cake-sysv', '-f', key]);
    image = join(work, 'sysv.img');
    const r = await cake(BAKE_HOME, ['bake', ENV, '-o', image, '--ssh-key', `${key}.pub`, '--hostname', 'sysv', '--boot', 'bios']);
    expect(r.code, r.stderr).toBe(0);
    bakeErr = r.stderr;
  }, 900_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('keeps the env\'s inittab with its edit, adds only cake\'s boot step, and uses the env\'s init', () => {
    expect(bakeErr).toMatch(/baked .*sysv\.img \(raw, .*, sysvinit\)/);
    expect(bakeErr).not.toMatch(/cake's busybox init/);
    expect(bakeErr).toMatch(/^networking: the env has no DHCP client set up.*added cake's DHCP client/m);
    const tab = catInImage(image, '/etc/inittab');
    expect(tab).toMatch(/^T0:23:respawn:\/sbin\/getty -L ttyS0 9600 vt100$/m);
    expect(tab).toMatch(/^1:2345:respawn:\/sbin\/getty --noclear 38400 tty1$/m);
    expect(tab.match(/^[^#].*ttyS0/gm)).toHaveLength(1);
    expect(tab).toMatch(/^ck::sysinit:\/usr\/lib\/cake\/rc\.sysv$/m);
  });

  it('boots its own /sbin/init to the env\'s serial getty; SSH works with the key and host keys made at boot', async () => {
    const boot = startBoot(BAKE_HOME, [image, '--expect', 'CAKE-SYSV-OK', '--timeout', '900', '--', '-snapshot']);
    try {
      await boot.waitFor('sysv login:', 600);
      expect(boot.console()).toMatch(/INIT: version/);
      const port = await boot.sshPort();
      const out = (await sshUntilUp(key, port, 'id -un; readlink /proc/1/exe; ls /etc/ssh | grep -c "^ssh_host_.*_key$"; for p in /proc/[0-9]*; do tr "\\0" " " < $p/cmdline; echo; done | grep -c "^/sbin/getty.* tty1"', 200)).split('\n');
      expect(out[0]).toBe('root');
      expect(out[1]).toMatch(/^(\/usr)?\/sbin\/init$/);
      expect(Number(out[2])).toBeGreaterThanOrEqual(2);
      expect(Number(out[3])).toBe(1);
      sshMarker(key, port, 'CAKE-SYSV-OK');
      expect(await boot.done, boot.stderr()).toBe(0);
    } finally {
      boot.kill();
    }
  }, 1_000_000);
});
