/**
 * The stages of `cake bake` that make the image's root tree and its initramfs (see pipeline.ts for
 * the order): the tree (walk, hash, farm, system files, kernel modules) and the initramfs.
 */
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import type { InitramfsStaged, KernelStaged, TreeStaged } from './bake-context.js';
import { imageIds } from './identity.js';
import { addKernelModules } from './image-modules.js';
import { buildInitramfs } from './initramfs.js';
import { prepareRootfs } from './rootfs-prepare.js';
import { buildFarm, restoreDirTimes, walkTree } from './rootfs-tree.js';
import { saltFromSeed, sha512Crypt } from './sha512-crypt.js';

/** Stage `tree`: walks and hashes the env, builds the farm in `work/tree` and writes the image's system files into it. */
export async function stageTree(ctx: KernelStaged): Promise<TreeStaged> {
  const { opts, deps, record, rootfs, kernel } = ctx;
  const walk = await walkTree(rootfs, record.ownership, { hashContents: true, signal: deps.signal, logger: deps.logger });
  const seed = opts.seed ?? walk.treeHash;
  const ids = imageIds(seed);
  const sde = opts.sourceDateEpoch ?? walk.newestMtime;
  const farm = join(ctx.work, 'tree');
  buildFarm(rootfs, walk, farm);
  let passwordHash: string | undefined;
  if (opts.password !== undefined) {
    passwordHash = sha512Crypt(opts.password, saltFromSeed(createHash('sha256').update(`${seed}\0password`).digest()));
  }
  const prepared = prepareRootfs({
    farm,
    ownership: record.ownership,
    hostname: opts.hostname,
    rootFsUuid: ids.rootFsUuid,
    ...(opts.sshKeys !== undefined ? { sshKeys: opts.sshKeys } : {}),
    ...(passwordHash !== undefined ? { passwordHash } : {}),
    busybox: ctx.busybox,
    sourceDateEpoch: sde,
  });
  for (const n of prepared.notes) deps.logger.info(n);
  // `--kernel debian`: the package's modules go into the image (`--kernel PATH --modules DIR`
  // names modules for the initramfs only; `--kernel env` has them in the env already)
  if (opts.kernel.kind === 'debian' && kernel.modulesDir !== undefined) {
    // a Debian kernel's modules never change in the cache: its depmod output is kept next to them
    const indexCache = join(dirname(kernel.modulesDir), `${kernel.release}.depmod`);
    const note = await addKernelModules(farm, kernel.release, kernel.modulesDir, ctx.tools, sde, indexCache);
    if (note !== undefined) deps.logger.info(note);
  }
  const final = await restoreDirTimes(farm, walk, sde);
  return { ...ctx, walk, seed, ids, sde, prepared, final };
}

/** Stage `initramfs`: busybox, the planned modules and cake's init, mounting the root by UUID. */
export async function stageInitramfs(ctx: TreeStaged): Promise<InitramfsStaged> {
  const { kernel } = ctx;
  const { image } = buildInitramfs({
    busybox: ctx.busybox,
    kernel,
    plan: ctx.plan,
    config: { root: `UUID=${ctx.ids.rootFsUuid}`, init: ctx.prepared.init, release: kernel.release, rootWait: 30 },
    sourceDateEpoch: ctx.sde,
  });
  return { ...ctx, initrd: image };
}
