import { describe, expect, it } from 'vitest';
import { planBoot, type GuestView } from '../../../src/bake/guest-boot.js';
import { withoutDeviceWait } from '../../../src/bake/guest-systemd.js';
import { hasGettyOn } from '../../../src/bake/guest-sysv.js';
import { aptSources } from '../../../src/bake/guest-apt.js';

/** A tree as a map of guest path → file text (symlinks as `{ link }`). */
function view(files: Record<string, string | { link: string }>): GuestView {
  const get = (p: string): string | { link: string } | undefined => files[p];
  const follow = (p: string): string | undefined => {
    for (let i = 0; i < 8; i++) {
      const v = get(p);
      if (v === undefined) return undefined;
      if (typeof v === 'string') return v;
      p = v.link.startsWith('/') ? v.link : `${p.slice(0, p.lastIndexOf('/'))}/${v.link}`;
    }
    return undefined;
  };
  return {
    exists: (p) => follow(p) !== undefined,
    read: (p) => follow(p),
    linkTarget: (p) => {
      const v = get(p);
      return typeof v === 'object' ? v.link : undefined;
    },
  };
}

const SERIAL_GETTY = '[Unit]\nBindsTo=dev-%i.device\nAfter=dev-%i.device systemd-user-sessions.service getty-pre.target\nAfter=rc-local.service\n\n[Service]\nExecStart=-/sbin/agetty -o \'-p -- \\\\u\' --keep-baud 115200,57600,38400,9600 - $TERM\n';
const U = '/lib/systemd/system';
const systemdBase = {
  '/lib/systemd/systemd': 'ELF',
  '/sbin/init': { link: '/lib/systemd/systemd' },
  [`${U}/systemd-journald.service`]: '',
  [`${U}/serial-getty@.service`]: SERIAL_GETTY,
  [`${U}/getty@.service`]: '[Unit]\nAfter=systemd-user-sessions.service\n',
  [`${U}/systemd-networkd.service`]: '',
  [`${U}/ssh.service`]: '',
  [`${U}/kmod-static-nodes.service`]: '',
  '/usr/sbin/sshd': 'ELF',
  '/sbin/agetty': 'ELF',
} as const;
const path = (plan: ReturnType<typeof planBoot>, p: string) => plan.files.find((f) => f.path === p);

