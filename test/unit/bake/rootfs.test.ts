import { spawnSync } from 'node:child_process';
import { chmodSync, lstatSync, lutimesSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { OwnershipTable } from '../../../src/model/ownership.js';
import { estimateExt4, fixupScript } from '../../../src/bake/ext4.js';
import { busyboxSystem, netFiles } from '../../../src/bake/guest-busybox.js';
import { resolveInRoot } from '../../../src/run/guest-path.js';
import { systemdSystem } from '../../../src/bake/guest-systemd.js';
import { sysvSystem } from '../../../src/bake/guest-sysv.js';
import { INITRAMFS_INIT, initramfsConf } from '../../../src/bake/init-script.js';
import { prepareRootfs } from '../../../src/bake/rootfs-prepare.js';
import { buildFarm, walkTree } from '../../../src/bake/rootfs-tree.js';
import { missingCommands } from '../../helpers/tools.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tree(files: Record<string, string>, links: Record<string, string> = {}): string {
  const root = mkdtempSync(join(tmpdir(), 'cake-tree-'));
  dirs.push(root);
  for (const [p, content] of Object.entries(files)) {
    mkdirSync(join(root, p, '..'), { recursive: true });
    if (p.endsWith('/')) mkdirSync(join(root, p), { recursive: true });
    else writeFileSync(join(root, p), content);
  }
  for (const [p, target] of Object.entries(links)) {
    mkdirSync(join(root, p, '..'), { recursive: true });
    symlinkSync(target, join(root, p));
  }
  return root;
}

const T = 1_600_000_000;
async function setTimes(root: string): Promise<void> {
  const walk = await walkTree(root, {}, { hashContents: false });
  for (const e of walk.entries.reverse()) (e.kind === 'symlink' ? lutimesSync : utimesSync)(e.rel.length ? join(root, e.rel.toString()) : root, T, T);
}

describe('tree walk and hash', () => {
  it('hashes content, names and real ownership, not the inode times of the extraction', async () => {
    const a = tree({ 'etc/passwd': 'root:x:0:0::/root:/bin/sh\n', 'bin/sh': 'ELF' }, { 'sbin/init': '/bin/sh' });
    const b = tree({ 'etc/passwd': 'root:x:0:0::/root:/bin/sh\n', 'bin/sh': 'ELF' }, { 'sbin/init': '/bin/sh' });
    await setTimes(a);
    await setTimes(b);
    const ha = await walkTree(a, {}, { hashContents: true });
    expect((await walkTree(b, {}, { hashContents: true })).treeHash).toBe(ha.treeHash);
    // the same tree with other file times (a second cook a minute later): the same identity
    utimesSync(join(b, 'etc/passwd'), T + 60, T + 60);
    expect((await walkTree(b, {}, { hashContents: true })).treeHash).toBe(ha.treeHash);
    utimesSync(join(b, 'etc/passwd'), T, T);
    const owned: OwnershipTable = { 'bin/sh': { uid: 0, gid: 0, mode: 0o4755 } };
    expect((await walkTree(b, owned, { hashContents: true })).treeHash).not.toBe(ha.treeHash);
    writeFileSync(join(b, 'bin/sh'), 'ELG');
    utimesSync(join(b, 'bin/sh'), T, T);
    expect((await walkTree(b, {}, { hashContents: true })).treeHash).not.toBe(ha.treeHash);
    expect(ha.entries.map((e) => e.rel.toString())).toEqual(['', 'bin', 'bin/sh', 'etc', 'etc/passwd', 'sbin', 'sbin/init']);
    expect(ha.newestMtime).toBe(T);
  });

  it('mirrors the tree as copies that the overlay replaces without touching the env, not even its ctimes', async () => {
    const env = tree({ 'etc/hostname': 'old\n', 'etc/passwd': 'root:x:0:0::/root:/bin/sh\n', 'bin/busybox': 'ELF', 'tmp/': '' }, { 'bin/sh': 'busybox' });
    chmodSync(join(env, 'tmp'), 0o1777);
    const farm = join(mkdtempSync(join(tmpdir(), 'cake-farm-')), 'tree');
    dirs.push(join(farm, '..'));
    const before = lstatSync(join(env, 'bin/busybox'));
    buildFarm(env, await walkTree(env, {}, { hashContents: false }), farm);
    const after = lstatSync(join(env, 'bin/busybox'));
    expect(after.ctimeMs).toBe(before.ctimeMs);
    expect(after.nlink).toBe(1);
    expect(lstatSync(join(farm, 'bin/busybox')).ino).not.toBe(after.ino);
    expect(readFileSync(join(farm, 'bin/busybox'), 'utf8')).toBe('ELF');
    expect(lstatSync(join(farm, 'bin/busybox')).mtimeMs).toBe(before.mtimeMs);
    expect(readlinkSync(join(farm, 'bin/sh'))).toBe('busybox');
    expect(lstatSync(join(farm, 'tmp')).mode & 0o7777).toBe(0o1777);
    writeFileSync(join(farm, 'x'), '');
    const r = prepareRootfs({ farm, ownership: {}, hostname: 'box', rootFsUuid: 'u-u-i-d', busybox: Buffer.from('BB'), sourceDateEpoch: T });
    expect(readFileSync(join(env, 'etc/hostname'), 'utf8')).toBe('old\n');
    expect(readFileSync(join(farm, 'etc/hostname'), 'utf8')).toBe('box\n');
    expect(r.kind).toBe('busybox');
    expect(r.init).toBe('/usr/lib/cake/init');
    expect(readFileSync(join(farm, 'usr/lib/cake/busybox'), 'utf8')).toBe('BB');
    expect(readFileSync(join(farm, 'etc/fstab'), 'utf8')).toContain('UUID=u-u-i-d\t/\text4');
    expect(readFileSync(join(farm, 'etc/inittab'), 'utf8')).toContain('ttyS0::respawn:/usr/lib/cake/busybox getty -l /usr/lib/cake/login');
    expect(r.devices.map((d) => d.path)).toEqual(['dev/console', 'dev/null']);
    expect(r.owners.get('usr/lib/cake/busybox')).toEqual({ uid: 0, gid: 0, mode: 0o755 });
    expect(lstatSync(join(farm, 'etc/hostname')).mtimeMs / 1000).toBe(T);
  });
});

