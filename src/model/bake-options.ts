/**
 * The options of `cake bake` as values, and the parsers of their text forms (sizes, kernel
 * specs, module lists, host names). Pure: the CLI reads argv and files, this checks them.
 */
import { UsageError } from './errors.js';

export type KernelSpec =
  | { kind: 'debian'; release: string; package: string; version?: string }
  | { kind: 'env' }
  | { kind: 'path'; path: string };

export interface BakeOptions {
  env: string;
  output: string;
  format: 'raw' | 'qcow2';
  bios: boolean;
  efi: boolean;
  /** Bytes of the whole image, or 'auto' (content plus headroom). */
  size: number | 'auto';
  kernel: KernelSpec;
  /** Modules directories (for --kernel PATH) given with --modules. */
  moduleDirs: string[];
  /** Extra module names for the initramfs, given with --modules. */
  extraModules: string[];
  /** Extra kernel command line words. */
  cmdline: string[];
  /** authorized_keys content for root, when given. */
  sshKeys?: string;
  hostname: string;
  password?: string;
  /** Seconds since the epoch for every timestamp cake writes (and the clamp for others). */
  sourceDateEpoch?: number;
  /** Replaces the tree hash as the seed of every UUID. */
  seed?: string;
}

export const DEFAULT_KERNEL_RELEASE = 'bookworm';
export const DEFAULT_KERNEL_PACKAGE = 'linux-image-amd64';

const UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** `auto`, `2G`, `512M`, `1.5G`, `2GiB`, `1048576` (bytes) → bytes or 'auto'. */
export function parseSize(text: string): number | 'auto' {
  const t = text.trim();
  if (t === 'auto') return 'auto';
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?$/i.exec(t);
  if (m === null) throw new UsageError(`invalid --size '${text}'`, 'give a size such as 2G, 512M or auto');
  const bytes = Math.ceil(Number(m[1]) * (UNITS[(m[2] ?? '').toUpperCase()] ?? 1));
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new UsageError(`invalid --size '${text}'`, 'give a size such as 2G, 512M or auto');
  return bytes;
}

/**
 * `debian` | `debian:[RELEASE/]PACKAGE[=VERSION]` | `env` | a path to a bzImage.
 * `debian:trixie/linux-image-cloud-amd64`, `debian:linux-image-6.1.0-27-amd64=6.1.115-1`.
 */
export function parseKernelSpec(text: string | undefined): KernelSpec {
  const t = (text ?? 'debian').trim();
  if (t === 'env') return { kind: 'env' };
  if (t === 'debian') return { kind: 'debian', release: DEFAULT_KERNEL_RELEASE, package: DEFAULT_KERNEL_PACKAGE };
  if (t.startsWith('debian:')) {
    const m = /^debian:(?:([a-z][a-z0-9-]*)\/)?([a-z0-9][a-z0-9+.-]*)?(?:=([A-Za-z0-9.+~:-]+))?$/.exec(t);
    if (m === null) {
      throw new UsageError(`invalid --kernel '${text}'`, 'write debian, debian:PACKAGE, debian:RELEASE/PACKAGE or debian:PACKAGE=VERSION');
    }
    const spec: KernelSpec = { kind: 'debian', release: m[1] ?? DEFAULT_KERNEL_RELEASE, package: m[2] ?? DEFAULT_KERNEL_PACKAGE };
    if (m[3] !== undefined) spec.version = m[3];
    return spec;
  }
  if (t === '') throw new UsageError('empty --kernel', 'give debian, env or the path of a bzImage');
  return { kind: 'path', path: t };
}

/**
 * `--modules` items, comma-separated: a path (contains '/' or is `.`) is a modules directory,
 * anything else a module name (or alias) to add to the initramfs.
 */
export function parseModules(values: readonly string[]): { dirs: string[]; names: string[] } {
  const out = { dirs: [] as string[], names: [] as string[] };
  for (const v of values) {
    for (const item of v.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
      if (item.includes('/') || item === '.' || item === '..') out.dirs.push(item);
      else if (/^[A-Za-z0-9_.:-]+$/.test(item)) out.names.push(item);
      else throw new UsageError(`invalid --modules item '${item}'`, 'give module names (virtio_gpu,9p) or a modules directory path');
    }
  }
  return out;
}

/** A host name per RFC 1123 (labels of letters, digits and hyphens); env names are made to fit. */
export function checkHostname(name: string): string {
  if (name.length > 63 && !name.includes('.')) throw new UsageError(`invalid --hostname '${name}': longer than 63 characters`);
  if (!/^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(name)) {
    throw new UsageError(`invalid --hostname '${name}'`, 'use letters, digits and hyphens (dots between labels)');
  }
  return name;
}

/** The default host name of an env: its name with characters a host name cannot hold replaced. */
export function hostnameFromEnv(env: string): string {
  const h = env.replace(/[^A-Za-z0-9-]/g, '-').replace(/^-+|-+$/g, '').slice(0, 63).replace(/-+$/, '');
  return h === '' ? 'cake' : h;
}

/** Splits a --cmdline value into words (no quoting: kernel parameters do not need it here). */
export function parseCmdline(values: readonly string[]): string[] {
  return values.flatMap((v) => v.split(/\s+/)).filter((w) => w !== '');
}

/** The kernel command line of a baked image: root by UUID, consoles (the serial one last: it is /dev/console), eth0 naming, then `extra`. */
export function kernelCmdline(rootFsUuid: string, extra: readonly string[]): string {
  return [`root=UUID=${rootFsUuid}`, 'rw', 'console=tty0', 'console=ttyS0,115200n8', 'net.ifnames=0', ...extra].join(' ');
}
