/**
 * `cake bake`: an env into a bootable disk image, rootless and reproducible. The stages run in
 * order, each a function from the previous stage's result to its own (bake-context.ts), so they
 * read top to bottom and a wrong order does not compile:
 *   env → packages (archive) → kernel → tree (walk, hash, farm, system files) → initramfs →
 *   root filesystem → boot partition (syslinux and/or systemd-boot) → disk image → output.
 * Everything is built in a work directory in the store's tmp area and the image next to its final
 * name; on any failure both are removed, so a failed bake leaves nothing behind.
 */
import { rmSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { removeTree } from '../archive/remove-tree.js';
import { CakeError } from '../model/errors.js';
import type { BakeOptions } from '../model/bake-options.js';
import { engineCacheDir, sweepRuns } from '../run/run-dir.js';
import { withLock } from '../store/lock.js';
import type { BakeDeps, BakeStart, BootStaged } from './bake-context.js';
import { stageEnv, stageKernel, stagePackages } from './env-stages.js';
import { checkOutputDir, sweepStaleOutputs, tempOutput } from './image-output.js';
import { stageBoot, stageFilesystem, stageImage } from './image-stages.js';
import type { PrepareResult } from './rootfs-prepare.js';
import { createToolRunner } from './tools.js';
import { stageInitramfs, stageTree } from './tree-stages.js';
import { makeWorkDir } from './work-dir.js';

export type { BakeDeps } from './bake-context.js';

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

/** Runs the stages in order (see the module comment), timing each; stops between stages when aborted. */
async function runStages(start: BakeStart, timings: Record<string, number>): Promise<BootStaged> {
  const signal = start.deps.signal;
  const timed = async <I, O>(name: string, input: I, stage: (ctx: I) => Promise<O>): Promise<O> => {
    if (signal.aborted) throw new CakeError('interrupted', 'interrupted');
    const t0 = performance.now();
    const out = await stage(input);
    timings[name] = (performance.now() - t0) / 1000;
    return out;
  };
  const env = await timed('env', start, stageEnv);
  const packages = await timed('packages', env, stagePackages);
  const kernel = await timed('kernel', packages, stageKernel);
  const tree = await timed('tree', kernel, stageTree);
  const initramfs = await timed('initramfs', tree, stageInitramfs);
  const filesystem = await timed('filesystem', initramfs, stageFilesystem);
  const boot = await timed('boot', filesystem, stageBoot);
  return timed('image', boot, stageImage);
}

export async function bake(deps: BakeDeps, opts: BakeOptions): Promise<BakeResult> {
  const output = resolve(opts.output);
  checkOutputDir(output);
  sweepStaleOutputs(output);
  const envName = opts.env;
  deps.envs.get(envName); // the not-found error, before anything else
  deps.blobs.init();
  sweepRuns(engineCacheDir(deps.paths)); // a killed run's mount points never reach the image
  const work = await makeWorkDir(deps.paths.tmp, 'bake');
  const raw = tempOutput(output, 'raw');
  const timings: Record<string, number> = {};
  let done: BootStaged;
  try {
    const start: BakeStart = { deps, opts, tools: createToolRunner(deps.hostEnv, deps.signal), work, output, raw };
    done = await withLock(deps.envs.lockPath(envName), { what: `environment ${envName}`, signal: deps.signal }, () => runStages(start, timings));
  } catch (err) {
    // the raw image's name carries this process's pid: whatever is there is this bake's
    rmSync(raw, { force: true });
    throw deps.signal.aborted ? new CakeError('interrupted', 'interrupted', { cause: err }) : err;
  } finally {
    await removeTree(work);
  }
  return {
    output,
    format: opts.format,
    bytes: statSync(output).size,
    kernel: done.kernel.label,
    system: done.prepared.kind,
    rootFsUuid: done.ids.rootFsUuid,
    treeHash: done.walk.treeHash,
    timings,
  };
}
