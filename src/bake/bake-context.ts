/**
 * What `cake bake`'s stages hand each other (see pipeline.ts). The context grows per stage: each
 * stage takes the previous stage's result and returns it with its own part added, so a stage run
 * before the one it needs does not compile, and no stage reads a field that may be missing.
 */
import type { UseCaseDeps } from '../store/use-case-deps.js';
import type { BakeOptions } from '../model/bake-options.js';
import type { EnvRecord } from '../store/env-record.js';
import type { FetchedDeb } from '../kit/kit-deb.js';
import type { ImageIds } from './identity.js';
import type { Layout } from './image-output.js';
import type { KernelFiles } from './kernel.js';
import type { LoadPlan } from './modules-dep.js';
import type { PrepareResult } from './rootfs-prepare.js';
import type { WalkResult } from './rootfs-tree.js';
import type { ToolRunner } from './tools.js';

export interface BakeDeps extends UseCaseDeps {
  distrosDir: string;
  now?: () => Date;
}

/** What every stage has: the inputs of the bake and where it works. */
export interface BakeStart {
  readonly deps: BakeDeps;
  readonly opts: BakeOptions;
  readonly tools: ToolRunner;
  /** The work dir in the store's tmp area (removed at the end). */
  readonly work: string;
  readonly output: string;
  /** The raw image being made, next to the output (removed on failure). */
  readonly raw: string;
}

/** After `env`: the env's record and tree. */
export interface EnvStaged extends BakeStart {
  readonly record: EnvRecord;
  readonly rootfs: string;
}

/** After `packages`: the .debs fetched from the archive, and busybox from one of them. */
export interface PackagesStaged extends EnvStaged {
  readonly kit: ReadonlyMap<string, FetchedDeb>;
  readonly busybox: Buffer;
}

/** After `kernel`: the kernel and the modules its initramfs loads, in order. */
export interface KernelStaged extends PackagesStaged {
  readonly kernel: KernelFiles;
  readonly plan: LoadPlan;
}

/** After `tree`: the farm of the image's root (`work/tree`), its identity and its system files. */
export interface TreeStaged extends KernelStaged {
  /** The env's tree as walked (hash, newest mtime). */
  readonly walk: WalkResult;
  /** The seed of the image's ids (CAKE_BAKE_SEED or the tree hash). */
  readonly seed: string;
  readonly ids: ImageIds;
  /** The image's SOURCE_DATE_EPOCH (the option, else the tree's newest mtime). */
  readonly sde: number;
  readonly prepared: PrepareResult;
  /** The farm as it goes into the filesystem. */
  readonly final: WalkResult;
}

/** After `initramfs`. */
export interface InitramfsStaged extends TreeStaged {
  readonly initrd: Buffer;
}

/** After `filesystem`: the raw image exists with its root filesystem written at `layout.root`. */
export interface FilesystemStaged extends InitramfsStaged {
  readonly layout: Layout;
}

/** After `boot`: the boot partition is written; BIOS boot code for the MBR when booting with BIOS. */
export interface BootStaged extends FilesystemStaged {
  readonly bootCode?: Buffer;
}

