import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAKE, cake } from '../../helpers/cli.js';
import { createBusyboxRootfs, haveBusybox } from '../../helpers/busybox-rootfs.js';
import { BAKE_HOME, BAKE_TOOLS, catInImage, partitionOffset, sha256File, startBoot, statInImage } from './harness.js';
import { missing, missingCommands } from '../../helpers/tools.js';

const MIB = 1024 * 1024;
const PASSWORD = 'cake-test-pw';

describe.skipIf(missing('busybox-static', haveBusybox()) || missingCommands(...BAKE_TOOLS))('cake bake + boot: a busybox env (TCG unless KVM works)', () => {
  let work: string;
  let tarball: string;
  let image: string;
  let first: { code: number; stderr: string };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'cake-bake-bb-'));
    chmodSync(work, 0o755);
    const bb = createBusyboxRootfs(join(work, 'rootfs'));
    // Real-world shapes: a setuid file, a group-owned secret, a home owned by a user.
    writeFileSync(join(bb.root, 'etc/secret'), 'shh\n');
    writeFileSync(join(bb.root, 'bin/suid-tool'), '#!/bin/sh\nid\n');
    chmodSync(join(bb.root, 'bin/suid-tool'), 0o4755);
    writeFileSync(join(bb.root, 'home/cakeuser/.profile'), 'PS1="$ "\n');
    tarball = join(work, 'bb.tar');
    const tar = (...a: string[]): void => void execFileSync('tar', ['-C', bb.root, '--numeric-owner', ...a]);
    tar('--owner=0', '--group=0', '--exclude=./home/cakeuser', '--exclude=./etc/secret', '-cf', tarball, '.');
    tar('--owner=1234', '--group=1234', '-rf', tarball, './home/cakeuser');
    tar('--owner=0', '--group=42', '--mode=0640', '-rf', tarball, './etc/secret');
    chmodSync(tarball, 0o644);
    const imp = await cake(BAKE_HOME, ['import', tarball, '--name', 'bake-bb', '--force']);
    expect(imp.code, imp.stderr).toBe(0);
    image = join(work, 'bb.img');
    first = await cake(BAKE_HOME, ['bake', 'bake-bb', '-o', image, '--password', PASSWORD, '--hostname', 'bbtest', '--cmdline', 'cake.test=yes']);
    expect(first.code, first.stderr).toBe(0);
  }, 600_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('bakes a GPT image with a legacy-bootable ESP and an ext4 root, warning about --password', async () => {
    expect(first.stderr).toMatch(/warning: --password bakes a root password/);
    expect(first.stderr).toMatch(/baked .*bb\.img \(raw, .*BIOS\+EFI, busybox\)/);
    const dump = execFileSync('sfdisk', ['-d', image], { encoding: 'utf8' });
    expect(dump).toMatch(/start=\s*2048, .*type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B.*attrs="LegacyBIOSBootable"/);
    expect(dump).toMatch(/type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709.*name="root"/);
    const fsck = spawnSync('e2fsck', ['-fn', `${image}?offset=${partitionOffset(image, 2)}`], { encoding: 'utf8' });
    expect(fsck.status, fsck.stdout + fsck.stderr).toBe(0);
    const esp = execFileSync('mdir', ['-a', '-b', '-i', `${image}@@${partitionOffset(image, 1)}`, '::/'], { encoding: 'utf8', env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
    for (const f of ['vmlinuz', 'initrd.img', 'syslinux.cfg', 'ldlinux.sys', 'EFI']) expect(esp).toContain(f);
  });

  it('gives the files in the image their real owners and modes (from the ownership table)', () => {
    expect(statInImage(image, '/etc/secret')).toMatchObject({ uid: 0, gid: 42, mode: 0o640 });
    expect(statInImage(image, '/bin/suid-tool')).toMatchObject({ uid: 0, gid: 0, mode: 0o4755 });
    expect(statInImage(image, '/home/cakeuser/.profile')).toMatchObject({ uid: 1234, gid: 1234 });
    expect(statInImage(image, '/etc/passwd')).toMatchObject({ uid: 0, gid: 0, mode: 0o644 });
    expect(statInImage(image, '/dev/console')).toMatchObject({ type: 'character special', uid: 0, mode: 0o600 });
    expect(statInImage(image, '/tmp')).toMatchObject({ mode: 0o1777 });
    expect(catInImage(image, '/etc/hostname')).toBe('bbtest\n');
    // Times: access and change times are the modification time (no trace of when the bake ran).
    for (const p of ['/etc/passwd', '/bin/sh', '/etc/hostname', '/usr/lib/cake', '/']) {
      const st = statInImage(image, p);
      expect(st?.ctime, p).toBe(st?.mtime);
      expect(st?.atime, p).toBe(st?.mtime);
      expect(st?.mtime, p).toBeLessThanOrEqual(Date.now() / 1000);
    }
    expect(catInImage(image, '/etc/shadow')).toMatch(/^root:\$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}:/);
    expect(catInImage(image, '/etc/fstab')).toMatch(/^UUID=[0-9a-f-]{36}\t\/\text4/m);
  });

  it('bakes the same bytes again (also from a second import of the tarball), with nothing downloaded (the network is cut) — raw and qcow2', async () => {
    const offline = { http_proxy: 'http://127.0.0.1:9', HTTP_PROXY: 'http://127.0.0.1:9', https_proxy: 'http://127.0.0.1:9', HTTPS_PROXY: 'http://127.0.0.1:9', NO_PROXY: '', no_proxy: '' };
    const again = join(work, 'bb-again.img');
    const r = await cake(BAKE_HOME, ['bake', 'bake-bb', '-o', again, '--password', PASSWORD, '--hostname', 'bbtest', '--cmdline', 'cake.test=yes'], { env: offline });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/reading the Debian|unpacking/);
    expect(await sha256File(again)).toBe(await sha256File(image));
    // Another import of the same tarball is the same env: same tree hash, same image.
    expect((await cake(BAKE_HOME, ['import', tarball, '--name', 'bake-bb2', '--force'])).code).toBe(0);
    const other = await cake(BAKE_HOME, ['bake', 'bake-bb2', '-o', again, '--password', PASSWORD, '--hostname', 'bbtest', '--cmdline', 'cake.test=yes'], { env: offline });
    expect(other.code, other.stderr).toBe(0);
    expect(await sha256File(again)).toBe(await sha256File(image));
    const q1 = join(work, 'a.qcow2');
    const q2 = join(work, 'b.qcow2');
    for (const q of [q1, q2]) {
      const rq = await cake(BAKE_HOME, ['bake', 'bake-bb', '-o', q, '--format', 'qcow2', '--boot', 'efi'], { env: offline });
      expect(rq.code, rq.stderr).toBe(0);
    }
    expect(execFileSync('qemu-img', ['info', q1], { encoding: 'utf8' })).toMatch(/file format: qcow2/);
    expect(await sha256File(q1)).toBe(await sha256File(q2));
    // The same tree with other file times (as from a second cook a minute later): the image's
    // identity comes from what the tree hash covers, so with SOURCE_DATE_EPOCH (which clamps the
    // times) the bytes are the same, with no CAKE_BAKE_SEED.
    const sde = { ...offline, SOURCE_DATE_EPOCH: '1000' };
    const s1 = join(work, 's1.img');
    const s2 = join(work, 's2.img');
    expect((await cake(BAKE_HOME, ['bake', 'bake-bb', '-o', s1, '--hostname', 'bbtest'], { env: sde })).code).toBe(0);
    const later = Date.now() / 1000 + 60;
    for (const f of ['etc/passwd', 'bin/busybox']) utimesSync(join(BAKE_HOME, 'v1/envs/bake-bb2/rootfs', f), later, later);
    const r2 = await cake(BAKE_HOME, ['bake', 'bake-bb2', '-o', s2, '--hostname', 'bbtest'], { env: sde });
    expect(r2.code, r2.stderr).toBe(0);
    expect(await sha256File(s2)).toBe(await sha256File(s1));
    rmSync(again);
  }, 300_000);

  it('boots with BIOS (syslinux) to the serial console, logs in as root and runs a shell command', async () => {
    const boot = startBoot(BAKE_HOME, [image, '--expect', 'CAKE-OK-42', '--timeout', '280', '--memory', '384', '--', '-snapshot'], { CAKE_BOOT_FIRMWARE: 'bios' });
    try {
      await boot.waitFor('login:', 240);
      expect(boot.stderr()).toMatch(/with BIOS \(SeaBIOS\), (TCG|KVM)/);
      expect(boot.console()).toContain('cake: bbtest is up');
      boot.send('root\n');
      await boot.waitFor('Password:', 30);
      boot.send(`${PASSWORD}\n`);
      await boot.waitFor('# ', 30);
      boot.send('cat /proc/cmdline; ip -4 addr show eth0; ip route; grep MemTotal /proc/meminfo; id; echo CAKE-OK-$((6*7))\n');
      expect(await boot.done).toBe(0);
      const session = boot.console().slice(boot.console().lastIndexOf('cat /proc/cmdline'));
      expect(session).toMatch(/root=UUID=[0-9a-f-]{36} rw console=tty0 console=ttyS0,115200n8 net\.ifnames=0 cake\.test=yes/);
      // DHCP from QEMU's user-mode network, brought up by cake's busybox init
      expect(session).toMatch(/inet 10\.0\.2\.15\/24/);
      expect(session).toMatch(/default via 10\.0\.2\.2 dev eth0/);
      expect(Number(/MemTotal:\s+(\d+) kB/.exec(session)?.[1])).toBeLessThan(384 * 1024);
      expect(session).toMatch(/uid=0\(root\)/);
    } finally {
      boot.kill();
    }
  }, 300_000);

  it('boots with EFI (OVMF + systemd-boot) to a login prompt', async () => {
    const efi = join(work, 'bb-efi.img');
    const r = await cake(BAKE_HOME, ['bake', 'bake-bb', '-o', efi, '--boot', 'efi', '--hostname', 'bbefi']);
    expect(r.code, r.stderr).toBe(0);
    expect(execFileSync('sfdisk', ['-d', efi], { encoding: 'utf8' })).not.toContain('LegacyBIOSBootable');
    const boot = startBoot(BAKE_HOME, [efi, '--expect', 'bbefi login:', '--timeout', '280', '--', '-snapshot']);
    expect(await boot.done, boot.stderr() + boot.console().slice(-2000)).toBe(0);
    expect(boot.stderr()).toMatch(/with EFI \(OVMF\)/);
    // the env has no SSH server: no forward is announced (the image says so in its ESP)
    expect(boot.stderr()).not.toMatch(/ssh -p \d+/);
  }, 300_000);

  it('in a terminal, the console is raw and Ctrl-A X stops the guest, as with qemu -nographic', async () => {
    // script(1) gives cake boot a terminal on stdin and stdout
    const child = spawn('script', ['-qfec', `${CAKE} boot ${image} -- -snapshot`, '/dev/null'], { env: { ...process.env, CAKE_HOME: BAKE_HOME, CAKE_BOOT_FIRMWARE: 'bios', NO_COLOR: '1' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    const done = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 1)));
    const until = Date.now() + 120_000;
    while (!/SeaBIOS|Linux version/.test(out) && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
    expect(out).toMatch(/Ctrl-A X stops the guest/);
    child.stdin.write('\x01x');
    const code = await Promise.race([done, new Promise<number>((r) => setTimeout(() => r(-1), 60_000))]);
    if (code === -1) child.kill('SIGKILL');
    expect(code, out.slice(-1500)).toBe(0);
    expect(out).toMatch(/QEMU: Terminated/);
    expect(spawnSync('pgrep', ['-f', `qemu-system-x86_64 .*${image}`]).status).toBe(1);
  }, 200_000);

  it('exits 1 when the expected text does not come in time, and stops the guest', async () => {
    const boot = startBoot(BAKE_HOME, [image, '--expect', 'never printed', '--timeout', '4', '--', '-snapshot'], { CAKE_BOOT_FIRMWARE: 'bios' });
    expect(await boot.done).toBe(1);
    expect(boot.stderr()).toMatch(/^cake boot: "never printed" did not appear on the console within 4 s$/m);
    expect(spawnSync('pgrep', ['-f', `qemu-system-x86_64 .*${image}`]).status).toBe(1);
  }, 60_000);

  it('says on the console that the root filesystem is not found, and opens a rescue shell', async () => {
    const dir = join(work, 'boot-files');
    mkdirSync(dir);
    const esp = `${image}@@${partitionOffset(image, 1)}`;
    execFileSync('mcopy', ['-i', esp, '::/vmlinuz', '::/initrd.img', dir], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
    const boot = startBoot(BAKE_HOME, [
      image, '--expect', 'dropping to a rescue shell', '--timeout', '200', '--',
      '-snapshot', '-kernel', join(dir, 'vmlinuz'), '-initrd', join(dir, 'initrd.img'),
      '-append', 'console=ttyS0 root=UUID=00000000-0000-4000-8000-000000000000 cake.rootwait=2',
    ], { CAKE_BOOT_FIRMWARE: 'bios' });
    expect(await boot.done, boot.console().slice(-2000)).toBe(0);
    expect(boot.console()).toContain('cake-init: the root filesystem was not found: no device has UUID=00000000-0000-4000-8000-000000000000');
    expect(boot.console()).toMatch(/cake-init: block devices seen: .*vda/);
  }, 300_000);

  it('fails with one clear error for bad input and leaves no partial image', async () => {
    const out = join(work, 'bad');
    mkdirSync(out);
    const cases: Array<[string[], RegExp]> = [
      [['bake', 'no-such-env', '-o', join(out, 'x.img')], /^cake: no environment named no-such-env$/m],
      [['bake', 'bake-bb', '-o', join(out, 'x.img'), '--size', '70M'], /^cake: --size 70 MiB is too small: the image needs at least \d+ MiB/m],
      [['bake', 'bake-bb', '-o', join(out, 'x.img'), '--kernel', 'env'], /^cake: environment bake-bb has no kernel \(no \/boot\/vmlinuz-\*\)$/m],
      [['bake', 'bake-bb', '-o', join(out, 'x.img'), '--kernel', join(out, 'bzImage')], /^cake: kernel .*bzImage: no such file$/m],
      [['bake', 'bake-bb', '-o', join(out, 'x.img'), '--kernel', tarball], /^cake: kernel .* is not an x86 bzImage/m],
      [['bake', 'bake-bb', '-o', join(out, 'x.img'), '--ssh-key', join(out, 'none.pub')], /^cake: --ssh-key .*none\.pub: no such file$/m],
      [['boot', join(out, 'none.img')], /^cake: cannot read the image .*none\.img: no such file$/m],
    ];
    for (const [args, message] of cases) {
      const r = await cake(BAKE_HOME, args);
      expect(r.code, r.stderr).toBe(args.includes('--ssh-key') ? 2 : 1);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.match(/^cake: /gm)).toHaveLength(1);
      expect(readdirSync(out)).toEqual([]);
    }
    // Work directories of commands that are gone (others may be running in parallel test files).
    const alive = (pid: number): boolean => spawnSync('kill', ['-0', String(pid)]).status === 0;
    const left = readdirSync(join(BAKE_HOME, 'v1/store/tmp')).filter((f) => /^(bake|boot)-\d+-/.test(f) && !alive(Number(f.split('-')[1])));
    expect(left).toEqual([]);
  }, 300_000);

  it('bakes as an unprivileged user (nobody): no root, no mount, no loop device', async () => {
    const nobody = join(work, 'nobody-home');
    mkdirSync(nobody);
    // Seed the store with what the bakes above fetched, so this run needs no network either.
    for (const sub of ['v1/store/blobs', 'cache/v1/bake']) cpSync(join(BAKE_HOME, sub), join(nobody, sub), { recursive: true });
    execFileSync('chown', ['-R', '65534:65534', nobody]);
    const img = join(nobody, 'nobody.img');
    const run = (...args: string[]) =>
      spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', 'env', `CAKE_HOME=${nobody}`, `HOME=${nobody}`, 'NO_COLOR=1', CAKE, ...args], { encoding: 'utf8' });
    const imp = run('import', tarball, '--name', 'bb');
    expect(imp.status, imp.stderr).toBe(0);
    // The kernel as a path and its modules directory (the one cake unpacked for the bakes above).
    const kernels = join(BAKE_HOME, 'cache/v1/bake/kernels');
    const kdir = join(kernels, readdirSync(kernels).filter((d) => existsSync(join(kernels, d, 'release')))[0] as string);
    const release = readFileSync(join(kdir, 'release'), 'utf8').trim();
    const r = run('bake', 'bb', '-o', img, '--boot', 'bios', '--size', `${200}M`, '--kernel', join(kdir, 'vmlinuz'), '--modules', join(kdir, 'modules', release));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain(`kernel: kernel ${join(kdir, 'vmlinuz')} (${release}), `);
    expect(existsSync(img)).toBe(true);
    expect(spawnSync('stat', ['-c', '%s %u', img], { encoding: 'utf8' }).stdout.trim()).toBe(`${200 * MIB} 65534`);
    // Owned by nobody on disk, by root (and 1234, 42) inside.
    expect(statInImage(img, '/bin/busybox')).toMatchObject({ uid: 0, gid: 0, mode: 0o755 });
    expect(statInImage(img, '/etc/secret')).toMatchObject({ uid: 0, gid: 42, mode: 0o640 });
    expect(statInImage(img, '/home/cakeuser')).toMatchObject({ uid: 1234, gid: 1234 });
    expect(statInImage(img, '/bin/suid-tool')).toMatchObject({ uid: 0, mode: 0o4755 });
    expect(statInImage(img, '/')).toMatchObject({ uid: 0, gid: 0, mode: 0o755 });
    // The same env baked by root and by nobody: the same root filesystem contents.
    expect(catInImage(img, '/etc/inittab')).toBe(catInImage(image, '/etc/inittab'));
    // It boots (as root here: /dev/kvm is root's on this kind of host, TCG is fine).
    const boot = startBoot(BAKE_HOME, [img, '--expect', 'bb login:', '--timeout', '240', '--', '-snapshot']);
    expect(await boot.done, boot.console().slice(-1500)).toBe(0);
    expect(boot.stderr()).toMatch(/with BIOS \(SeaBIOS\)/);
    chownSync(nobody, 0, 0);
  }, 400_000);
});
