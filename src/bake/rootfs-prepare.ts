/**
 * Turns the farm (a hard-link mirror of the env, rootfs-tree.ts) into the tree of a bootable
 * system, without writing to the env: fstab, host name, the init (systemd units or cake's busybox
 * system), SSH: authorized_keys for root, no baked host keys; no default password (an empty root
 * password is locked; `--password` sets one); a fresh machine-id on first boot; the mount points
 * and the two device nodes needed before devtmpfs. Files are always replaced (unlinked, then
 * written), never written through a link.
 */
import { chmodSync, lstatSync, lutimesSync, mkdirSync, readdirSync, readlinkSync, rmSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { getOwner, type OwnershipTable } from '../model/ownership.js';
import type { DeviceNode, Owner } from './ext4.js';
import { aptSources } from './guest-apt.js';
import { planBoot, type InitKind } from './guest-boot.js';
import { CAKE_LIB, type GuestFile } from './guest-busybox.js';
import { existsInRoot, readInRoot, resolveInRoot } from '../run/guest-path.js';

export interface PrepareInput {
  farm: string;
  /** The env's ownership table (owners of files that are replaced are kept). */
  ownership: OwnershipTable;
  hostname: string;
  rootFsUuid: string;
  sshKeys?: string;
  /** A crypt(3) hash for root, when --password was given. */
  passwordHash?: string;
  /** cake's static busybox, installed under /usr/lib/cake when the image uses it (guest-boot.ts). */
  busybox: Buffer;
  sourceDateEpoch: number;
}

export interface PrepareResult {
  kind: InitKind;
  /** The init the initramfs starts. */
  init: string;
  /** Owners of the entries cake wrote, by relative path. */
  owners: Map<string, Owner>;
  devices: DeviceNode[];
  notes: string[];
  /** The image has an SSH server (OpenSSH or dropbear). */
  sshd: boolean;
}

class Overlay {
  readonly owners = new Map<string, Owner>();
  constructor(
    private readonly farm: string,
    private readonly table: OwnershipTable,
    private readonly sde: number,
  ) {}

  private host(rel: string): string {
    return `${this.farm}/${rel}`;
  }

  /** Guest path → host path in the farm, following the guest's symlinks; undefined when absent. */
  resolve(guest: string): string | undefined {
    return resolveInRoot(this.farm, guest);
  }

  exists(guest: string): boolean {
    return existsInRoot(this.farm, guest);
  }

  read(guest: string): string | undefined {
    return readInRoot(this.farm, guest);
  }

  list(guest: string): string[] {
    const dir = this.resolve(guest);
    return dir !== undefined && lstatSync(dir).isDirectory() ? readdirSync(dir) : [];
  }

  linkTarget(guest: string): string | undefined {
    const rel = this.real(guest);
    const st = lstatSync(this.host(rel), { throwIfNoEntry: false });
    return st?.isSymbolicLink() ? readlinkSync(this.host(rel), 'utf8') : undefined;
  }

  /** The relative path a guest path really names (its directories' symlinks followed). */
  real(guest: string): string {
    const parent = resolveInRoot(this.farm, dirname(guest)) ?? `${this.farm}${dirname(guest)}`;
    const rel = `${parent}/${guest.slice(guest.lastIndexOf('/') + 1)}`.slice(this.farm.length + 1);
    return rel.replace(/^\/+/, '');
  }

  mkdirs(rel: string, mode = 0o755): void {
    const parts = rel.split('/').filter((p) => p !== '');
    for (let i = 1; i <= parts.length; i++) {
      const p = parts.slice(0, i).join('/');
      const st = lstatSync(this.host(p), { throwIfNoEntry: false });
      if (st?.isDirectory()) continue;
      if (st !== undefined) rmSync(this.host(p), { recursive: true, force: true });
      mkdirSync(this.host(p), { mode: 0o700 });
      chmodSync(this.host(p), i === parts.length ? mode | 0o700 : 0o755);
      utimesSync(this.host(p), this.sde, this.sde);
      this.owners.set(p, { uid: 0, gid: 0, mode: i === parts.length ? mode : 0o755 });
    }
  }

  /** Writes a file (replacing what was there); keeps the env's owner of a replaced file unless `owner` is given. */
  write(guest: string, content: string | Buffer, mode = 0o644, owner?: Owner): void {
    const rel = this.real(guest);
    this.mkdirs(dirname(rel) === '.' ? '' : dirname(rel));
    const previous = this.remove(rel);
    writeFileSync(this.host(rel), content, { mode: 0o600 });
    const want = owner ?? previous ?? { uid: 0, gid: 0, mode };
    chmodSync(this.host(rel), (want.mode & 0o777) | 0o600);
    utimesSync(this.host(rel), this.sde, this.sde);
    this.owners.set(rel, want);
  }

  symlink(guest: string, target: string): void {
    const rel = this.real(guest);
    this.mkdirs(dirname(rel) === '.' ? '' : dirname(rel));
    this.remove(rel);
    symlinkSync(target, this.host(rel));
    lutimesSync(this.host(rel), this.sde, this.sde);
    this.owners.set(rel, { uid: 0, gid: 0, mode: 0o777 });
  }

  /** Removes an entry of the farm (never the env's file: only this name goes). Returns its real owner. */
  remove(rel: string): Owner | undefined {
    const st = lstatSync(this.host(rel), { throwIfNoEntry: false });
    if (st === undefined) return undefined;
    const prev = this.owners.get(rel) ?? ownerOf(this.table, rel, st.mode);
    if (st.isDirectory()) rmSync(this.host(rel), { recursive: true, force: true });
    else unlinkSync(this.host(rel));
    this.owners.delete(rel);
    return prev;
  }

  apply(files: readonly GuestFile[]): void {
    for (const f of files) {
      if (f.target !== undefined) this.symlink(`/${f.path}`, f.target);
      else this.write(`/${f.path}`, f.content ?? '', f.mode ?? 0o644, { uid: 0, gid: 0, mode: f.mode ?? 0o644 });
    }
  }
}

function ownerOf(table: OwnershipTable, rel: string, diskMode: number): Owner {
  const rec = getOwner(table, rel);
  return rec === undefined ? { uid: 0, gid: 0, mode: diskMode & 0o7777 } : { uid: rec.uid, gid: rec.gid, mode: rec.mode & 0o7777 };
}

export function prepareRootfs(input: PrepareInput): PrepareResult {
  const o = new Overlay(input.farm, input.ownership, input.sourceDateEpoch);
  const notes: string[] = [];
  for (const [dir, mode] of [['dev', 0o755], ['proc', 0o555], ['sys', 0o555], ['run', 0o755], ['tmp', 0o1777]] as const) {
    if (!o.exists(`/${dir}`)) o.mkdirs(dir, mode);
  }
  o.write('/etc/hostname', `${input.hostname}\n`, 0o644, { uid: 0, gid: 0, mode: 0o644 });
  o.write('/etc/hosts', `127.0.0.1\tlocalhost\n127.0.1.1\t${input.hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n`, 0o644, { uid: 0, gid: 0, mode: 0o644 });
  o.write('/etc/fstab', `# Written by cake bake.\nUUID=${input.rootFsUuid}\t/\text4\trw,errors=remount-ro\t0\t1\n`, 0o644, { uid: 0, gid: 0, mode: 0o644 });

  const machineId = o.read('/etc/machine-id');
  if (machineId !== undefined && /^[0-9a-f]{32}\s*$/.test(machineId)) {
    o.write('/etc/machine-id', '');
    notes.push('emptied /etc/machine-id: each machine makes its own on first boot');
  }
  const dbusId = o.real('/var/lib/dbus/machine-id');
  if (lstatSync(`${input.farm}/${dbusId}`, { throwIfNoEntry: false })?.isFile()) o.remove(dbusId);

  const sshDir = o.resolve('/etc/ssh');
  if (sshDir !== undefined) {
    const keys = readdirSync(sshDir).filter((f) => /^ssh_host_.*_key(\.pub)?$/.test(f));
    for (const k of keys) o.remove(o.real(`/etc/ssh/${k}`));
    if (keys.length > 0) notes.push(`left out ${keys.length} SSH host key file(s) of the env: each machine generates its own on first boot`);
  }

  accounts(o, input, notes);

  const apt = aptSources(o);
  o.apply(apt.files);
  if (apt.note !== undefined) notes.push(apt.note);
  const plan = planBoot(o);
  if (plan.needsBusybox) o.write(`/${CAKE_LIB}/busybox`, input.busybox, 0o755, { uid: 0, gid: 0, mode: 0o755 });
  o.apply(plan.files);
  notes.push(...plan.notes);
  const { kind, init } = plan;
  const hasSshd = ['/usr/sbin/sshd', '/usr/sbin/dropbear'].some((p) => o.exists(p));
  if (input.sshKeys !== undefined && !hasSshd) notes.push('--ssh-key: the env has no SSH server (openssh-server or dropbear): the key is installed, but nothing listens on port 22');

  const devices: DeviceNode[] = [
    { path: 'dev/console', kind: 'char', major: 5, minor: 1, owner: { uid: 0, gid: 0, mode: 0o600 } },
    { path: 'dev/null', kind: 'char', major: 1, minor: 3, owner: { uid: 0, gid: 0, mode: 0o666 } },
  ];
  const devDir = o.real('/dev/x').replace(/\/x$/, '');
  for (const d of devices) {
    d.path = `${devDir}/${d.path.slice(4)}`;
    o.remove(d.path);
  }
  return { kind, init, owners: o.owners, devices, notes, sshd: hasSshd };
}

/** Root's password and SSH keys. */
function accounts(o: Overlay, input: PrepareInput, notes: string[]): void {
  const passwd = o.read('/etc/passwd') ?? '';
  const rootLine = passwd.split('\n').find((l) => l.startsWith('root:'));
  const home = rootLine?.split(':')[5] || '/root';
  const shadow = o.read('/etc/shadow');
  if (input.passwordHash !== undefined) {
    setRootHash(o, passwd, shadow, input.passwordHash);
  } else {
    const field = shadow !== undefined ? shadow.split('\n').find((l) => l.startsWith('root:'))?.split(':')[1] : rootLine?.split(':')[1];
    if (field === '') {
      setRootHash(o, passwd, shadow, '*');
      notes.push('root had an empty password: it is locked in the image (use --ssh-key, or --password)');
    }
  }
  if (input.sshKeys !== undefined) {
    o.mkdirs(o.real(`${home}/.ssh/x`).replace(/\/x$/, ''), 0o700);
    o.write(`${home}/.ssh/authorized_keys`, input.sshKeys.endsWith('\n') ? input.sshKeys : `${input.sshKeys}\n`, 0o600, { uid: 0, gid: 0, mode: 0o600 });
  }
}

function setRootHash(o: Overlay, passwd: string, shadow: string | undefined, hash: string): void {
  const days = 19000;
  if (shadow !== undefined) {
    const lines = shadow.split('\n');
    const i = lines.findIndex((l) => l.startsWith('root:'));
    if (i >= 0) {
      const f = (lines[i] as string).split(':');
      f[1] = hash;
      lines[i] = f.join(':');
    } else lines.unshift(`root:${hash}:${days}:0:99999:7:::`);
    o.write('/etc/shadow', lines.join('\n'));
  } else {
    const users = passwd.split('\n').filter((l) => l.includes(':')).map((l) => l.split(':')[0] as string);
    const lines = users.map((u) => `${u}:${u === 'root' ? hash : '*'}:${days}:0:99999:7:::`);
    if (!users.includes('root')) lines.unshift(`root:${hash}:${days}:0:99999:7:::`);
    o.write('/etc/shadow', `${lines.join('\n')}\n`, 0o600, { uid: 0, gid: 0, mode: 0o600 });
  }
  const plines = passwd.split('\n');
  const r = plines.findIndex((l) => l.startsWith('root:'));
  if (r >= 0 && (plines[r] as string).split(':')[1] !== 'x') {
    const f = (plines[r] as string).split(':');
    f[1] = 'x';
    plines[r] = f.join(':');
    o.write('/etc/passwd', plines.join('\n'));
  }
}

