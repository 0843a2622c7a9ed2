/**
 * The first stages of `cake bake` (see pipeline.ts for the order): the env, the packages from the
 * archive (busybox, the bootloaders, a Debian kernel) and the kernel with its module plan.
 */
import { CakeError } from '../model/errors.js';
import { DEFAULT_KERNEL_RELEASE } from '../model/bake-options.js';
import { fetchKit, type KitRequest } from '../kit/archive-fetch.js';
import { extractFromDeb } from '../kit/deb-extract.js';
import type { FetchedDeb } from '../kit/kit-deb.js';
import type { BakeStart, EnvStaged, KernelStaged, PackagesStaged } from './bake-context.js';
import { modulePlan } from './initramfs.js';
import { envKernel, pathKernel, type KernelFiles } from './kernel.js';
import { prepareDebianKernel } from './kernel-cache.js';

/** The fetched .deb of `name` (the packages stage asked for every one a later stage takes). */
export function kitDeb(kit: ReadonlyMap<string, FetchedDeb>, name: string): FetchedDeb {
  const deb = kit.get(name);
  if (deb === undefined) throw new Error(`bake: the packages stage did not fetch ${name}`);
  return deb;
}

/** The first of `paths` found in the .deb (extractFromDeb fails when none is there). */
export async function extractOne(deb: FetchedDeb, paths: readonly string[]): Promise<Buffer> {
  const found = await extractFromDeb(deb.path, `${deb.name} ${deb.version}`, [paths]);
  const bytes = found.get(paths[0]!);
  if (bytes === undefined) throw new Error(`bake: ${deb.name} ${deb.version} gave no ${paths[0]}`);
  return bytes;
}

/** Stage `env`: the env's record and tree; cake bakes x86_64 only. */
export async function stageEnv(ctx: BakeStart): Promise<EnvStaged> {
  const record = ctx.deps.envs.get(ctx.opts.env);
  const rootfs = ctx.deps.envs.rootfs(ctx.opts.env);
  const arch = record.arch;
  if (arch !== 'x86_64' && arch !== 'amd64') {
    throw new CakeError('bake', `environment ${ctx.opts.env} is ${arch}: cake bakes x86_64 images only`, { hint: 'pull an x86_64 env (--platform linux/amd64)' });
  }
  return { ...ctx, record, rootfs };
}

/** Stage `packages`: busybox, the bootloaders asked for and a Debian kernel, from the archive (cached in the store). */
export async function stagePackages(ctx: EnvStaged): Promise<PackagesStaged> {
  const k = ctx.opts.kernel;
  const release = k.kind === 'debian' ? k.release : DEFAULT_KERNEL_RELEASE;
  const requests: KitRequest[] = [{ name: 'busybox-static' }];
  if (ctx.opts.bios) requests.push({ name: 'syslinux-common' });
  if (ctx.opts.efi) requests.push({ name: 'systemd-boot-efi' });
  if (k.kind === 'debian') requests.push({ name: k.package, kernel: true, ...(k.version ? { version: k.version } : {}) });
  // a kernel that is not there fails before any download
  if (k.kind === 'path') pathKernel(k.path, ctx.opts.moduleDirs);
  if (k.kind === 'env') envKernel(ctx.rootfs, ctx.opts.env);
  const kit = await fetchKit({ ...ctx.deps, ...(ctx.deps.now ? { now: ctx.deps.now } : {}) }, release, requests);
  const busybox = await extractOne(kitDeb(kit, 'busybox-static'), ['/bin/busybox', '/usr/bin/busybox']);
  return { ...ctx, kit, busybox };
}

/** Stage `kernel`: the kernel (Debian's, the env's or a file) and the modules its initramfs loads. */
export async function stageKernel(ctx: PackagesStaged): Promise<KernelStaged> {
  const k = ctx.opts.kernel;
  const extra = ctx.opts.extraModules;
  let kernel: KernelFiles;
  if (k.kind === 'debian') {
    const deb = kitDeb(ctx.kit, k.package);
    const label = `${deb.name} ${deb.version}`;
    const prepared = await prepareDebianKernel(ctx.deps, { path: deb.path, sha256: deb.sha256, label }, (db) => modulePlan({ release: '', vmlinuz: '', db, label }, extra).order);
    kernel = { release: prepared.release, vmlinuz: prepared.vmlinuz, modulesDir: prepared.modulesDir, db: prepared.db, label: `${label} (Debian ${k.release})` };
  } else if (k.kind === 'env') {
    kernel = envKernel(ctx.rootfs, ctx.opts.env);
  } else {
    kernel = pathKernel(k.path, ctx.opts.moduleDirs);
  }
  const plan = modulePlan(kernel, extra);
  ctx.deps.logger.info(`kernel: ${kernel.label}, ${plan.order.length} module(s) in the initramfs`);
  if (kernel.db === undefined) ctx.deps.logger.warn(`${kernel.label} has no modules: virtio, ext4 and its checksums must be built in`);
  return { ...ctx, kernel, plan };
}
