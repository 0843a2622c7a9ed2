import { CakeError } from './errors.js';

/**
 * Platforms and architecture names. Three vocabularies meet in cake:
 * - OCI (registries, `--platform`): amd64, arm64, arm, 386, riscv64, ppc64le, s390x, plus a variant
 *   (arm/v7, arm64/v8);
 * - distro (distros/*.yaml, proot-distro, Alpine, Arch, Void): x86_64, aarch64, armv7, i686, riscv64,
 *   ppc64le, s390x;
 * - Debian (archives, dpkg): amd64, arm64, armhf, armel, i386, riscv64, ppc64el, s390x.
 * Pure: nothing here reads `process`; the host's arch is passed in.
 */
export interface Platform {
  os: string;
  /** OCI architecture: amd64, arm64, arm, 386, riscv64, ppc64le, s390x. */
  arch: string;
  /** OCI variant: v6/v7/v8 for arm, v8/v9 for arm64, v1..v4 for amd64; absent means the default. */
  variant?: string;
}

export const OCI_ARCHES = ['amd64', 'arm64', 'arm', '386', 'riscv64', 'ppc64le', 's390x'] as const;
export const DISTRO_ARCHES = ['x86_64', 'aarch64', 'armv7', 'i686', 'riscv64', 'ppc64le', 's390x'] as const;
export type DistroArch = (typeof DISTRO_ARCHES)[number];

export function isDistroArch(text: string): text is DistroArch {
  return (DISTRO_ARCHES as readonly string[]).includes(text);
}

/** Every spelling cake accepts for an architecture, mapped to OCI arch [+ variant]. */
const ARCH_ALIASES: Record<string, [string, string?]> = {
  amd64: ['amd64'], x86_64: ['amd64'], 'x86-64': ['amd64'], x64: ['amd64'],
  arm64: ['arm64'], aarch64: ['arm64'],
  arm: ['arm'], armhf: ['arm', 'v7'], armv7: ['arm', 'v7'], armv7l: ['arm', 'v7'], armv7hl: ['arm', 'v7'],
  armel: ['arm', 'v5'], armv6: ['arm', 'v6'], armv6l: ['arm', 'v6'], armv5: ['arm', 'v5'],
  '386': ['386'], i386: ['386'], i486: ['386'], i586: ['386'], i686: ['386'], x86: ['386'], ia32: ['386'],
  riscv64: ['riscv64'],
  ppc64le: ['ppc64le'], ppc64el: ['ppc64le'],
  s390x: ['s390x'],
};

const VARIANTS: Record<string, RegExp> = { arm: /^v[5-8]$/, arm64: /^v8(\.[0-9])?$|^v9(\.[0-9])?$/, amd64: /^v[1-4]$/ };

function badPlatform(text: string, why: string): CakeError {
  return new CakeError('usage', `invalid platform ${JSON.stringify(text)}: ${why}`, {
    hint: 'a platform is OS/ARCH[/VARIANT], e.g. linux/amd64, linux/arm64, linux/arm/v7 (ARCH alone means linux/ARCH)',
  });
}

/**
 * Normalises a platform: arch aliases become OCI names (aarch64 -> arm64, x86_64 -> amd64,
 * armhf -> arm/v7), `arm` without a variant becomes arm/v7, the variant is lowercased.
 * An explicit variant is kept (arm64/v8 stays arm64 + v8); use {@link samePlatform} to compare.
 */
export function normalizePlatform(p: Platform): Platform {
  const os = p.os.toLowerCase();
  const alias = ARCH_ALIASES[p.arch.toLowerCase()];
  if (os !== 'linux') throw badPlatform(formatPlatform(p), `unsupported OS ${JSON.stringify(p.os)} (cake runs Linux)`);
  if (alias === undefined) throw badPlatform(formatPlatform(p), `unknown architecture ${JSON.stringify(p.arch)}`);
  const [arch, impliedVariant] = alias;
  let variant = p.variant?.toLowerCase() || undefined;
  if (variant !== undefined && impliedVariant !== undefined && variant !== impliedVariant) {
    throw badPlatform(formatPlatform(p), `${p.arch} implies variant ${impliedVariant}, not ${variant}`);
  }
  variant ??= impliedVariant ?? (arch === 'arm' ? 'v7' : undefined);
  if (variant !== undefined && !VARIANTS[arch]?.test(variant)) {
    throw badPlatform(formatPlatform(p), `unknown variant ${JSON.stringify(variant)} for ${arch}`);
  }
  return variant === undefined ? { os, arch } : { os, arch, variant };
}

