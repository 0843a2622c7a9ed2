/**
 * The initramfs' /init: a busybox shell script that mounts proc, sysfs and devtmpfs (Debian
 * kernels do not mount devtmpfs themselves), loads the modules listed in /etc/cake/modules in
 * that order, waits for the root filesystem named by root= (UUID=, LABEL= or a device), mounts
 * it, moves /dev into it and switch_roots to its init. When the root is not found it says so on
 * the console, lists the block devices it saw, and opens a rescue shell. With `cake.probe` on the
 * command line it only prints CAKE-PROBE-OK and powers off (cake boot's KVM probe). Pure text.
 */

export interface InitramfsConfig {
  /** `UUID=…` (what root= defaults to). */
  root: string;
  /** The init to start in the root filesystem (init= overrides it). */
  init: string;
  /** The kernel release: modules live under /lib/modules/RELEASE. */
  release: string;
  /** Seconds to wait for the root device. */
  rootWait: number;
}

/** /etc/cake/initramfs.conf: shell assignments read by /init. */
export function initramfsConf(c: InitramfsConfig): string {
  const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  return `ROOT=${q(c.root)}\nINIT=${q(c.init)}\nRELEASE=${q(c.release)}\nROOTWAIT=${Math.max(1, Math.floor(c.rootWait))}\n`;
}

export const INITRAMFS_INIT = `#!/bin/busybox sh
# cake initramfs: load the disk, network and filesystem drivers, find the root filesystem,
# mount it and switch to it. Written by cake bake.
bb=/bin/busybox
export PATH=/bin
say() { echo "cake-init: $*"; }
rescue() {
	say "dropping to a rescue shell (busybox); the root filesystem is not mounted"
	exec $bb setsid $bb cttyhack $bb sh
}
$bb mount -t proc proc /proc
$bb mount -t sysfs sysfs /sys
$bb mount -t devtmpfs devtmpfs /dev 2>/dev/null
case " $($bb cat /proc/cmdline) " in
*" cake.probe "*) echo "CAKE-PROBE-OK"; $bb poweroff -f ;;
esac
. /etc/cake/initramfs.conf
rootspec=$ROOT
init=$INIT
mode=rw
fstype=
wait=$ROOTWAIT
debug=
for arg in $($bb cat /proc/cmdline); do
	case "$arg" in
	root=*) rootspec=\${arg#root=} ;;
	init=*) init=\${arg#init=} ;;
	ro) mode=ro ;;
	rw) mode=rw ;;
	rootfstype=*) fstype=\${arg#rootfstype=} ;;
	rootdelay=*|cake.rootwait=*) wait=\${arg#*=} ;;
	cake.debug) debug=1 ;;
	cake.rescue) rescue ;;
	esac
done
while read -r m; do
	[ -n "$m" ] || continue
	if ! out=$($bb insmod "/lib/modules/$RELEASE/$m" 2>&1) && [ -n "$debug" ]; then say "insmod $m: $out"; fi
done < /etc/cake/modules
find_root() {
	case "$rootspec" in
	UUID=*|LABEL=*) $bb findfs "$rootspec" 2>/dev/null ;;
	/dev/*) [ -b "$rootspec" ] && echo "$rootspec" ;;
	esac
}
dev=
i=0
while :; do
	dev=$(find_root)
	[ -n "$dev" ] && break
	[ $i -ge $((wait * 10)) ] && break
	[ $i -eq 30 ] && say "waiting up to \${wait}s for the root filesystem $rootspec"
	$bb usleep 100000
	i=$((i + 1))
done
if [ -z "$dev" ]; then
	say "the root filesystem was not found: no device has $rootspec (waited \${wait}s)"
	say "block devices seen: $($bb awk 'NR > 2 { printf "%s ", $4 }' /proc/partitions)"
	say "check that the disk is attached (virtio or SCSI) and that root= on the kernel command line is right"
	rescue
fi
if ! $bb mount \${fstype:+-t "$fstype"} -o "$mode" "$dev" /newroot; then
	say "cannot mount $dev ($rootspec) on /newroot"
	rescue
fi
if [ ! -e "/newroot$init" ] && [ ! -L "/newroot$init" ]; then
	say "$init does not exist in the root filesystem ($dev)"
	rescue
fi
[ -n "$debug" ] && say "root $dev ($rootspec), starting $init"
if [ -d /newroot/dev ]; then $bb mount --move /dev /newroot/dev; else $bb umount /dev; fi
$bb umount /sys
$bb umount /proc
exec $bb switch_root /newroot "$init" "$@"
`;
