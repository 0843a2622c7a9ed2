/**
 * How a baked env boots, decided from what the env has (pure: the caller gives a read-only view
 * of the tree). The env's own init is used when it has one — systemd, sysvinit (also with OpenRC
 * on top, which runs from sysvinit's inittab) or a busybox init with its own /etc/inittab — and
 * cake's busybox init (guest-busybox.ts) only when it has none. Whatever the init, the image gets:
 * a login prompt on the serial console (ttyS0) and on tty1; DHCP on every NIC under QEMU's user
 * network (systemd-networkd when the env has it and udev, ifupdown with a DHCP client, else cake's
 * busybox udhcpc); a working /etc/resolv.conf; SSH host keys made on the first boot. What cake adds
 * to make up for what the env lacks is said in one note each, so an image never hangs silently.
 */
import { BUSYBOX_INIT, busyboxSystem, CAKE_LIB, netFiles, type GuestFile } from './guest-busybox.js';
import { systemdSystem, type NetPlan } from './guest-systemd.js';
import { sysvSystem } from './guest-sysv.js';

/** A read-only view of the tree being baked (guest paths, symlinks followed inside the tree). */
export interface GuestView {
  exists(path: string): boolean;
  read(path: string): string | undefined;
  /** The guest path a symlink points at (one level, as stored), or undefined for non-links. */
  linkTarget(path: string): string | undefined;
}

export type InitKind = 'systemd' | 'sysvinit' | 'busybox-env' | 'busybox';

export interface BootPlan {
  kind: InitKind;
  /** The init the initramfs starts. */
  init: string;
  files: GuestFile[];
  /** Install cake's static busybox under /usr/lib/cake (its init, getty or DHCP client is used). */
  needsBusybox: boolean;
  notes: string[];
}

const first = (g: GuestView, paths: string[]): string | undefined => paths.find((p) => g.exists(p));
const sbin = (name: string): string[] => [`/usr/sbin/${name}`, `/sbin/${name}`, `/usr/bin/${name}`, `/bin/${name}`];

/** What the env has that booting needs. */
export interface EnvFacts {
  systemd?: string;
  udev: boolean;
  networkd: boolean;
  resolved: boolean;
  ifup: boolean;
  networkingUnit: boolean;
  networkingScript: boolean;
  dhcpClient?: string;
  getty?: string;
  sshd?: 'openssh' | 'dropbear';
}

export function envFacts(g: GuestView, unitDir: string): EnvFacts {
  const systemd = first(g, ['/lib/systemd/systemd', '/usr/lib/systemd/systemd']);
  const dhcp = first(g, [...sbin('dhclient'), ...sbin('dhcpcd'), ...sbin('udhcpc')]);
  const getty = first(g, [...sbin('agetty'), ...sbin('getty')]);
  const sshd = g.exists('/usr/sbin/sshd') ? 'openssh' : g.exists('/usr/sbin/dropbear') ? 'dropbear' : undefined;
  return {
    ...(systemd ? { systemd } : {}),
    udev: first(g, ['/lib/systemd/systemd-udevd', '/usr/lib/systemd/systemd-udevd', '/bin/udevadm', '/usr/bin/udevadm', '/sbin/udevd']) !== undefined,
    networkd: g.exists(`${unitDir}/systemd-networkd.service`),
    resolved: g.exists(`${unitDir}/systemd-resolved.service`),
    ifup: first(g, sbin('ifup')) !== undefined,
    networkingUnit: g.exists(`${unitDir}/networking.service`),
    networkingScript: g.exists('/etc/init.d/networking'),
    ...(dhcp ? { dhcpClient: dhcp } : {}),
    ...(getty ? { getty } : {}),
    ...(sshd ? { sshd } : {}),
  };
}

/** Which init /sbin/init is: systemd, busybox, another (sysvinit, …) or none. */
function initOf(g: GuestView): 'systemd' | 'busybox' | 'other' | 'none' {
  if (!g.exists('/sbin/init')) return 'none';
  let p = '/sbin/init';
  for (let i = 0; i < 8; i++) {
    const t = g.linkTarget(p);
    if (t === undefined) break;
    p = t.startsWith('/') ? t : `${p.slice(0, p.lastIndexOf('/'))}/${t}`;
  }
  const base = p.slice(p.lastIndexOf('/') + 1);
  if (base === 'systemd') return 'systemd';
  if (base === 'busybox') return 'busybox';
  return 'other';
}

/** The network setup for an env that is not systemd-networkd's. */
function netPlan(f: EnvFacts, systemd: boolean): NetPlan {
  if (systemd && f.networkd && f.udev) return 'networkd';
  // ifupdown only when something runs it at boot: networking.service, or the init script sysvinit/OpenRC run
  if (f.ifup && f.dhcpClient !== undefined && (systemd ? f.networkingUnit : f.networkingScript)) return 'ifupdown';
  return 'cake';
}

