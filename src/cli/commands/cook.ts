import { join, relative, resolve } from 'node:path';
import { UsageError } from '../../model/errors.js';
import { findRelease, loadDistros, type DistroDef } from '../../model/distro.js';
import { cook } from '../../cook/cook.js';
import { archiveKits } from '../../kit/provider.js';
import { StepCache } from '../../cook/step-cache.js';
import type { EngineName } from '../../run/run-options.js';
import type { CliContext } from '../context.js';
import { sourceDeps } from './pull.js';

/** `cake cook RECIPE.yaml [--name NAME] [--no-cache] [--locked] [--engine E]`: stdout is `NAME\tsha256:TREEHASH`. */
export async function cookCommand(ctx: CliContext, args: string[], opts: Record<string, unknown>): Promise<number> {
  const [file] = args;
  if (!file) throw new UsageError('cook needs a recipe', 'cake cook RECIPE.yaml');
  const started = Date.now();
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
      ...(typeof opts.name === 'string' ? { name: opts.name } : {}),
      engine: ((opts.engine as string | undefined) ?? 'auto') as EngineName,
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
        async distroExists(distro, release) {
          distros ??= loadDistros(join(ctx.packageRoot, 'distros'));
          try {
            findRelease(await distros, distro, release);
            return true;
          } catch {
            return false;
          }
        },
      },
    },
  );
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  ctx.logger.info(`cooked ${result.record.name} in ${secs} s: ${result.ran} step(s) ran, ${result.cached} from the cache; tree sha256:${result.treeSha256}`);
  if (result.lockWritten) ctx.logger.info(`wrote ${relative(cwd, String(result.record.resolved.lock)) || String(result.record.resolved.lock)}`);
  ctx.stdout.write(`${result.record.name}\tsha256:${result.treeSha256}\n`);
  return 0;
}
