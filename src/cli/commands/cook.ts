import { join, relative, resolve } from 'node:path';
import { bake } from '../../bake/pipeline.js';
import type { ImageSpec } from '../../cook/recipe-image.js';
import { bakeOptionsOf } from '../../cook/recipe-image.js';
import { CakeError, UsageError } from '../../model/errors.js';
import { findHostProgram } from '../../run/host-tools.js';
import { formatBytes } from '../logger.js';
import { findRelease, isArchiveAlias, releaseKnown, selectSource, type DistroDef } from '../../model/distro.js';
import { loadDistros } from '../../store/distros.js';
import { hostPlatform, toDistroArch } from '../../model/platform.js';
import { cook } from '../../cook/cook.js';
import { archiveKits } from '../../kit/provider.js';
import { StepCache } from '../../cook/step-cache.js';
import type { CliContext } from '../context.js';
import { sourceDeps } from './pull.js';
import type { CommandOptions } from '../command-types.js';

/**
 * `cake cook RECIPE.yaml [--name NAME] [--no-cache] [--locked] [--engine E] [--bake IMAGE]`: stdout is
 * `NAME\tsha256:TREEHASH`, then with --bake the image's path (bake's own output line).
 */
export async function cookCommand(ctx: CliContext, args: string[], opts: CommandOptions<'cook'>): Promise<number> {
  const [file] = args;
  if (!file) throw new UsageError('cook needs a recipe', 'cake cook RECIPE.yaml');
  const started = Date.now();
  // The result must not depend on the caller's umask (run steps inherit it; cake's own writers set
  // modes explicitly): cook works with 022, as image builders do.
  process.umask(0o022);
  let distros: Promise<DistroDef[]> | undefined;
  const cwd = process.cwd();
  const result = await cook(
    {
      cache: new StepCache(ctx.paths),
      envs: ctx.envs,
      source: sourceDeps(ctx),
      logger: ctx.logger,
      signal: ctx.signal,
      hostEnv: ctx.env,
      noCache: opts.cache === false,
      locked: Boolean(opts.locked),
      registry: { env: ctx.env, insecure: ctx.insecure },
    },
    {
      file: resolve(file),
      ...(opts.name !== undefined ? { name: opts.name } : {}),
      engine: opts.engine ?? 'auto',
      engineDeps: {
        logger: ctx.logger,
        hostEnv: ctx.env,
        cacheDir: join(ctx.paths.cache, 'engine'),
        signal: ctx.signal,
        stdio: ['ignore', 2, 2],
        kits: archiveKits({ http: () => ctx.http(), blobs: ctx.blobs, paths: ctx.paths, distrosDir: join(ctx.packageRoot, 'distros') }),
      },
      io: {
        display: (f) => {
          const rel = relative(cwd, f);
          return rel.startsWith('../../') || rel === '' ? f : rel;
        },
        envExists: (name) => ctx.envs.exists(name),
        async distroFromArchive(distro, release) {
          distros ??= loadDistros(join(ctx.packageRoot, 'distros'));
          try {
            const defs = await distros;
            const def = defs.find((d) => d.name === distro) ?? defs.find((d) => d.aliases.includes(distro));
            if (def !== undefined && release !== undefined && isArchiveAlias(def, release)) return true;
            const arch = toDistroArch(hostPlatform(process.arch));
            return arch !== undefined && selectSource(findRelease(defs, distro, release).release, arch, ['archive', 'tarball', 'registry']).kind === 'archive';
          } catch {
            return false;
          }
        },
        async distroExists(distro, release) {
          distros ??= loadDistros(join(ctx.packageRoot, 'distros'));
          return releaseKnown(await distros, distro, release);
        },
      },
    },
  );
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  ctx.logger.info(`cooked ${result.record.name} in ${secs} s: ${result.ran} step(s) ran, ${result.cached} from the cache; tree sha256:${result.treeSha256}`);
  if (result.lockWritten) ctx.logger.info(`wrote ${relative(cwd, String(result.record.resolved.lock)) || String(result.record.resolved.lock)}`);
  ctx.stdout.write(`${result.record.name}\tsha256:${result.treeSha256}\n`);
  if (opts.bake !== undefined) await bakeCooked(ctx, result.record.name, opts.bake, result.image);
  return 0;
}

/** `--bake IMAGE`: bakes the cooked env through bake's use case, with the recipe's `image:` section. */
async function bakeCooked(ctx: CliContext, env: string, output: string, image: ImageSpec | undefined): Promise<void> {
  if (output === '') throw new UsageError('--bake needs an IMAGE path', 'cake cook RECIPE.yaml --bake web.img');
  const boot = image?.boot ?? 'both';
  let bios = boot !== 'efi';
  if (bios && (await findHostProgram('syslinux', ctx.env)) === undefined) {
    if (boot === 'bios') throw new CakeError('missing-tool', 'syslinux is not installed (image: boot: bios needs it)', { hint: 'install the syslinux package (apt-get install syslinux)' });
    ctx.logger.warn('syslinux is not installed: the image boots with EFI only (apt-get install syslinux for BIOS boot too)');
    bios = false;
  }
  const options = bakeOptionsOf(image, env, output, bios, ctx.env);
  if (options.format === 'qcow2' && (await findHostProgram('qemu-img', ctx.env)) === undefined) {
    throw new CakeError('missing-tool', 'qemu-img is not installed (image: format: qcow2 needs it)', { hint: 'install the qemu-utils package (apt-get install qemu-utils)' });
  }
  const started = Date.now();
  const r = await bake(
    { paths: ctx.paths, blobs: ctx.blobs, envs: ctx.envs, logger: ctx.logger, signal: ctx.signal, http: () => ctx.http(), hostEnv: ctx.env, distrosDir: join(ctx.packageRoot, 'distros') },
    options,
  );
  const boots = [options.bios ? 'BIOS' : '', options.efi ? 'EFI' : ''].filter((b) => b).join('+');
  ctx.logger.info(`baked ${r.output} (${r.format}, ${formatBytes(r.bytes)}, ${boots}, ${r.system}) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  ctx.stdout.write(`${r.output}\n`);
}
