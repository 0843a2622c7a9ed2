import { collectGarbage } from '../../store/gc.js';
import type { CliContext } from '../context.js';
import { formatBytes } from '../logger.js';

/** `cake gc`: what nothing uses goes (see src/store/gc.ts); one summary line on stderr. */
export async function gcCommand(ctx: CliContext): Promise<number> {
  const { StepCache } = await import('../../cook/step-cache.js');
  const r = await collectGarbage({ paths: ctx.paths, blobs: ctx.blobs, envs: ctx.envs, logger: ctx.logger, signal: ctx.signal, stepCache: new StepCache(ctx.paths) });
  ctx.logger.info(
    `removed ${r.blobs} unreferenced blob(s), ${r.envDirs} leftover env dir(s), ${r.tmpFiles} tmp file(s), ${r.locks} stale lock(s), ${r.cookEntries} unused cook cache entr${r.cookEntries === 1 ? 'y' : 'ies'}; freed ${formatBytes(r.freedBytes)}`,
  );
  return 0;
}
