import { UsageError } from '../../model/errors.js';
import type { CliContext } from '../context.js';
import { requireEnv } from '../env-names.js';
import type { CommandOptions } from '../command-types.js';

/**
 * `cake rm [--force] NAME...`: removes each env; fails (exit 1) if any is missing or in use (an
 * enter/exec runs in it; `--force` removes it anyway), after removing the others.
 */
export async function rmCommand(ctx: CliContext, args: string[], opts: CommandOptions<'rm'> = {}): Promise<number> {
  const list = args;
  if (list.length === 0) throw new UsageError('rm needs at least one environment name', 'cake rm NAME...');
  let failed: unknown;
  for (const name of list) {
    try {
      await ctx.envs.remove(name, { force: Boolean(opts.force), signal: ctx.signal, onWait: () => ctx.logger.info(`waiting for another cake process working on ${name}`), onLeftover: (m) => ctx.logger.warn(m) });
      ctx.logger.info(`removed ${name}`);
    } catch (err) {
      if (list.length > 1) ctx.logger.warn(`${name}: ${(err as Error).message}`);
      failed ??= err;
    }
  }
  if (failed) throw failed;
  return 0;
}

/** `cake rename OLD NEW`. */
export async function renameCommand(ctx: CliContext, args: string[]): Promise<number> {
  const [from, to] = args;
  if (!from || !to) throw new UsageError('rename needs OLD and NEW names', 'cake rename OLD NEW');
  await ctx.envs.rename(from, to);
  ctx.logger.info(`renamed ${from} to ${to}`);
  return 0;
}

/**
 * `cake clone OLD NEW`: NEW is a copy of OLD's files (reflinks where the filesystem has them,
 * else a data copy, through cook's `materialize`) with OLD's record: ownership, config, run
 * defaults. Not hard links: envs are writable, and a program writing a file in place in one env
 * would change the other. Atomic like every create (staged, then renamed).
 */
export async function cloneCommand(ctx: CliContext, args: string[]): Promise<number> {
  const [from, to] = args;
  if (!from || !to) throw new UsageError('clone needs OLD and NEW names', 'cake clone OLD NEW');
  const record = requireEnv(ctx, from);
  const { copyEnvTree } = await import('../env-copy.js');
  await ctx.envs.create(
    to,
    async (staging) => {
      await copyEnvTree(ctx.envs.rootfs(from), staging.rootfs);
      return { ...structuredClone(record), name: to, created: new Date().toISOString() };
    },
    { signal: ctx.signal },
  );
  ctx.logger.info(`cloned ${from} to ${to}`);
  return 0;
}
