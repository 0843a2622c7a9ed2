import { readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isErrno } from '../../model/errors.js';
import { pidAlive } from '../../store/lock.js';
import { TreeCache } from '../../store/tree-cache.js';
import type { CliContext } from '../context.js';
import { formatBytes } from '../logger.js';

/** Digests an env record refers to: its `resolved.sha256` and any `resolved.blobs`. */
function referencedBlobs(resolved: Record<string, unknown>): string[] {
  const out: string[] = [];
  if (typeof resolved.sha256 === 'string') out.push(resolved.sha256);
  if (Array.isArray(resolved.blobs)) for (const b of resolved.blobs) if (typeof b === 'string') out.push(b.replace(/^sha256:/, ''));
  return out;
}

/**
 * `cake gc`: removes blobs no env refers to, staging/trash dirs and tmp files left by cake
 * processes that no longer run. Blobs referenced by an env are kept so it can be recreated
 * (a Debian env's finished tree too: a later identical pull restores it instead of building).
 */
export async function gcCommand(ctx: CliContext): Promise<number> {
  const swept = await ctx.envs.sweep();
  const keep = new Set<string>();
  for (const r of ctx.envs.list()) for (const d of referencedBlobs(r.resolved)) keep.add(d);
  let freed = 0;
  let blobs = 0;
  for (const hex of ctx.blobs.list()) {
    if (keep.has(hex)) continue;
    freed += ctx.blobs.size(hex);
    ctx.blobs.remove(hex);
    blobs++;
  }
  // finished trees whose blob went: their index entries go too
  new TreeCache(ctx.paths, ctx.blobs).prune();
  let tmp = 0;
  try {
    for (const f of readdirSync(ctx.paths.tmp)) {
      const m = /\.(\d+)\.[0-9a-f]+$/.exec(f);
      // Partial downloads (download-*.part) are kept: the next pull resumes them.
      if (!m || pidAlive(Number(m[1]))) continue;
      const p = join(ctx.paths.tmp, f);
      freed += statSync(p).size;
      rmSync(p, { recursive: true, force: true });
      tmp++;
    }
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
  }
  const { StepCache } = await import('../../cook/step-cache.js');
  const cooked = await new StepCache(ctx.paths).gc();
  freed += cooked.bytes;
  if (cooked.skipped) ctx.logger.info('a cook is running: its cache entries are kept');
  ctx.logger.info(`removed ${blobs} unreferenced blob(s), ${swept} leftover env dir(s), ${tmp} tmp file(s), ${cooked.entries} unused cook cache entr${cooked.entries === 1 ? 'y' : 'ies'}; freed ${formatBytes(freed)}`);
  return 0;
}