/** Parses `OS/ARCH[/VARIANT]` or a bare `ARCH` (meaning linux/ARCH), normalised. Usage error (exit 2) when invalid. */
export function parsePlatform(text: string): Platform {
  const parts = text.trim().split('/');
  if (text.trim() === '' || parts.some((part) => part === '') || parts.length > 3) {
    throw badPlatform(text, 'expected OS/ARCH[/VARIANT]');
  }
  if (parts.length === 1) return normalizePlatform({ os: 'linux', arch: parts[0]! });
  const [os, arch, variant] = parts as [string, string, string?];
  return normalizePlatform(variant === undefined ? { os, arch } : { os, arch, variant });
}

/** `linux/arm64`, `linux/arm/v7`. */
export function formatPlatform(p: Platform): string {
  return p.variant ? `${p.os}/${p.arch}/${p.variant}` : `${p.os}/${p.arch}`;
}

const DEFAULT_VARIANT: Record<string, string> = { arm64: 'v8', amd64: 'v1', arm: 'v7' };

/** True when two platforms name the same thing (arm64 == arm64/v8, amd64 == amd64/v1, arm == arm/v7). */
export function samePlatform(a: Platform, b: Platform): boolean {
  const na = normalizePlatform(a);
  const nb = normalizePlatform(b);
  const va = na.variant ?? DEFAULT_VARIANT[na.arch];
  const vb = nb.variant ?? DEFAULT_VARIANT[nb.arch];
  return na.os === nb.os && na.arch === nb.arch && va === vb;
}

const NODE_ARCH: Record<string, Platform> = {
  x64: { os: 'linux', arch: 'amd64' },
  arm64: { os: 'linux', arch: 'arm64' },
  // Node does not say which ARM level; v7 (armhf) is what 32-bit ARM Linux distros build for.
  arm: { os: 'linux', arch: 'arm', variant: 'v7' },
  ia32: { os: 'linux', arch: '386' },
  riscv64: { os: 'linux', arch: 'riscv64' },
  // Node calls little-endian 64-bit POWER "ppc64"; Linux distros only ship ppc64le.
  ppc64: { os: 'linux', arch: 'ppc64le' },
  s390x: { os: 'linux', arch: 's390x' },
};

/** The host's platform from Node's `process.arch` value (passed in: model/ reads no globals). */
export function hostPlatform(nodeArch: string): Platform {
  const p = NODE_ARCH[nodeArch];
  if (p === undefined) {
    throw new CakeError('engine', `unsupported host architecture: ${nodeArch}`, {
      hint: `cake runs on ${OCI_ARCHES.join(', ')} hosts`,
    });
  }
  return { ...p };
}

/** OCI platform -> distro arch name, or undefined when distros have no name for it (arm/v5, arm/v6). */
export function toDistroArch(p: Platform): DistroArch | undefined {
  const n = normalizePlatform(p);
  switch (n.arch) {
    case 'amd64': return 'x86_64';
    case 'arm64': return 'aarch64';
    case 'arm': return n.variant === 'v7' || n.variant === 'v8' ? 'armv7' : undefined;
    case '386': return 'i686';
    case 'riscv64': case 'ppc64le': case 's390x': return n.arch;
    default: return undefined;
  }
}

/** Distro arch name -> OCI platform. */
export function fromDistroArch(arch: DistroArch): Platform {
  return normalizePlatform({ os: 'linux', arch });
}

/** OCI platform -> Debian architecture (amd64, arm64, armhf, armel, i386, riscv64, ppc64el, s390x). */
export function toDebianArch(p: Platform): string | undefined {
  const n = normalizePlatform(p);
  switch (n.arch) {
    case 'arm': return n.variant === 'v5' || n.variant === 'v6' ? 'armel' : 'armhf';
    case '386': return 'i386';
    case 'ppc64le': return 'ppc64el';
    default: return n.arch;
  }
}

/** Debian architecture -> OCI platform, or undefined for one cake does not know. */
export function fromDebianArch(debArch: string): Platform | undefined {
  if (!['amd64', 'arm64', 'armhf', 'armel', 'i386', 'riscv64', 'ppc64el', 's390x'].includes(debArch)) return undefined;
  return normalizePlatform({ os: 'linux', arch: debArch });
}
