/**
 * The host tools cake uses, what for, and the Debian/Ubuntu package that provides each. Used by
 * `cake doctor`, by the install script and by error hints (a missing tool names its package).
 */
export interface HostTool {
  /** Executable name looked up on PATH. */
  bin: string;
  pkg: string;
  purpose: string;
  /** Needed for the core (pull/enter/exec) rather than for one feature. */
  core: boolean;
}

export const HOST_TOOLS: readonly HostTool[] = [
  { bin: 'proot', pkg: 'proot', purpose: 'proot engine (where user namespaces are unavailable)', core: false },
  { bin: 'bwrap', pkg: 'bubblewrap', purpose: 'user-namespace engine', core: false },
  { bin: 'unshare', pkg: 'util-linux', purpose: 'user-namespace engine', core: false },
  { bin: 'dumb-init', pkg: 'dumb-init', purpose: 'user-namespace engine (PID 1 of an env: signals, kill on exit)', core: false },
  { bin: 'busybox', pkg: 'busybox-static', purpose: 'both engines (sets the guest environment inside the guest)', core: true },
  { bin: 'xz', pkg: 'xz-utils', purpose: 'xz-compressed tarballs and .debs', core: true },
  { bin: 'zstd', pkg: 'zstd', purpose: 'zstd-compressed tarballs, layers and .debs', core: true },
  { bin: 'bzip2', pkg: 'bzip2', purpose: 'bzip2-compressed tarballs', core: false },
  { bin: 'qemu-system-x86_64', pkg: 'qemu-system-x86', purpose: 'cake boot', core: false },
  { bin: 'qemu-img', pkg: 'qemu-utils', purpose: 'qcow2 images', core: false },
  { bin: 'mkfs.ext4', pkg: 'e2fsprogs', purpose: 'cake bake (root filesystem)', core: false },
  { bin: 'debugfs', pkg: 'e2fsprogs', purpose: 'cake bake (ownership fix-up)', core: false },
  { bin: 'mcopy', pkg: 'mtools', purpose: 'cake bake (EFI/boot partition)', core: false },
  { bin: 'mkfs.vfat', pkg: 'dosfstools', purpose: 'cake bake (EFI/boot partition)', core: false },
  { bin: 'syslinux', pkg: 'syslinux', purpose: 'cake bake --boot bios', core: false },
  { bin: 'sfdisk', pkg: 'fdisk', purpose: 'cake bake (partition table)', core: false },
  { bin: 'cpio', pkg: 'cpio', purpose: 'inspecting initramfs images', core: false },
  { bin: 'qemu-aarch64-static', pkg: 'qemu-user-static', purpose: 'foreign-architecture envs', core: false },
];

/** The apt command that installs the given packages (sorted, unique). */
export function aptInstallCommand(pkgs: readonly string[], asRoot: boolean): string {
  const list = [...new Set(pkgs)].sort().join(' ');
  return `${asRoot ? '' : 'sudo '}apt-get install -y ${list}`;
}