describe('how a baked env boots (guest-boot.ts)', () => {
  it('systemd without udev: getty templates without the device wait, cake DHCP instead of networkd, a note for each, the DNS from DHCP', () => {
    const plan = planBoot(view({ ...systemdBase }));
    expect(plan.kind).toBe('systemd');
    expect(plan.init).toBe('/sbin/init');
    const serial = path(plan, 'etc/systemd/system/serial-getty@.service')?.content ?? '';
    expect(serial).not.toMatch(/BindsTo=dev-%i\.device/);
    expect(serial).toMatch(/^After=systemd-user-sessions\.service getty-pre\.target$/m);
    expect(serial).toContain('ExecStart=-/sbin/agetty');
    expect(path(plan, 'etc/systemd/system/getty.target.wants/getty@tty1.service')?.target).toBe(`${U}/getty@.service`);
    expect(path(plan, 'etc/systemd/system/multi-user.target.wants/cake-dhcp.service')).toBeDefined();
    expect(path(plan, 'etc/systemd/system/multi-user.target.wants/systemd-networkd.service')).toBeUndefined();
    expect(path(plan, 'usr/lib/cake/rc.net')?.content).toContain('udhcpc');
    expect(plan.needsBusybox).toBe(true);
    expect(plan.notes.join('\n')).toMatch(/no udev in the env: serial-getty@\.service overridden/);
    expect(plan.notes.join('\n')).toMatch(/networking: systemd-networkd waits for udev.*added cake's DHCP client/);
    expect(path(plan, 'etc/resolv.conf')?.content).toBe('');
    expect(path(plan, 'etc/systemd/system/kmod-static-nodes.service')?.target).toBe('/dev/null');
    expect(path(plan, 'etc/systemd/system-generators/systemd-gpt-auto-generator')?.target).toBe('/dev/null');
  });

  it('systemd with udev, networkd and resolved: networkd DHCP, resolv.conf is resolved\'s stub, nothing of cake\'s busybox', () => {
    const plan = planBoot(view({ ...systemdBase, '/lib/systemd/systemd-udevd': 'ELF', '/bin/kmod': 'ELF', [`${U}/systemd-resolved.service`]: '' }));
    expect(path(plan, 'etc/systemd/network/80-cake-dhcp.network')?.content).toContain('DHCP=yes');
    expect(path(plan, 'etc/resolv.conf')?.target).toBe('../run/systemd/resolve/stub-resolv.conf');
    expect(path(plan, 'etc/systemd/system/serial-getty@.service')).toBeUndefined();
    expect(plan.needsBusybox).toBe(false);
    expect(plan.notes).toEqual([]);
  });

  it('systemd with networkd but no resolved: resolv.conf names QEMU\'s DNS server, and says so', () => {
    const plan = planBoot(view({ ...systemdBase, '/lib/systemd/systemd-udevd': 'ELF', '/bin/kmod': 'ELF' }));
    expect(path(plan, 'etc/resolv.conf')?.content).toContain('nameserver 10.0.2.3');
    expect(plan.notes.join('\n')).toMatch(/no systemd-resolved/);
  });

  it('sysvinit: the env\'s init and inittab edits are kept; gettys on ttyS0 and tty1 only when missing; host keys and DHCP from rc.sysv', () => {
    const inittab = 'id:2:initdefault:\nsi::sysinit:/etc/init.d/rcS\nl2:2:wait:/etc/init.d/rc 2\n1:2345:respawn:/sbin/getty --noclear 38400 tty1\n#T0:23:respawn:/sbin/getty -L ttyS0 9600 vt100\n';
    const env = { '/sbin/init': 'ELF', '/etc/inittab': inittab, '/sbin/agetty': 'ELF', '/usr/sbin/sshd': 'ELF', '/etc/init.d/ssh': '' };
    const plan = planBoot(view(env));
    expect(plan.kind).toBe('sysvinit');
    expect(plan.init).toBe('/sbin/init');
    const tab = path(plan, 'etc/inittab')?.content ?? '';
    expect(tab.startsWith(inittab)).toBe(true);
    expect(tab).toMatch(/^T0:2345:respawn:\/sbin\/agetty -L 115200 ttyS0 vt100$/m);
    expect(tab.match(/tty1/g)).toHaveLength(1);
    expect(tab).toMatch(/^ck::sysinit:\/usr\/lib\/cake\/rc\.sysv$/m);
    const rc = path(plan, 'usr/lib/cake/rc.sysv')?.content ?? '';
    expect(rc).toContain('ssh-keygen -A');
    expect(rc).not.toContain('/usr/sbin/sshd\n');
    expect(rc).toContain('/usr/lib/cake/rc.net');
    expect(plan.notes.join('\n')).toMatch(/kept the env's \/etc\/inittab and added a getty on ttyS0/);
    // the seed's `sed -i 's/#T0/T0/'`: the user's own serial getty is kept, none added
    const edited = planBoot(view({ ...env, '/etc/inittab': inittab.replace('#T0', 'T0') }));
    expect((path(edited, 'etc/inittab')?.content ?? '').match(/ttyS0/g)).toHaveLength(1);
  });

  it('ifupdown with a DHCP client is used (auto eth0: allow-hotplug needs udev)', () => {
    const plan = planBoot(view({ '/sbin/init': 'ELF', '/etc/inittab': '', '/sbin/ifup': 'ELF', '/sbin/dhclient': 'ELF', '/etc/init.d/networking': '', '/etc/network/interfaces': 'source /etc/network/interfaces.d/*\n' }));
    expect(path(plan, 'etc/network/interfaces.d/cake-eth0')?.content).toMatch(/^auto eth0$/m);
    expect(path(plan, 'usr/lib/cake/rc.net')).toBeUndefined();
    // an ifup that nothing runs at boot (Alpine's minirootfs has no OpenRC): cake's DHCP client
    const idle = planBoot(view({ '/sbin/init': 'ELF', '/etc/inittab': '', '/sbin/ifup': 'ELF', '/sbin/udhcpc': 'ELF' }));
    expect(path(idle, 'usr/lib/cake/rc.net')).toBeDefined();
  });

  it('a busybox init with its own inittab is used with busybox syntax; without one, or without any init, cake\'s busybox init', () => {
    const own = planBoot(view({ '/bin/busybox': 'ELF', '/sbin/init': { link: '/bin/busybox' }, '/etc/inittab': '::sysinit:/etc/init.d/rcS\n' }));
    expect(own.kind).toBe('busybox-env');
    expect(path(own, 'etc/inittab')?.content).toMatch(/^ttyS0::respawn:\/usr\/lib\/cake\/busybox getty -L 115200 ttyS0 vt100$/m);
    const none = planBoot(view({ '/bin/busybox': 'ELF', '/sbin/init': { link: '/bin/busybox' } }));
    expect(none.kind).toBe('busybox');
    expect(none.init).toBe('/usr/lib/cake/init');
    expect(none.notes.join('\n')).toMatch(/busybox init has no \/etc\/inittab: added cake's busybox init/);
    const bare = planBoot(view({ '/bin/sh': 'ELF' }));
    expect(bare.notes.join('\n')).toMatch(/^the env has no init: added cake's busybox init/);
  });

  it('helpers: device waits removed from a unit; gettys found on active respawn lines only', () => {
    expect(withoutDeviceWait('BindsTo=dev-%i.device\nAfter=dev-%i.device\nX=1')).toBe('X=1');
    expect(hasGettyOn('#T0:23:respawn:/sbin/getty -L ttyS0\n', 'ttyS0')).toBe(false);
    expect(hasGettyOn('T0:23:respawn:/sbin/getty -L ttyS0 vt100\n', 'ttyS0')).toBe(true);
    expect(hasGettyOn('1:2345:respawn:/sbin/getty 38400 tty10\n', 'tty1')).toBe(false);
  });
});

describe('APT sources of a baked Debian or Ubuntu env (guest-apt.ts)', () => {
  const apt = (files: Record<string, string>) =>
    aptSources({
      read: (p) => files[p],
      exists: (p) => files[p] !== undefined,
      list: (d) => Object.keys(files).filter((p) => p.startsWith(`${d}/`)).map((p) => p.slice(d.length + 1)),
    });
  const debian = { '/usr/bin/apt-get': 'ELF', '/etc/os-release': 'ID=debian\nVERSION_CODENAME=bookworm\n' };

  it('adds only the missing suites, from the default mirrors, and says so', () => {
    const r = apt({ ...debian, '/etc/apt/sources.list': 'deb http://deb.debian.org/debian bookworm main\n' });
    expect(r.note).toBe('apt: added sources for bookworm-updates, bookworm-security (/etc/apt/sources.list.d/cake-bookworm.sources)');
    const text = r.files[0]?.content ?? '';
    expect(text).toContain('URIs: http://deb.debian.org/debian\nSuites: bookworm-updates\n');
    expect(text).toContain('URIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\n');
  });

  it('leaves complete sources (list or deb822), non-Debian envs and sid alone', () => {
    expect(apt({ ...debian, '/etc/apt/sources.list.d/debian.sources': 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\n\nTypes: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\n' }).files).toEqual([]);
    expect(apt({ '/usr/bin/apt-get': 'ELF', '/etc/os-release': 'ID=alpine\n' }).files).toEqual([]);
    expect(apt({ '/usr/bin/apt-get': 'ELF', '/etc/os-release': 'ID=debian\nVERSION_CODENAME=sid\n' }).files).toEqual([]);
    const ubuntu = apt({ '/usr/bin/apt-get': 'ELF', '/etc/os-release': 'ID=ubuntu\nVERSION_CODENAME="noble"\n' });
    expect(ubuntu.note).toMatch(/noble, noble-updates, noble-security/);
    expect(ubuntu.files[0]?.content).toContain('URIs: http://security.ubuntu.com/ubuntu\nSuites: noble-security');
  });
});