describe('the farm keeps sparse files sparse', () => {
  const sparse = (size: number): string => {
    const env = tree({ 'etc/hostname': 'h\n', 'giant': '' });
    truncateSync(join(env, 'giant'), size);
    return env;
  };
  it('with GNU cp: a 200 GiB sparse file takes no space in the farm', async () => {
    const env = sparse(200 * 2 ** 30);
    const farm = join(mkdtempSync(join(tmpdir(), 'cake-farm-')), 'tree');
    dirs.push(join(farm, '..'));
    buildFarm(env, await walkTree(env, {}, { hashContents: false }), farm);
    const st = lstatSync(join(farm, 'giant'));
    expect(st.size).toBe(200 * 2 ** 30);
    expect(st.blocks * 512).toBeLessThan(1 << 20);
  });
  it("without cp (cake's own copy loop): the same", async () => {
    const env = sparse(64 << 20);
    const farm = join(mkdtempSync(join(tmpdir(), 'cake-farm-')), 'tree');
    dirs.push(join(farm, '..'));
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      buildFarm(env, await walkTree(env, {}, { hashContents: false }), farm);
    } finally {
      process.env.PATH = path;
    }
    const st = lstatSync(join(farm, 'giant'));
    expect(st.size).toBe(64 << 20);
    expect(st.blocks).toBe(0);
    expect(readFileSync(join(farm, 'etc/hostname'), 'utf8')).toBe('h\n');
  });
});

