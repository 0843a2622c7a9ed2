import { UsageError } from '../../model/errors.js';
import type { CliContext } from '../context.js';

/**
 * `cake rm [--force] NAME...`: removes each env; fails (exit 1) if any is missing or in use (an
 * enter/exec runs in it; `--force` removes it anyway), after removing the others.
 */
export async function rmCommand(ctx: CliContext, args: string[], opts: Record<string, unknown> = {}): Promise<number> {
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
