/**
 * What `cake boot` needs to know about an image before starting QEMU: its format (raw or qcow2),
 * whether it boots with BIOS (MBR boot code and a legacy-BIOS-bootable partition) and/or EFI (an
 * EFI system partition), and — for cake's own images — the kernel and initramfs in the boot
 * partition, which the KVM probe boots, and what the image says about itself. Read-only.
 */
import { closeSync, mkdirSync, openSync, readFileSync, readSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CakeError } from '../model/errors.js';
import { GPT_TYPE, LEGACY_BIOS_BOOTABLE, readGpt, SECTOR } from '../bake/partition.js';
import type { ToolRunner } from '../bake/tools.js';
import { IMAGE_FACTS, parseImageFacts, type ImageFacts } from '../bake/image-facts.js';

export interface ImageInfo {
  format: 'raw' | 'qcow2';
  bios: boolean;
  efi: boolean;
  /** The boot partition (EFI system or XBOOTLDR), in bytes from the start of the disk. */
  esp?: { offset: number; size: number };
}

const HEAD_SECTORS = 34;

/** Throws CakeError('bake') for a file that is neither a disk image nor readable. */
export async function inspectImage(path: string, tools: ToolRunner, workDir: string): Promise<ImageInfo> {
  let magic: Buffer;
  try {
    magic = readHead(path, 4);
  } catch (err) {
    throw new CakeError('bake', `cannot read the image ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  const format = magic.equals(Buffer.from('QFI\xfb', 'latin1')) ? 'qcow2' : 'raw';
  const head = format === 'raw' ? readHead(path, HEAD_SECTORS * SECTOR) : await qcowHead(path, tools, workDir, HEAD_SECTORS * SECTOR);
  if (head.length < 2 * SECTOR || head[510] !== 0x55 || head[511] !== 0xaa) {
    throw new CakeError('bake', `${path} is not a bootable disk image (no boot sector)`, { hint: 'give an image made by cake bake' });
  }
  const hasBootCode = head.subarray(0, 440).some((b) => b !== 0);
  let gpt;
  try {
    gpt = readGpt(head);
  } catch {
    return { format, bios: hasBootCode, efi: false };
  }
  const esp = gpt.partitions.find((p) => p.type === GPT_TYPE.esp);
  const boot = esp ?? gpt.partitions.find((p) => p.type === GPT_TYPE.xbootldr);
  const legacy = gpt.partitions.some((p) => ((p.attributes ?? 0n) & LEGACY_BIOS_BOOTABLE) !== 0n);
  return {
    format,
    bios: hasBootCode && legacy,
    efi: esp !== undefined,
    ...(boot ? { esp: { offset: boot.start * SECTOR, size: boot.sectors * SECTOR } } : {}),
  };
}

function readHead(path: string, bytes: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(bytes);
    const n = readSync(fd, buf, 0, bytes, 0);
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** The first `bytes` of the disk inside a qcow2 file (through qemu-img dd). */
async function qcowHead(path: string, tools: ToolRunner, workDir: string, bytes: number): Promise<Buffer> {
  const out = join(workDir, 'head.raw');
  await qemuImgDd(tools, path, out, bytes);
  try {
    return readFileSync(out);
  } finally {
    rmSync(out, { force: true });
  }
}

async function qemuImgDd(tools: ToolRunner, path: string, out: string, bytes: number): Promise<void> {
  const bs = SECTOR;
  await tools.run('qemu-img', ['dd', '-f', 'qcow2', '-O', 'raw', `bs=${bs}`, `count=${Math.ceil(bytes / bs)}`, `if=${path}`, `of=${out}`], { what: 'reading the qcow2 image' });
}

/** Runs `fn` with mtools' image spec of the boot partition (a raw copy of its head for qcow2). */
async function withEsp<T>(path: string, info: ImageInfo, tools: ToolRunner, dir: string, fn: (spec: string, env: Record<string, string>) => Promise<T>): Promise<T | undefined> {
  if (info.esp === undefined) return undefined;
  mkdirSync(dir, { recursive: true });
  let source = path;
  if (info.format === 'qcow2') {
    source = join(dir, 'esp-head.raw');
    await qemuImgDd(tools, path, source, info.esp.offset + info.esp.size);
  }
  try {
    return await fn(`${source}@@${info.esp.offset}`, { MTOOLS_SKIP_CHECK: '1', HOME: dir, MTOOLSRC: '/dev/null' });
  } catch {
    return undefined;
  } finally {
    if (source !== path) rmSync(source, { force: true });
  }
}

/**
 * Copies /vmlinuz and /initrd.img out of the boot partition of a cake image into `dir`;
 * undefined when the image has no such files (it was not made by cake bake).
 */
export async function extractBootFiles(path: string, info: ImageInfo, tools: ToolRunner, dir: string): Promise<{ vmlinuz: string; initrd: string } | undefined> {
  const vmlinuz = join(dir, 'vmlinuz');
  const initrd = join(dir, 'initrd.img');
  return withEsp(path, info, tools, dir, async (spec, env) => {
    await tools.run('mcopy', ['-n', '-i', spec, '::/vmlinuz', vmlinuz], { what: 'reading the kernel of the image', env });
    await tools.run('mcopy', ['-n', '-i', spec, '::/initrd.img', initrd], { what: 'reading the initramfs of the image', env });
    return { vmlinuz, initrd };
  });
}

/** What a cake image says about itself (image-facts.ts); undefined for other images. */
export async function readImageFacts(path: string, info: ImageInfo, tools: ToolRunner, dir: string): Promise<ImageFacts | undefined> {
  const out = join(dir, IMAGE_FACTS);
  return withEsp(path, info, tools, dir, async (spec, env) => {
    await tools.run('mcopy', ['-n', '-i', spec, `::/${IMAGE_FACTS}`, out], { what: 'reading what the image says about itself', env });
    return parseImageFacts(readFileSync(out, 'utf8'));
  });
}
