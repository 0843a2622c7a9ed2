/**
 * The stages of `cake bake` that write the disk image: the root filesystem, the boot partition
 * and the partition tables with the final output (see pipeline.ts for the order).
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { keyFromBytes, lookupOwner } from '../archive/ownership.js';
import type { EnvRecord } from '../store/env-record.js';
import type { FetchedDeb as KitDeb } from '../kit/kit-deb.js';
import { GPTMBR_PATHS, installSyslinux, mbrBootCode, syslinuxConfig } from './bootloader-bios.js';
import { efiFiles, SYSTEMD_BOOT_PATHS } from './bootloader-efi.js';
import { extractFromDeb } from '../kit/deb-extract.js';
import { buildEsp, espBytes, type EspFile } from './esp.js';
import { buildExt4, estimateExt4, type Owner } from './ext4.js';
import type { ImageIds } from './identity.js';
import { createRaw, planLayout, tempOutput, writeOutput, writeTables, type Layout } from './image-output.js';
import type { KernelFiles } from './kernel.js';
import { kernelCmdline } from '../model/bake-options.js';
import type { PrepareResult } from './rootfs-prepare.js';
import type { WalkResult } from './rootfs-tree.js';
import { IMAGE_FACTS, imageFactsText } from './image-facts.js';
import type { BakeContext } from './pipeline.js';

/** Stage `filesystem`: plans the partition layout, creates the raw image and writes the ext4 root into it. */
export async function stageFilesystem(ctx: BakeContext): Promise<void> {
  const { opts } = ctx;
  const final = ctx.final as WalkResult;
  const prepared = ctx.prepared as PrepareResult;
  const ids = ctx.ids as ImageIds;
  const kernelBytes = statSync((ctx.kernel as KernelFiles).vmlinuz).size;
  const esp = espBytes(kernelBytes + (ctx.initrd as Buffer).length + 1024 * 1024);
  const est = estimateExt4(final.entries, prepared.devices.length);
  ctx.layout = planLayout(esp, opts.size === 'auto' ? est.autoBytes : undefined, opts.size === 'auto' ? undefined : opts.size, est.minBytes);
  const rootBytes = ctx.layout.root.sectors * 512;
  ctx.deps.logger.info(`root filesystem: ${Math.round(rootBytes / 1048576)} MiB for ${Math.round(final.bytes / 1048576)} MiB of files (${final.entries.length} entries)`);
  ctx.raw = tempOutput(ctx.output, 'raw');
  createRaw(ctx.raw, ctx.layout);
  const table = (ctx.record as EnvRecord).ownership;
  const owner = (e: { rel: Buffer; st: { mode: number } }): Owner => {
    const key = keyFromBytes(e.rel);
    return prepared.owners.get(key) ?? lookupOwner(table, key, e.st.mode);
  };
  await buildExt4(
    {
      tree: join(ctx.work, 'tree'),
      entries: final.entries,
      owner,
      devices: prepared.devices,
      image: ctx.raw,
      offset: ctx.layout.root.start * 512,
      bytes: rootBytes,
      uuid: ids.rootFsUuid,
      hashSeed: ids.rootHashSeed,
      label: 'root',
      sourceDateEpoch: ctx.sde as number,
      workDir: ctx.work,
    },
    ctx.tools,
    ctx.deps.logger,
  );
}

/** Stage `boot`: the boot partition (kernel, initramfs, image facts, syslinux and/or systemd-boot) and the BIOS boot code. */
export async function stageBoot(ctx: BakeContext): Promise<void> {
  const { opts } = ctx;
  const layout = ctx.layout as Layout;
  const line = kernelCmdline((ctx.ids as ImageIds).rootFsUuid, ctx.opts.cmdline);
  const files: EspFile[] = [
    { path: 'vmlinuz', content: readFileSync((ctx.kernel as KernelFiles).vmlinuz) },
    { path: 'initrd.img', content: ctx.initrd as Buffer },
    { path: IMAGE_FACTS, content: Buffer.from(imageFactsText({ init: (ctx.prepared as PrepareResult).kind, ssh: (ctx.prepared as PrepareResult).sshd })) },
  ];
  if (opts.bios) {
    files.push({ path: 'syslinux.cfg', content: syslinuxConfig(line) });
    const deb = ctx.kit?.get('syslinux-common') as KitDeb;
    const gptmbr = (await extractFromDeb(deb.path, `syslinux-common ${deb.version}`, [GPTMBR_PATHS])).get(GPTMBR_PATHS[0] as string) as Buffer;
    ctx.bootCode = mbrBootCode(gptmbr);
  }
  if (opts.efi) {
    const deb = ctx.kit?.get('systemd-boot-efi') as KitDeb;
    const sdboot = (await extractFromDeb(deb.path, `systemd-boot-efi ${deb.version}`, [SYSTEMD_BOOT_PATHS])).get(SYSTEMD_BOOT_PATHS[0] as string) as Buffer;
    files.push(...efiFiles(sdboot, line, `cake: ${opts.hostname}`));
  }
  const raw = ctx.raw as string;
  await buildEsp(
    ctx.tools,
    { image: raw, startSector: layout.esp.start, bytes: layout.esp.sectors * 512, volumeId: (ctx.ids as ImageIds).espVolumeId, files, workDir: ctx.work, sourceDateEpoch: ctx.sde as number },
    opts.bios ? (env) => installSyslinux(ctx.tools, raw, layout.esp.start * 512, env) : undefined,
  );
}

/** Stage `image`: the partition tables, then the raw image written to the output in its format. */
export async function stageImage(ctx: BakeContext): Promise<void> {
  const raw = ctx.raw as string;
  writeTables(raw, { layout: ctx.layout as Layout, ids: ctx.ids as ImageIds, ...(ctx.bootCode ? { bootCode: ctx.bootCode } : {}), bios: ctx.opts.bios, efi: ctx.opts.efi });
  await writeOutput(ctx.tools, raw, ctx.output, ctx.opts.format);
}