export function planBoot(g: GuestView): BootPlan {
  const unitDir = ['/lib/systemd/system', '/usr/lib/systemd/system'].find((d) => g.exists(`${d}/systemd-journald.service`)) ?? '/lib/systemd/system';
  const f = envFacts(g, unitDir);
  const init = initOf(g);
  const notes: string[] = [];
  const files: GuestFile[] = [];
  const useSystemd = f.systemd !== undefined && (init === 'systemd' || init === 'none');
  let kind: InitKind;
  if (useSystemd) kind = 'systemd';
  else if (init === 'other' && g.exists('/etc/inittab')) kind = 'sysvinit';
  else if (init === 'busybox' && g.exists('/etc/inittab')) kind = 'busybox-env';
  else kind = 'busybox';
  const net = netPlan(f, kind === 'systemd');
  if (kind !== 'busybox' && net === 'cake') {
    const why = kind === 'systemd' && f.networkd ? 'systemd-networkd waits for udev, which the env lacks' : 'the env has no DHCP client set up (ifupdown with dhclient, dhcpcd or udhcpc)';
    notes.push(`networking: ${why}; added cake's DHCP client (busybox udhcpc, /${CAKE_LIB})`);
  }
  if (net === 'ifupdown') files.push(...ifupdownFiles(g));
  if (net === 'cake' || kind === 'busybox') files.push(...netFiles(`/${CAKE_LIB}/busybox`));
  if (kind === 'systemd') {
    const r = systemdSystem({
      unitDir,
      has: (u) => g.exists(`${unitDir}/${u}`),
      exists: (p) => g.exists(p),
      read: (p) => g.read(p),
      udev: f.udev,
      net,
    });
    files.push(...r.files);
    notes.push(...r.notes);
  } else if (kind === 'sysvinit' || kind === 'busybox-env') {
    const r = sysvSystem({ inittab: g.read('/etc/inittab') ?? '', busyboxSyntax: kind === 'busybox-env', ...(f.getty ? { getty: f.getty } : {}), net, ...(f.sshd ? { sshd: f.sshd } : {}), startsSshd: hasSshService(g) });
    files.push(...r.files);
    notes.push(...r.notes);
  } else {
    const why = init === 'none' ? 'the env has no init' : init === 'busybox' ? "the env's busybox init has no /etc/inittab" : '/sbin/init has no /etc/inittab cake can set up';
    notes.push(`${why}: added cake's busybox init (/${CAKE_LIB}) with a login prompt on ttyS0 and tty1, DHCP${f.sshd ? ' and sshd' : ''}`);
    const login = g.exists('/bin/login') ? '/bin/login' : undefined;
    files.push(...busyboxSystem({ ...(login ? { login } : {}), ...(f.sshd ? { sshd: f.sshd } : {}) }));
  }
  files.push(...resolvConf(g, kind === 'systemd' && net === 'networkd' && f.resolved, net, notes));
  const initPath = kind === 'busybox' ? BUSYBOX_INIT : kind === 'systemd' && init === 'none' ? (f.systemd as string) : '/sbin/init';
  return { kind, init: initPath, files, needsBusybox: kind === 'busybox' || net === 'cake' || files.some((x) => x.content?.includes(`/${CAKE_LIB}/busybox`) === true), notes };
}

function hasSshService(g: GuestView): boolean {
  return ['/etc/init.d/ssh', '/etc/init.d/sshd', '/etc/init.d/dropbear'].some((p) => g.exists(p));
}

/** ifupdown: DHCP on eth0 (`auto`, not `allow-hotplug`, which needs udev to fire). */
function ifupdownFiles(g: GuestView): GuestFile[] {
  const stanza = '# Written by cake bake: DHCP under QEMU (and any DHCP network).\nauto eth0\niface eth0 inet dhcp\n';
  const main = g.read('/etc/network/interfaces');
  if (main !== undefined && /^\s*source(-directory)?\s+\S*interfaces\.d/m.test(main)) {
    return [{ path: 'etc/network/interfaces.d/cake-eth0', content: stanza, mode: 0o644 }];
  }
  const base = main ?? 'auto lo\niface lo inet loopback\n';
  return [{ path: 'etc/network/interfaces', content: /^\s*iface\s+eth0\b/m.test(base) ? base : `${base.endsWith('\n') || base === '' ? base : `${base}\n`}\n${stanza}`, mode: 0o644 }];
}

/**
 * /etc/resolv.conf: resolved's stub when resolved runs; cake's DHCP client and dhclient write
 * their own; otherwise (networkd without resolved), an empty or missing file gets QEMU's user-net
 * DNS server, 10.0.2.3.
 */
function resolvConf(g: GuestView, resolved: boolean, net: NetPlan, notes: string[]): GuestFile[] {
  if (resolved) return [{ path: 'etc/resolv.conf', target: '../run/systemd/resolve/stub-resolv.conf' }];
  const current = g.read('/etc/resolv.conf');
  const link = g.linkTarget('/etc/resolv.conf');
  if (link !== undefined && /systemd\/resolve/.test(link)) {
    notes.push('/etc/resolv.conf pointed at systemd-resolved, which does not run in the image: replaced by a plain file');
  } else if (current !== undefined && current.trim() !== '') return [];
  if (net !== 'networkd') return [{ path: 'etc/resolv.conf', content: '', mode: 0o644 }];
  notes.push("no systemd-resolved in the env: /etc/resolv.conf names QEMU's user-network DNS server (10.0.2.3)");
  return [{ path: 'etc/resolv.conf', content: '# Written by cake bake: QEMU user network DNS.\nnameserver 10.0.2.3\n', mode: 0o644 }];
}
