/**
 * `cake bake`: an env into a bootable disk image, rootless and reproducible. Each stage is a
 * function of one context, run in order:
 *   env → packages (archive) → kernel → tree (walk, hash, farm, system files) → initramfs →
 *   root filesystem → boot partition (syslinux and/or systemd-boot) → disk image → output.
 * Everything is built in a work directory in the store's tmp area and the image next to its final
 * name; on any failure both are removed, so a failed bake leaves nothing behind.
 */
import { createHash } from 'node:crypto';
import { rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { removeTree } from '../archive/remove-tree.js';
import { CakeError } from '../model/errors.js';
import type { Logger } from '../model/logger.js';
import type { HttpClient } from '../net/http-client.js';
import type { BlobStore } from '../store/blobs.js';
import type { EnvRecord } from '../store/env-record.js';
import type { EnvStore } from '../store/envs.js';
import { engineCacheDir, sweepRuns } from '../run/run-dir.js';
import { withLock } from '../store/lock.js';
import type { CakePaths } from '../store/paths.js';
import { fetchKit, type KitRequest } from '../kit/archive-fetch.js';
import type { FetchedDeb as KitDeb } from '../kit/kit-deb.js';
import { extractFromDeb } from '../kit/deb-extract.js';
import { imageIds, type ImageIds } from './identity.js';
import { checkOutputDir, sweepStaleOutputs, type Layout } from './image-output.js';
import { addKernelModules } from './image-modules.js';
import { buildInitramfs, modulePlan } from './initramfs.js';
import { envKernel, pathKernel, type KernelFiles } from './kernel.js';
import { prepareDebianKernel } from './kernel-cache.js';
import type { LoadPlan } from './modules-dep.js';
import { DEFAULT_KERNEL_RELEASE, type BakeOptions } from '../model/bake-options.js';
import { prepareRootfs, type PrepareResult } from './rootfs-prepare.js';
import { buildFarm, restoreDirTimes, walkTree, type WalkResult } from './rootfs-tree.js';
import { saltFromSeed, sha512Crypt } from './sha512-crypt.js';
import { createToolRunner, type ToolRunner } from './tools.js';
import { makeWorkDir } from './work-dir.js';
import { stageBoot, stageFilesystem, stageImage } from './image-stages.js';

export interface BakeDeps {
  paths: CakePaths;
  blobs: BlobStore;
  envs: EnvStore;
  logger: Logger;
  signal: AbortSignal;
  http: () => Promise<HttpClient>;
  /** The host environment (PATH to find tools). */
  hostEnv: Record<string, string | undefined>;
  distrosDir: string;
  now?: () => Date;
}

export interface BakeResult {
  output: string;
  format: 'raw' | 'qcow2';
  bytes: number;
  kernel: string;
  system: PrepareResult['kind'];
  rootFsUuid: string;
  treeHash: string;
  /** Seconds per stage. */
  timings: Record<string, number>;
}

/** What the stages share; each stage fills in its part. */
export interface BakeContext {
  deps: BakeDeps;
  opts: BakeOptions;
  tools: ToolRunner;
  work: string;
  output: string;
  record?: EnvRecord;
  rootfs?: string;
  kit?: Map<string, KitDeb>;
  kernel?: KernelFiles;
  plan?: LoadPlan;
  busybox?: Buffer;
  walk?: WalkResult;
  seed?: string;
  ids?: ImageIds;
  sde?: number;
  prepared?: PrepareResult;
  final?: WalkResult;
  initrd?: Buffer;
  layout?: Layout;
  bootCode?: Buffer;
  /** The raw image being made, next to the output (removed on failure). */
  raw?: string;
  timings: Record<string, number>;
}

type Stage = [name: string, run: (ctx: BakeContext) => Promise<void>];

const STAGES: Stage[] = [
  ['env', stageEnv],
  ['packages', stagePackages],
  ['kernel', stageKernel],
  ['tree', stageTree],
  ['initramfs', stageInitramfs],
  ['filesystem', stageFilesystem],
  ['boot', stageBoot],
  ['image', stageImage],
];

export async function bake(deps: BakeDeps, opts: BakeOptions): Promise<BakeResult> {
  const output = resolve(opts.output);
  checkOutputDir(output);
  sweepStaleOutputs(output);
  const envName = opts.env;
  deps.envs.get(envName); // the not-found error, before anything else
  deps.blobs.init();
  sweepRuns(engineCacheDir(deps.paths)); // a killed run's mount points never reach the image
  const work = await makeWorkDir(deps.paths.tmp, 'bake');
  const ctx: BakeContext = { deps, opts, tools: createToolRunner(deps.hostEnv, deps.signal), work, output, timings: {} };
  try {
    await withLock(deps.envs.lockPath(envName), { what: `environment ${envName}`, signal: deps.signal }, async () => {
      for (const [name, run] of STAGES) {
        if (deps.signal.aborted) throw new CakeError('interrupted', 'interrupted');
        const t0 = performance.now();
        await run(ctx);
        ctx.timings[name] = (performance.now() - t0) / 1000;
      }
    });
  } catch (err) {
    if (ctx.raw !== undefined) rmSync(ctx.raw, { force: true });
    throw deps.signal.aborted ? new CakeError('interrupted', 'interrupted', { cause: err }) : err;
  } finally {
    await removeTree(work);
  }
  return {
    output,
    format: opts.format,
    bytes: statSync(output).size,
    kernel: ctx.kernel?.label ?? '',
    system: ctx.prepared?.kind ?? 'busybox',
    rootFsUuid: ctx.ids?.rootFsUuid ?? '',
    treeHash: ctx.walk?.treeHash ?? '',
    timings: ctx.timings,
  };
}

async function stageEnv(ctx: BakeContext): Promise<void> {
  ctx.record = ctx.deps.envs.get(ctx.opts.env);
  ctx.rootfs = ctx.deps.envs.rootfs(ctx.opts.env);
  const arch = ctx.record.arch;
  if (arch !== 'x86_64' && arch !== 'amd64') {
    throw new CakeError('bake', `environment ${ctx.opts.env} is ${arch}: cake bakes x86_64 images only`, { hint: 'pull an x86_64 env (--platform linux/amd64)' });
  }
}

async function stagePackages(ctx: BakeContext): Promise<void> {
  const k = ctx.opts.kernel;
  const release = k.kind === 'debian' ? k.release : DEFAULT_KERNEL_RELEASE;
  const requests: KitRequest[] = [{ name: 'busybox-static' }];
  if (ctx.opts.bios) requests.push({ name: 'syslinux-common' });
  if (ctx.opts.efi) requests.push({ name: 'systemd-boot-efi' });
  if (k.kind === 'debian') requests.push({ name: k.package, kernel: true, ...(k.version ? { version: k.version } : {}) });
  // a kernel that is not there fails before any download
  if (k.kind === 'path') pathKernel(k.path, ctx.opts.moduleDirs);
  if (k.kind === 'env') envKernel(ctx.rootfs as string, ctx.opts.env);
  ctx.kit = await fetchKit({ ...ctx.deps, ...(ctx.deps.now ? { now: ctx.deps.now } : {}) }, release, requests);
  const bb = ctx.kit.get('busybox-static') as KitDeb;
  ctx.busybox = (await extractFromDeb(bb.path, `busybox-static ${bb.version}`, [['/bin/busybox', '/usr/bin/busybox']])).get('/bin/busybox');
}

async function stageKernel(ctx: BakeContext): Promise<void> {
  const k = ctx.opts.kernel;
  const extra = ctx.opts.extraModules;
  if (k.kind === 'debian') {
    const deb = ctx.kit?.get(k.package) as KitDeb;
    const label = `${deb.name} ${deb.version}`;
    const prepared = await prepareDebianKernel(ctx.deps, { path: deb.path, sha256: deb.sha256, label }, (db) => modulePlan({ release: '', vmlinuz: '', db, label }, extra).order);
    ctx.kernel = { release: prepared.release, vmlinuz: prepared.vmlinuz, modulesDir: prepared.modulesDir, db: prepared.db, label: `${label} (Debian ${k.release})` };
  } else if (k.kind === 'env') {
    ctx.kernel = envKernel(ctx.rootfs as string, ctx.opts.env);
  } else {
    ctx.kernel = pathKernel(k.path, ctx.opts.moduleDirs);
  }
  ctx.plan = modulePlan(ctx.kernel, extra);
  ctx.deps.logger.info(`kernel: ${ctx.kernel.label}, ${ctx.plan.order.length} module(s) in the initramfs`);
  if (ctx.kernel.db === undefined) ctx.deps.logger.warn(`${ctx.kernel.label} has no modules: virtio, ext4 and its checksums must be built in`);
}

async function stageTree(ctx: BakeContext): Promise<void> {
  const { opts, deps } = ctx;
  const record = ctx.record as EnvRecord;
  const rootfs = ctx.rootfs as string;
  ctx.walk = walkTree(rootfs, record.ownership, { hashContents: true });
  ctx.seed = opts.seed ?? ctx.walk.treeHash;
  ctx.ids = imageIds(ctx.seed);
  ctx.sde = opts.sourceDateEpoch ?? ctx.walk.newestMtime;
  const farm = join(ctx.work, 'tree');
  buildFarm(rootfs, ctx.walk, farm);
  let passwordHash: string | undefined;
  if (opts.password !== undefined) {
    passwordHash = sha512Crypt(opts.password, saltFromSeed(createHash('sha256').update(`${ctx.seed}\0password`).digest()));
  }
  ctx.prepared = prepareRootfs({
    farm,
    ownership: record.ownership,
    hostname: opts.hostname,
    rootFsUuid: ctx.ids.rootFsUuid,
    ...(opts.sshKeys !== undefined ? { sshKeys: opts.sshKeys } : {}),
    ...(passwordHash !== undefined ? { passwordHash } : {}),
    busybox: ctx.busybox as Buffer,
    sourceDateEpoch: ctx.sde,
  });
  for (const n of ctx.prepared.notes) deps.logger.info(n);
  const kernel = ctx.kernel as KernelFiles;
  // `--kernel debian`: the package's modules go into the image (`--kernel PATH --modules DIR`
  // names modules for the initramfs only; `--kernel env` has them in the env already)
  if (opts.kernel.kind === 'debian' && kernel.modulesDir !== undefined) {
    // a Debian kernel's modules never change in the cache: its depmod output is kept next to them
    const indexCache = join(dirname(kernel.modulesDir), `${kernel.release}.depmod`);
    const note = await addKernelModules(farm, kernel.release, kernel.modulesDir, ctx.tools, ctx.sde, indexCache);
    if (note !== undefined) deps.logger.info(note);
  }
  ctx.final = restoreDirTimes(farm, ctx.walk, ctx.sde);
}

async function stageInitramfs(ctx: BakeContext): Promise<void> {
  const kernel = ctx.kernel as KernelFiles;
  const { image } = buildInitramfs({
    busybox: ctx.busybox as Buffer,
    kernel,
    plan: ctx.plan as LoadPlan,
    config: { root: `UUID=${(ctx.ids as ImageIds).rootFsUuid}`, init: (ctx.prepared as PrepareResult).init, release: kernel.release, rootWait: 30 },
    sourceDateEpoch: ctx.sde as number,
  });
  ctx.initrd = image;
}
