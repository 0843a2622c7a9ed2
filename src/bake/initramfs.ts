/**
 * The initramfs of a baked image, written by cake: a static busybox, /init (init-script.ts), its
 * configuration (root UUID, init, kernel release), the modules for virtio disks and NICs, ext4
 * (and `--modules` extras) in the order modules-dep.ts computes, and /dev/console. A newc cpio
 * compressed with gzip (the fastest for the kernel to unpack); reproducible: fixed order, owners
 * and mtimes, no gzip timestamp.
 */
import { gzipSync } from 'node:zlib';
import { CakeError } from '../model/errors.js';
import { writeCpio, type CpioEntry } from './cpio.js';
import { INITRAMFS_INIT, initramfsConf, type InitramfsConfig } from './init-script.js';
import { readModule, type KernelFiles } from './kernel.js';
import { loadOrder, type LoadPlan } from './modules-dep.js';

/** Disk (virtio-blk, virtio-scsi + sd), network (virtio-net) and root filesystem (ext4 and its checksum) drivers. */
export const DEFAULT_MODULES: readonly string[] = ['virtio_pci', 'virtio_blk', 'virtio_scsi', 'sd_mod', 'virtio_net', 'ext4', 'crc32c_generic'];

/**
 * The load plan for the default modules plus `extra`. Requested extras that the kernel has
 * neither as a module nor built in are an error; missing defaults are assumed built in (a kernel
 * given by path may have no module database at all).
 */
export function modulePlan(kernel: KernelFiles, extra: readonly string[]): LoadPlan {
  if (kernel.db === undefined) {
    if (extra.length > 0) {
      throw new CakeError('bake', `--modules ${extra.join(',')}: ${kernel.label} has no modules directory`, { hint: 'give the modules directory with --modules DIR' });
    }
    return { order: [], builtin: [], missing: [...DEFAULT_MODULES] };
  }
  const plan = loadOrder(kernel.db, [...DEFAULT_MODULES, ...extra]);
  const unknown = plan.missing.filter((m) => extra.includes(m));
  if (unknown.length > 0) {
    throw new CakeError('bake', `${kernel.label} has no module ${unknown.join(', ')}`, { hint: 'check the name with modinfo, or leave it out of --modules' });
  }
  return plan;
}

export interface InitramfsInput {
  busybox: Buffer;
  kernel: KernelFiles;
  plan: LoadPlan;
  config: InitramfsConfig;
  sourceDateEpoch: number;
}

/** Modules go in decompressed (busybox insmod cannot read .ko.zst): their names lose the suffix. */
function plain(rel: string): string {
  return rel.replace(/\.(xz|gz|zst)$/, '');
}

/** The compressed initramfs image. */
export function buildInitramfs(input: InitramfsInput): { image: Buffer; entries: number } {
  const { kernel, plan } = input;
  const entries: CpioEntry[] = [];
  const dirs = new Set<string>();
  const dir = (path: string): void => {
    const parts = path.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const p = parts.slice(0, i).join('/');
      if (!dirs.has(p)) {
        dirs.add(p);
        entries.push({ path: p, type: 'dir', mode: 0o755 });
      }
    }
  };
  for (const d of ['bin', 'dev', 'etc/cake', 'lib/modules', 'newroot', 'proc', 'run', 'sys', 'tmp']) dir(d);
  entries.push(
    { path: 'init', type: 'file', mode: 0o755, data: Buffer.from(INITRAMFS_INIT) },
    { path: 'bin/busybox', type: 'file', mode: 0o755, data: input.busybox },
    { path: 'bin/sh', type: 'symlink', mode: 0o777, target: 'busybox' },
    { path: 'dev/console', type: 'char', mode: 0o600, rdev: [5, 1] },
    { path: 'dev/null', type: 'char', mode: 0o666, rdev: [1, 3] },
    { path: 'etc/cake/initramfs.conf', type: 'file', mode: 0o644, data: Buffer.from(initramfsConf(input.config)) },
    { path: 'etc/cake/modules', type: 'file', mode: 0o644, data: Buffer.from(plan.order.map((p) => `${plain(p)}\n`).join('')) },
  );
  for (const rel of plan.order) {
    const path = `lib/modules/${kernel.release}/${plain(rel)}`;
    dir(path.slice(0, path.lastIndexOf('/')));
    entries.push({ path, type: 'file', mode: 0o644, data: readModule(kernel, rel) });
  }
  const cpio = writeCpio(entries, input.sourceDateEpoch);
  return { image: gzipSync(cpio, { level: 6 }), entries: entries.length };
}