describe('the system files of a baked env', () => {
  async function farmOf(files: Record<string, string>, links: Record<string, string> = {}): Promise<string> {
    const env = tree(files, links);
    const farm = join(mkdtempSync(join(tmpdir(), 'cake-farm-')), 'tree');
    dirs.push(join(farm, '..'));
    buildFarm(env, await walkTree(env, {}, { hashContents: false }), farm);
    return farm;
  }

  it('systemd: serial getty, networkd with DHCP, host keys at first boot, none baked, machine-id emptied', async () => {
    const farm = await farmOf(
      {
        'lib/systemd/systemd': 'ELF',
        'lib/systemd/system/systemd-journald.service': '',
        'lib/systemd/systemd-udevd': 'ELF',
        'lib/systemd/system/serial-getty@.service': '',
        'lib/systemd/system/systemd-networkd.service': '',
        'lib/systemd/system/ssh.service': '',
        'etc/ssh/ssh_host_ed25519_key': 'PRIVATE',
        'etc/ssh/ssh_host_ed25519_key.pub': 'PUBLIC',
        'etc/ssh/sshd_config': '',
        'etc/machine-id': '0123456789abcdef0123456789abcdef\n',
        'etc/passwd': 'root:x:0:0:root:/root:/bin/bash\n',
        'etc/shadow': 'root:*:19000:0:99999:7:::\n',
        'root/': '',
      },
      { 'sbin/init': '/lib/systemd/systemd' },
    );
    const r = prepareRootfs({ farm, ownership: { 'etc/shadow': { uid: 0, gid: 42, mode: 0o640 } }, hostname: 'web', rootFsUuid: 'x', sshKeys: 'ssh-ed25519 AAAA test', busybox: Buffer.alloc(0), sourceDateEpoch: T });
    expect(r.kind).toBe('systemd');
    expect(r.init).toBe('/sbin/init');
    expect(readlinkSync(join(farm, 'etc/systemd/system/getty.target.wants/serial-getty@ttyS0.service'))).toBe('/lib/systemd/system/serial-getty@.service');
    expect(readlinkSync(join(farm, 'etc/systemd/system/multi-user.target.wants/systemd-networkd.service'))).toBe('/lib/systemd/system/systemd-networkd.service');
    expect(readFileSync(join(farm, 'etc/systemd/network/80-cake-dhcp.network'), 'utf8')).toContain('DHCP=yes');
    expect(readFileSync(join(farm, 'etc/systemd/system/cake-ssh-host-keys.service'), 'utf8')).toContain('ExecStart=/usr/bin/ssh-keygen -A');
    expect(readFileSync(join(farm, 'etc/systemd/system/ssh.service.d/cake-host-keys.conf'), 'utf8')).toContain('After=cake-ssh-host-keys.service');
    expect(lstatSync(join(farm, 'etc/ssh/ssh_host_ed25519_key'), { throwIfNoEntry: false })).toBeUndefined();
    expect(lstatSync(join(farm, 'etc/ssh/sshd_config')).isFile()).toBe(true);
    expect(readFileSync(join(farm, 'etc/machine-id'), 'utf8')).toBe('');
    expect(readFileSync(join(farm, 'root/.ssh/authorized_keys'), 'utf8')).toBe('ssh-ed25519 AAAA test\n');
    expect(r.owners.get('root/.ssh/authorized_keys')).toEqual({ uid: 0, gid: 0, mode: 0o600 });
    expect(r.owners.get('root/.ssh')).toEqual({ uid: 0, gid: 0, mode: 0o700 });
    expect(readFileSync(join(farm, 'etc/shadow'), 'utf8')).toBe('root:*:19000:0:99999:7:::\n');
  });

  it('locks an empty root password; --password replaces the hash and keeps the owner of /etc/shadow', async () => {
    const files = { 'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\nbin:x:1:1::/:/bin/false\n', 'etc/shadow': 'root::19000:0:99999:7:::\nbin:*:19000::::::\n' };
    const locked = await farmOf(files);
    const r = prepareRootfs({ farm: locked, ownership: {}, hostname: 'h', rootFsUuid: 'x', busybox: Buffer.alloc(0), sourceDateEpoch: T });
    expect(readFileSync(join(locked, 'etc/shadow'), 'utf8').split('\n')[0]).toBe('root:*:19000:0:99999:7:::');
    expect(r.notes.join(' ')).toMatch(/empty password/);
    const set = await farmOf(files);
    const r2 = prepareRootfs({ farm: set, ownership: { 'etc/shadow': { uid: 0, gid: 42, mode: 0o640 } }, hostname: 'h', rootFsUuid: 'x', passwordHash: '$6$s$h', busybox: Buffer.alloc(0), sourceDateEpoch: T });
    expect(readFileSync(join(set, 'etc/shadow'), 'utf8')).toBe('root:$6$s$h:19000:0:99999:7:::\nbin:*:19000::::::\n');
    expect(r2.owners.get('etc/shadow')).toEqual({ uid: 0, gid: 42, mode: 0o640 });
    const noShadow = await farmOf({ 'etc/passwd': 'root::0:0:root:/root:/bin/sh\n' });
    prepareRootfs({ farm: noShadow, ownership: {}, hostname: 'h', rootFsUuid: 'x', passwordHash: '$6$s$h', busybox: Buffer.alloc(0), sourceDateEpoch: T });
    expect(readFileSync(join(noShadow, 'etc/shadow'), 'utf8')).toBe('root:$6$s$h:19000:0:99999:7:::\n');
    expect(readFileSync(join(noShadow, 'etc/passwd'), 'utf8')).toBe('root:x:0:0:root:/root:/bin/sh\n');
  });

  it('resolves guest paths inside the root, never on the host', async () => {
    const root = tree({ 'usr/lib/systemd/systemd': 'ELF' }, { lib: 'usr/lib', 'sbin/init': '/lib/systemd/systemd', 'etc/evil': '/../../../../etc/passwd' });
    expect(resolveInRoot(root, '/sbin/init')).toBe(`${root}/usr/lib/systemd/systemd`);
    expect(resolveInRoot(root, '/etc/evil')).toBeUndefined();
  });

  it('busybox system: OpenSSH started with host keys made at boot', async () => {
    const files = busyboxSystem({ login: '/bin/login', sshd: 'openssh' });
    const rc = files.find((f) => f.path === 'usr/lib/cake/rc.boot')?.content ?? '';
    expect(rc).toContain('/usr/bin/ssh-keygen -A');
    expect(rc).toContain('/usr/lib/cake/rc.net');
    expect(netFiles('/usr/lib/cake/busybox').find((f) => f.path === 'usr/lib/cake/rc.net')?.content).toContain('udhcpc -i "$n"');
    expect(files.find((f) => f.path === 'etc/inittab')?.content).toContain('getty -l /bin/login -L 115200 ttyS0');
    expect(files.some((f) => f.path === 'usr/lib/cake/login')).toBe(false);
    expect(systemdSystem({ unitDir: '/lib/systemd/system', has: () => false, exists: () => false, read: () => undefined, udev: true, net: 'cake' }).notes).toHaveLength(1);
  });

  it.skipIf(missingCommands('sh'))('shell scripts parse', () => {
    const sysv = sysvSystem({ inittab: '', busyboxSyntax: false, net: 'cake', sshd: 'openssh', startsSshd: false }).files;
    const scripts = [INITRAMFS_INIT, ...[...busyboxSystem({}), ...netFiles('/bb'), ...sysv].flatMap((f) => (f.content?.startsWith('#!') ? [f.content] : []))];
    for (const s of scripts) expect(spawnSync('sh', ['-n'], { input: s }).status).toBe(0);
    expect(initramfsConf({ root: "UUID=a'b", init: '/sbin/init', release: '6.1', rootWait: 30 })).toBe("ROOT='UUID=a'\\''b'\nINIT='/sbin/init'\nRELEASE='6.1'\nROOTWAIT=30\n");
  });
});

