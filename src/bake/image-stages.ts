/**
 * The stages of `cake bake` that write the disk image: the root filesystem, the boot partition
 * and the partition tables with the final output (see pipeline.ts for the order).
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { keyFromBytes, lookupOwner } from '../model/ownership.js';
import { kernelCmdline } from '../model/bake-options.js';
import type { BootStaged, FilesystemStaged, InitramfsStaged } from './bake-context.js';
import { GPTMBR_PATHS, installSyslinux, mbrBootCode, syslinuxConfig } from './bootloader-bios.js';
import { efiFiles, SYSTEMD_BOOT_PATHS } from './bootloader-efi.js';
import { extractOne, kitDeb } from './env-stages.js';
import { buildEsp, espBytes, type EspFile } from './esp.js';
import { buildExt4, estimateExt4, type Owner } from './ext4.js';
import { createRaw, planLayout, writeOutput, writeTables } from './image-output.js';
import { IMAGE_FACTS, imageFactsText } from './image-facts.js';

/** Stage `filesystem`: plans the partition layout, creates the raw image and writes the ext4 root into it. */
export async function stageFilesystem(ctx: InitramfsStaged): Promise<FilesystemStaged> {
  const { opts, final, prepared, ids } = ctx;
  const kernelBytes = statSync(ctx.kernel.vmlinuz).size;
  const esp = espBytes(kernelBytes + ctx.initrd.length + 1024 * 1024);
  const est = estimateExt4(final.entries, prepared.devices.length);
  const layout = planLayout(esp, opts.size === 'auto' ? est.autoBytes : undefined, opts.size === 'auto' ? undefined : opts.size, est.minBytes);
  const rootBytes = layout.root.sectors * 512;
  ctx.deps.logger.info(`root filesystem: ${Math.round(rootBytes / 1048576)} MiB for ${Math.round(final.bytes / 1048576)} MiB of files (${final.entries.length} entries)`);
  createRaw(ctx.raw, layout);
  const table = ctx.record.ownership;
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
      offset: layout.root.start * 512,
      bytes: rootBytes,
      uuid: ids.rootFsUuid,
      hashSeed: ids.rootHashSeed,
      label: 'root',
      sourceDateEpoch: ctx.sde,
      workDir: ctx.work,
    },
    ctx.tools,
    ctx.deps.logger,
  );
  return { ...ctx, layout };
}

/** Stage `boot`: the boot partition (kernel, initramfs, image facts, syslinux and/or systemd-boot) and the BIOS boot code. */
export async function stageBoot(ctx: FilesystemStaged): Promise<BootStaged> {
  const { opts, layout, raw } = ctx;
  const line = kernelCmdline(ctx.ids.rootFsUuid, opts.cmdline);
  const files: EspFile[] = [
    { path: 'vmlinuz', content: readFileSync(ctx.kernel.vmlinuz) },
    { path: 'initrd.img', content: ctx.initrd },
    { path: IMAGE_FACTS, content: Buffer.from(imageFactsText({ init: ctx.prepared.kind, ssh: ctx.prepared.sshd })) },
  ];
  let bootCode: Buffer | undefined;
  if (opts.bios) {
    files.push({ path: 'syslinux.cfg', content: syslinuxConfig(line) });
    bootCode = mbrBootCode(await extractOne(kitDeb(ctx.kit, 'syslinux-common'), GPTMBR_PATHS));
  }
  if (opts.efi) {
    const sdboot = await extractOne(kitDeb(ctx.kit, 'systemd-boot-efi'), SYSTEMD_BOOT_PATHS);
    files.push(...efiFiles(sdboot, line, `cake: ${opts.hostname}`));
  }
  await buildEsp(
    ctx.tools,
    { image: raw, startSector: layout.esp.start, bytes: layout.esp.sectors * 512, volumeId: ctx.ids.espVolumeId, files, workDir: ctx.work, sourceDateEpoch: ctx.sde },
    opts.bios ? (env) => installSyslinux(ctx.tools, raw, layout.esp.start * 512, env) : undefined,
  );
  return { ...ctx, ...(bootCode ? { bootCode } : {}) };
}

/** Stage `image`: the partition tables, then the raw image written to the output in its format. */
export async function stageImage(ctx: BootStaged): Promise<BootStaged> {
  writeTables(ctx.raw, { layout: ctx.layout, ids: ctx.ids, ...(ctx.bootCode ? { bootCode: ctx.bootCode } : {}), bios: ctx.opts.bios, efi: ctx.opts.efi });
  await writeOutput(ctx.tools, ctx.raw, ctx.output, ctx.opts.format);
  return ctx;
}
