/**
 * `cake cook RECIPE --bake IMAGE` (issue 10.6): a recipe with an `image:` section cooks the env and
 * bakes it in one command through bake's use case, with the section's hostname, size, boot mode,
 * keys and command line; the image boots to a login prompt under QEMU (TCG unless KVM works). A
 * fresh CAKE_HOME; the kernel cache of the bake tests (test/.cache/bake/home) is copied in when
 * present so that the kernel is not downloaded again.
 */
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cake, freshHome } from '../../helpers/cli.js';
import { haveBusybox } from '../../helpers/busybox-rootfs.js';
import { BAKE_HOME, BAKE_TOOLS, catInImage, startBoot } from '../bake/harness.js';
import { busyboxTarball, removeHome } from './fixtures.js';
import { missing, missingCommands } from '../../helpers/tools.js';

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGNha2UtY29vay1iYWtlLXRlc3Qta2V5LTAwMDAwMDAw cook@test';

describe.skipIf(missing('busybox-static', haveBusybox()) || missingCommands(...BAKE_TOOLS))('cake cook --bake (built CLI, real QEMU)', () => {
  const h = freshHome('cake-cook-bake-');
  const home = h.home;
  const dir = mkdtempSync(join(tmpdir(), 'cake-cook-bake-work-'));

  beforeAll(() => {
    for (const sub of ['v1/store/blobs', 'cache/v1/bake']) if (existsSync(join(BAKE_HOME, sub))) cpSync(join(BAKE_HOME, sub), join(home, sub), { recursive: true });
    busyboxTarball(dir);
  });
  afterAll(() => {
    removeHome(home);
    rmSync(dir, { recursive: true, force: true });
  });

  it('cooks and bakes in one command as the image: section says, and the image boots', async () => {
    writeFileSync(
      join(dir, 'vm.yaml'),
      `name: vm
from: ./busybox-rootfs.tar.gz
steps:
  - file: /etc/motd
    content: "cooked and baked\\n"
  - path: /opt/vm/bin
  - env: { VM_ROLE: test }
image:
  hostname: cooked-vm
  size: 600M
  boot: bios
  keys: ["${KEY}"]
  cmdline: cake.cooked=yes
`,
    );
    const out = join(dir, 'vm.img');
    const r = await cake(home, ['cook', 'vm.yaml', '--bake', out], { cwd: dir });
    expect(r.code, r.stderr.slice(-2000)).toBe(0);
    const [line1, line2] = r.stdout.split('\n');
    expect(line1).toMatch(/^vm\tsha256:[0-9a-f]{64}$/);
    expect(line2).toBe(out);
    expect(r.stderr).toMatch(/baked .*vm\.img \(raw, 600\.0 MiB, BIOS, busybox\)/);
    expect(catInImage(out, '/etc/hostname')).toBe('cooked-vm\n');
    expect(catInImage(out, '/etc/motd')).toBe('cooked and baked\n');
    expect(catInImage(out, '/root/.ssh/authorized_keys')).toBe(`${KEY}\n`);
    // the recipe's variables reach the image's login shells and PAM logins
    expect(catInImage(out, '/etc/profile.d/cake-env.sh')).toContain("export PATH='/opt/vm/bin:/usr/local/sbin:");
    expect(catInImage(out, '/etc/profile.d/cake-env.sh')).toContain("export VM_ROLE='test'");
    expect(catInImage(out, '/etc/environment')).toMatch(/^VM_ROLE="test"$/m);
    const boot = startBoot(home, [out, '--expect', 'cooked-vm login:', '--timeout', '240', '--', '-snapshot']);
    expect(await boot.done, boot.console().slice(-1500)).toBe(0);
    expect(boot.console()).toContain('cake.cooked=yes');
    // a recipe whose image: section is wrong fails before any work, naming the key
    writeFileSync(join(dir, 'bad.yaml'), 'from: ./busybox-rootfs.tar.gz\nimage: { boot: floppy }\n');
    const bad = await cake(home, ['cook', 'bad.yaml', '--bake', join(dir, 'bad.img')], { cwd: dir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^cake: bad\.yaml:2 image\.boot: expected one of: bios, efi, both\nhint: /);
    expect(existsSync(join(dir, 'bad.img'))).toBe(false);
  }, 600_000);
});
