/**
 * Architecture names as distros spell them, normalized to the kernel's `uname -m` spelling that
 * qemu-user binaries are named after (qemu-x86_64, qemu-aarch64, qemu-arm, ...).
 */
const ALIASES: Readonly<Record<string, string>> = {
  x86_64: 'x86_64',
  amd64: 'x86_64',
  x64: 'x86_64',
  aarch64: 'aarch64',
  arm64: 'aarch64',
  arm: 'arm',
  armhf: 'arm',
  armel: 'arm',
  armv7: 'arm',
  armv7l: 'arm',
  armv6l: 'arm',
  i386: 'i386',
  i686: 'i386',
  '386': 'i386',
  x86: 'i386',
  ia32: 'i386',
  riscv64: 'riscv64',
  ppc64le: 'ppc64le',
  ppc64el: 'ppc64le',
  s390x: 's390x',
  loong64: 'loongarch64',
  loongarch64: 'loongarch64',
  mips64el: 'mips64el',
};

/** Normalizes an architecture name (distro, OCI or Node spelling); unknown names pass through lowercased. Pure. */
export function normalizeArch(name: string): string {
  const lower = name.toLowerCase();
  return ALIASES[lower] ?? lower;
}

/**
 * True when a guest of `guestArch` needs emulation on a host of `hostArch` (`os.machine()`,
 * the uname spelling). Strict: i386 on x86_64 and arm on aarch64 count as foreign, because not
 * every 64-bit kernel or CPU runs them. Undefined guest arch means native. Pure.
 */
export function isForeignArch(guestArch: string | undefined, hostArch: string): boolean {
  if (guestArch === undefined || guestArch === '') return false;
  return normalizeArch(guestArch) !== normalizeArch(hostArch);
}

/** Names of the qemu-user program for an architecture, preferred first. Pure. */
export function qemuProgramNames(guestArch: string): string[] {
  const a = normalizeArch(guestArch);
  return [`qemu-${a}-static`, `qemu-${a}`];
}