describe('ext4 fix-up script and size', () => {
  it('sets owners, modes and times once per inode, quotes names, adds device nodes', async () => {
    const root = tree({ 'etc/shadow': 's', 'a "q".txt': 'x', 'bin/passwd': 'ELF' });
    chmodSync(join(root, 'bin/passwd'), 0o755);
    const walk = await walkTree(root, {}, { hashContents: false });
    const owners: OwnershipTable = { 'etc/shadow': { uid: 0, gid: 42, mode: 0o640 }, 'bin/passwd': { uid: 0, gid: 0, mode: 0o4755 } };
    const { script } = fixupScript({
      entries: walk.entries,
      owner: (e) => {
        const rec = owners[e.rel.toString()];
        return rec ?? { uid: 0, gid: 0, mode: e.st.mode & 0o7777 };
      },
      devices: [{ path: 'dev/console', kind: 'char', major: 5, minor: 1, owner: { uid: 0, gid: 0, mode: 0o600 } }],
      sourceDateEpoch: 1000,
    });
    const text = script.toString();
    expect(text).toContain('sif "/etc/shadow" gid 42\n');
    expect(text).toContain('sif "/etc/shadow" mode 0100640\n');
    expect(text).toContain('sif "/bin/passwd" mode 0104755\n');
    expect(text).toMatch(/sif "\/a ""q"".txt" atime @\d+\n/);
    expect(text).toContain('sif "/dev/console" crtime @1000\n');
    expect(text).toContain('cd "/dev"\nmknod console c 5 1\n');
    expect(text).toContain('sif "/dev/console" mode 020600\n');
    expect(text).toContain('sif / ctime');
    // the lifetime-writes counter differs between runs: the script ends by zeroing it
    expect(text.endsWith('ssv kbytes_written 0\n')).toBe(true);
  });

  it('estimates a size that grows with the content and leaves headroom', async () => {
    const small = await walkTree(tree({ a: 'x' }), {}, { hashContents: false });
    const e = estimateExt4(small.entries, 0);
    expect(e.autoBytes).toBeGreaterThan(e.minBytes);
    expect(e.minBytes % (1024 * 1024)).toBe(0);
    const big = tree({ big: '' });
    writeFileSync(join(big, 'big'), Buffer.alloc(50 * 1024 * 1024, 1));
    expect(estimateExt4((await walkTree(big, {}, { hashContents: false })).entries, 0).minBytes).toBeGreaterThan(e.minBytes + 50 * 1024 * 1024);
  });
});
