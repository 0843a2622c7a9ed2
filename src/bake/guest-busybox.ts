/**
 * The system of a baked env that has no systemd (busybox, Alpine, a Debian without init): cake
 * installs its own static busybox under /usr/lib/cake and makes it the init. Its inittab runs
 * rc.boot (mounts, host name, loopback and DHCP on every NIC, SSH when the env has a server, host
 * keys generated at first boot) and a getty on the serial console and on tty1. Pure text. DHCP is
 * rc.net (netFiles), which guest-boot.ts also gives envs that have an init but no DHCP client.
 */

export const CAKE_LIB = 'usr/lib/cake';
export const BUSYBOX_INIT = `/${CAKE_LIB}/init`;

export interface BusyboxSystemOptions {
  /** The env's login program (absolute), or undefined to use busybox's. */
  login?: string;
  /** The env has /usr/sbin/sshd (OpenSSH) or dropbear. */
  sshd?: 'openssh' | 'dropbear';
}

export interface GuestFile {
  path: string;
  content?: string;
  /** For symlinks. */
  target?: string;
  mode?: number;
}

export function busyboxSystem(o: BusyboxSystemOptions): GuestFile[] {
  const bb = `/${CAKE_LIB}/busybox`;
  const login = o.login ?? `/${CAKE_LIB}/login`;
  const files: GuestFile[] = [
    { path: `${CAKE_LIB}/init`, target: 'busybox' },
    { path: `${CAKE_LIB}/rc.boot`, content: rcBoot(bb, o.sshd), mode: 0o755 },
    { path: `${CAKE_LIB}/rc.shutdown`, content: rcShutdown(bb), mode: 0o755 },
    {
      path: 'etc/inittab',
      content: [
        '# Written by cake bake: the busybox init of the baked image (see /usr/lib/cake).',
        `::sysinit:/${CAKE_LIB}/rc.boot`,
        `ttyS0::respawn:${bb} getty -l ${login} -L 115200 ttyS0 vt100`,
        `tty1::respawn:${bb} getty -l ${login} 38400 tty1`,
        `::ctrlaltdel:${bb} reboot`,
        `::shutdown:/${CAKE_LIB}/rc.shutdown`,
        '',
      ].join('\n'),
      mode: 0o644,
    },
  ];
  if (o.login === undefined) files.push({ path: `${CAKE_LIB}/login`, target: 'busybox' });
  return files;
}

function rcBoot(bb: string, sshd: BusyboxSystemOptions['sshd']): string {
  const ssh =
    sshd === 'openssh'
      ? `# host keys are made here, on the first boot: they are never baked into the image
[ -x /usr/bin/ssh-keygen ] && /usr/bin/ssh-keygen -A
$bb mkdir -p /run/sshd /var/empty
/usr/sbin/sshd && say "sshd started"
`
      : sshd === 'dropbear'
        ? `$bb mkdir -p /etc/dropbear
/usr/sbin/dropbear -R && say "dropbear started"
`
        : '';
  return `#!${bb} sh
# Written by cake bake: brings the baked system up (console, network, SSH) with cake's busybox.
bb=${bb}
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
say() { echo "cake: $*" > /dev/console; }
${MOUNTS}[ -s /etc/hostname ] && $bb hostname -F /etc/hostname
/${CAKE_LIB}/rc.net
${ssh}say "$($bb hostname) is up"
`;
}

/** Shell lines (with $bb set) that mount what a booted system needs, skipping what is mounted already. */
export const MOUNTS = `mounted() { $bb grep -q " $1 " /proc/mounts 2>/dev/null; }
mounted /proc || $bb mount -t proc proc /proc
mounted /sys || $bb mount -t sysfs sysfs /sys
mounted /dev || $bb mount -t devtmpfs devtmpfs /dev
$bb mkdir -p /dev/pts /dev/shm
mounted /dev/pts || $bb mount -t devpts devpts /dev/pts -o gid=5,mode=620,ptmxmode=666
[ -d /run ] && ! mounted /run && $bb mount -t tmpfs tmpfs /run -o mode=0755,nosuid,nodev
$bb mount -o remount,rw / 2>/dev/null
`;

/**
 * cake's DHCP client for any init: rc.net brings lo up and runs busybox udhcpc on every other NIC
 * (in the background once it has a lease); udhcpc.script applies the lease and the DNS servers.
 * The caller installs the busybox at `bb`.
 */
export function netFiles(bb: string): GuestFile[] {
  return [
    { path: `${CAKE_LIB}/rc.net`, content: rcNet(bb), mode: 0o755 },
    { path: `${CAKE_LIB}/udhcpc.script`, content: udhcpcScript(bb), mode: 0o755 },
  ];
}

function rcNet(bb: string): string {
  return `#!${bb} sh
# Written by cake bake: DHCP on every network interface with busybox udhcpc.
bb=${bb}
$bb ip link set lo up
for dev in /sys/class/net/*; do
	n=\${dev##*/}
	[ "$n" = lo ] && continue
	$bb ip link set "$n" up
	$bb udhcpc -i "$n" -s /${CAKE_LIB}/udhcpc.script -b -t 10 -T 1 -S >/dev/null 2>&1
done
exit 0
`;
}

function rcShutdown(bb: string): string {
  return `#!${bb} sh
# Written by cake bake.
${bb} killall udhcpc sshd dropbear 2>/dev/null
${bb} sync
${bb} umount -a -r 2>/dev/null
`;
}

function udhcpcScript(bb: string): string {
  return `#!${bb} sh
# Written by cake bake: applies a DHCP lease (called by busybox udhcpc).
bb=${bb}
case "$1" in
deconfig)
	$bb ip -4 addr flush dev "$interface"
	$bb ip link set "$interface" up
	;;
bound|renew)
	$bb ip -4 addr flush dev "$interface"
	$bb ip addr add "$ip/\${mask:-24}" \${broadcast:+broadcast "$broadcast"} dev "$interface"
	for r in $router; do $bb ip route replace default via "$r" dev "$interface"; break; done
	if [ -n "$dns" ] && [ ! -L /etc/resolv.conf ]; then
		{ [ -n "$domain" ] && echo "search $domain"; for d in $dns; do echo "nameserver $d"; done; } > /etc/resolv.conf.cake
		$bb mv /etc/resolv.conf.cake /etc/resolv.conf
	fi
	;;
esac
exit 0
`;
}
