/**
 * The FAT32 boot partition, made in place in the disk image with dosfstools and mtools (no mount):
 * the kernel and initramfs at its root, shared by syslinux (BIOS) and systemd-boot (EFI).
 * Reproducible: `mkfs.vfat --invariant` with a derived volume id, SOURCE_DATE_EPOCH for every
 * time mtools and syslinux write, files added in a fixed order.
 */
import { mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ToolRunner } from './tools.js';

const MIB = 1024 * 1024;

export interface EspFile {
  /** Path inside the partition, without a leading '/'. */
  path: string;
  content: Buffer | string;
}

/** The partition size for `payload` bytes of files: at least 64 MiB (FAT32 needs 65525 clusters), MiB-aligned. */
export function espBytes(payload: number): number {
  return Math.max(64 * MIB, Math.ceil((payload * 1.1 + 8 * MIB) / MIB) * MIB);
}

export function mtoolsEnv(workDir: string, sourceDateEpoch: number): Record<string, string> {
  return { MTOOLS_SKIP_CHECK: '1', SOURCE_DATE_EPOCH: String(sourceDateEpoch), HOME: workDir, MTOOLSRC: '/dev/null' };
}

/**
 * Makes a FAT32 filesystem of `bytes` at sector `startSector` of the disk image `image`, lets
 * `install` put a boot sector in it (for syslinux), then copies `files` in.
 */
export async function buildEsp(
  tools: ToolRunner,
  o: { image: string; startSector: number; bytes: number; volumeId: string; files: readonly EspFile[]; workDir: string; sourceDateEpoch: number },
  install?: (env: Record<string, string>) => Promise<void>,
): Promise<void> {
  const env = mtoolsEnv(o.workDir, o.sourceDateEpoch);
  const args = ['-F', '32', '-s', '1', '-S', '512', '-n', 'ESP', '--invariant', '-i', o.volumeId, '-h', String(o.startSector), `--offset=${o.startSector}`];
  await tools.run('mkfs.vfat', [...args, o.image, String(Math.floor(o.bytes / 1024))], { what: 'creating the boot partition', env });
  if (install !== undefined) await install(env);
  const fs = `${o.image}@@${o.startSector * 512}`;
  const staging = join(o.workDir, 'esp-files');
  const dirs = new Set<string>();
  for (const f of o.files) {
    const parts = f.path.split('/').slice(0, -1);
    for (let i = 1; i <= parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  const sortedDirs = [...dirs].sort();
  if (sortedDirs.length > 0) {
    await tools.run('mmd', ['-i', fs, ...sortedDirs.map((d) => `::/${d}`)], { what: 'creating directories in the boot partition', env });
  }
  for (const f of [...o.files].sort((a, b) => (a.path < b.path ? -1 : 1))) {
    const local = join(staging, f.path);
    mkdirSync(dirname(local), { recursive: true });
    writeFileSync(local, f.content);
    utimesSync(local, o.sourceDateEpoch, o.sourceDateEpoch);
    await tools.run('mcopy', ['-o', '-m', '-i', fs, local, `::/${f.path}`], { what: `copying ${f.path} into the boot partition`, env });
  }
}
