/**
 * The disk image: the layout (GPT; a FAT boot partition at 1 MiB; the ext4 root after it; 1 MiB
 * at the end for the backup table), the sparse raw file the filesystems are made in (at their
 * offsets: nothing is copied), the partition table, and the output formats — raw, or qcow2
 * through `qemu-img convert`. The image is written next to its final name and renamed into place only
 * when complete: a failed bake leaves no partial image.
 */
import { pidMayOwn } from '../store/owner.js';
import { accessSync, closeSync, constants, ftruncateSync, openSync, readdirSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { CakeError, isErrno } from '../model/errors.js';
import { GPT_TYPE, LEGACY_BIOS_BOOTABLE, SECTOR, writeGpt, type GptPartition } from './partition.js';
import type { ToolRunner } from './tools.js';

const MIB = 1024 * 1024;
const ALIGN = MIB / SECTOR;

export interface Layout {
  totalBytes: number;
  esp: { start: number; sectors: number };
  root: { start: number; sectors: number };
}

/**
 * Where the partitions go. With a fixed `imageBytes`, the root partition takes what the boot
 * partition and the tables leave; CakeError('bake') when that is less than `rootMinBytes`.
 */
export function planLayout(espBytes: number, rootBytes: number | undefined, imageBytes: number | undefined, rootMinBytes: number): Layout {
  const espSectors = espBytes / SECTOR;
  const esp = { start: ALIGN, sectors: espSectors };
  const rootStart = esp.start + espSectors;
  if (imageBytes !== undefined) {
    const total = Math.floor(imageBytes / MIB) * MIB;
    const rootSectors = total / SECTOR - rootStart - ALIGN;
    const need = (rootStart + ALIGN) * SECTOR + rootMinBytes;
    if (rootSectors * SECTOR < rootMinBytes) {
      throw new CakeError('bake', `--size ${formatMiB(imageBytes)} is too small: the image needs at least ${formatMiB(need)} (boot partition ${formatMiB(espBytes)}, root filesystem ${formatMiB(rootMinBytes)})`, {
        hint: `give --size ${Math.ceil(need / MIB)}M or more, or --size auto`,
      });
    }
    return { totalBytes: total, esp, root: { start: rootStart, sectors: rootSectors } };
  }
  const rootSectors = (rootBytes as number) / SECTOR;
  return { totalBytes: (rootStart + rootSectors + ALIGN) * SECTOR, esp, root: { start: rootStart, sectors: rootSectors } };
}

function formatMiB(bytes: number): string {
  return `${Math.ceil(bytes / MIB)} MiB`;
}

export interface TableInput {
  layout: Layout;
  ids: { diskGuid: string; espPartUuid: string; rootPartUuid: string };
  /** MBR boot code (BIOS boot), if any. */
  bootCode?: Buffer;
  /** Mark the boot partition legacy-BIOS-bootable. */
  bios: boolean;
  /** The boot partition is an EFI system partition (else an XBOOTLDR one, for BIOS only). */
  efi: boolean;
}

/** Creates the raw image file: sparse, the full size, nothing in it yet. */
export function createRaw(file: string, layout: Layout): void {
  const fd = openSync(file, 'w', 0o644);
  try {
    ftruncateSync(fd, layout.totalBytes);
  } finally {
    closeSync(fd);
  }
}

/** Writes the partition table (and the MBR boot code) into the raw image. */
export function writeTables(file: string, t: TableInput): void {
  const { layout } = t;
  const partitions: GptPartition[] = [
    { type: t.efi ? GPT_TYPE.esp : GPT_TYPE.xbootldr, uuid: t.ids.espPartUuid, name: t.efi ? 'ESP' : 'boot', start: layout.esp.start, sectors: layout.esp.sectors, attributes: t.bios ? LEGACY_BIOS_BOOTABLE : 0n },
    { type: GPT_TYPE.rootX86_64, uuid: t.ids.rootPartUuid, name: 'root', start: layout.root.start, sectors: layout.root.sectors },
  ];
  const { head, tail } = writeGpt({ diskGuid: t.ids.diskGuid, sectors: layout.totalBytes / SECTOR, partitions, ...(t.bootCode ? { bootCode: t.bootCode } : {}) });
  const fd = openSync(file, 'r+');
  try {
    writeAll(fd, head, 0);
    writeAll(fd, tail, layout.totalBytes - tail.length);
  } finally {
    closeSync(fd);
  }
}

function writeAll(fd: number, buf: Buffer, pos: number): void {
  let done = 0;
  while (done < buf.length) done += writeSync(fd, buf, done, buf.length - done, pos + done);
}

/** Removes temporary images of `output` left by bakes that were killed (their process is gone). */
export function sweepStaleOutputs(output: string): void {
  const dir = dirname(output);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const f of names) {
    const m = /^\.(.+)\.(raw|qcow2)\.(\d+)\.tmp$/.exec(f);
    if (m === null || m[1] !== basename(output) || pidMayOwn(Number(m[3]))) continue;
    rmSync(join(dir, f), { force: true });
  }
}

/** A temporary name next to `output` (same directory, so the final rename is atomic). */
export function tempOutput(output: string, tag: string): string {
  return join(dirname(output), `.${basename(output)}.${tag}.${process.pid}.tmp`);
}

/**
 * Produces `output` in `format` from the assembled raw file `raw` (which is consumed: renamed or
 * removed). The final rename happens last.
 */
export async function writeOutput(tools: ToolRunner, raw: string, output: string, format: 'raw' | 'qcow2'): Promise<void> {
  if (format === 'raw') {
    renameSync(raw, output);
    return;
  }
  const tmp = tempOutput(output, 'qcow2');
  try {
    await tools.run('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, tmp], { what: 'converting the image to qcow2' });
    renameSync(tmp, output);
  } finally {
    rmSync(tmp, { force: true });
    rmSync(raw, { force: true });
  }
}

/** Throws CakeError('bake') unless the image can be written at `output` (its directory exists and is writable; it is not a directory). */
export function checkOutputDir(output: string): void {
  const dir = dirname(output);
  try {
    if (!statSync(dir).isDirectory()) throw new Error('not a directory');
    accessSync(dir, constants.W_OK);
  } catch (err) {
    const why = isErrno(err, 'ENOENT') ? 'does not exist' : isErrno(err, 'EACCES') ? 'is not writable' : (err as Error).message;
    throw new CakeError('bake', `cannot write the image ${output}: its directory ${dir} ${why}`);
  }
  if (statSync(output, { throwIfNoEntry: false })?.isDirectory()) throw new CakeError('bake', `cannot write the image ${output}: it is a directory`);
}
