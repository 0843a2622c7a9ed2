import { readdirSync, readFileSync, lstatSync, type Dirent } from 'node:fs';
import { join } from 'node:path';
import { removeTree } from '../../archive/remove-tree.js';
import { sweepOutside, sweepTmp } from '../../store/atomic-write.js';
import { gcLockPath } from '../../store/blobs.js';
import { clearStaleLock, withLock } from '../../store/lock.js';
import { liveLeases } from '../../store/lease.js';
import { pidMayOwn } from '../../store/owner.js';
import { TreeCache } from '../../store/tree-cache.js';
import type { CliContext } from '../context.js';
import { formatBytes } from '../logger.js';

const HEX64 = /(?:sha256:)?([0-9a-f]{64})/g;

/**
 * Every blob digest a record names, wherever it is (resolved.sha256, resolved.blobs, a registry
 * env's resolved.layers and resolved.config, anything a source adds later): every 64-hex string
 * of the record. Keeping a blob too many is harmless; deleting one in use is not.
 */
export function referencedBlobs(text: string): string[] {
  return [...text.matchAll(HEX64)].map((m) => m[1]!);
}

/** Leftover temporaries of the naming schemes cake's writers use: NAME.PID.tmp, NAME.tmp-PID, .NAME.cake-tmp-PID-RAND. */
const LEFTOVER = /(?:\.(\d+)\.tmp|\.tmp-(\d+)|\.cake-tmp-(\d+)-[0-9a-f]{8}(?:\.stale)?)$/;

/** Removes leftovers of dead pids in `dir` and its subdirs down to `depth` (never into env rootfs or blobs). */
async function sweepLeftovers(dir: string, depth: number, skip: Set<string>): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return { files, bytes };
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    const m = LEFTOVER.exec(e.name);
    const pid = m ? Number(m[1] ?? m[2] ?? m[3]) : undefined;
    if (pid !== undefined && !pidMayOwn(pid)) {
      try {
        bytes += lstatSync(p).size;
        await removeTree(p);
        files++;
      } catch {
        // the next gc tries again
      }
      continue;
    }
    if (e.isDirectory() && depth > 0 && !skip.has(p)) {
      const sub = await sweepLeftovers(p, depth - 1, skip);
      files += sub.files;
      bytes += sub.bytes;
    }
  }
  return { files, bytes };
}

/**
 * `cake gc`: removes blobs no env refers to, staging/trash dirs, env skeletons, lock files of
 * dead holders and temporaries left by cake processes that no longer run. Blobs referenced by an
 * env are kept so it can be recreated (a Debian env's finished tree too: a later identical pull
 * restores it instead of building). gc holds the gc lock while it deletes; while another cake
 * process uses the store (a pull, cook, bake: it holds a store lease) no blob is deleted. One
 * bad env (a corrupt record, a tree that cannot be removed) is reported, never fatal.
 */
export async function gcCommand(ctx: CliContext): Promise<number> {
  return withLock(gcLockPath(ctx.paths), { what: 'the store (another cake gc)', signal: ctx.signal }, () => collect(ctx));
}

async function collect(ctx: CliContext): Promise<number> {
  let freed = 0;
  const outside = sweepOutside(ctx.paths.tmp);
  freed += outside.bytes;
  const { removed: swept, failed } = await ctx.envs.sweepReport({ skeletons: true });
  for (const f of failed) ctx.logger.warn(`could not remove the leftover env dir ${f}; it is tried again by the next gc`);
  const { records, bad } = ctx.envs.survey();
  const keep = new Set<string>();
  for (const r of records) for (const d of referencedBlobs(JSON.stringify(r))) keep.add(d);
  for (const b of bad) {
    ctx.logger.warn(`${b.problem}: its blobs are kept`);
    try {
      for (const d of referencedBlobs(readFileSync(join(ctx.envs.dir(b.name), 'env.json'), 'latin1'))) keep.add(d);
    } catch {
      // unreadable: nothing to keep
    }
  }
  let blobs = 0;
  const users = ctx.blobs.users();
  if (users.length > 0) {
    ctx.logger.info(`cake (pid ${users.map((u) => u.pid).join(', ')}) is using the store: no blob is removed`);
  } else {
    for (const hex of ctx.blobs.list()) {
      if (keep.has(hex)) continue;
      try {
        freed += ctx.blobs.size(hex);
        ctx.blobs.remove(hex);
        blobs++;
      } catch {
        // gone meanwhile
      }
    }
    // finished trees whose blob went: their index entries go too
    new TreeCache(ctx.paths, ctx.blobs).prune();
  }
  let tmp = outside.files;
  try {
    for (const f of readdirSync(ctx.paths.tmp)) {
      const m = /\.(\d+)\.[0-9a-f]+$/.exec(f);
      // Partial downloads (download-*.part) are kept: the next pull resumes them.
      if (!m || pidMayOwn(Number(m[1]))) continue;
      const p = join(ctx.paths.tmp, f);
      try {
        freed += lstatSync(p).size;
        await removeTree(p);
        tmp++;
      } catch {
        // the next gc tries again
      }
    }
  } catch {
    // no tmp dir
  }
  liveLeases(join(ctx.paths.locks, 'use')); // drops the use leases of dead enter/exec
  // lock files of holders that are gone (a killed cook's env-base-PID-RAND.lock, ...)
  let locks = 0;
  try {
    for (const f of readdirSync(ctx.paths.locks)) if (f.endsWith('.lock') && clearStaleLock(join(ctx.paths.locks, f))) locks++;
  } catch {
    // no locks dir
  }
  const skip = new Set([ctx.paths.envs, ctx.paths.blobs, join(ctx.paths.data, 'cook')]);
  for (const root of [ctx.paths.data, ctx.paths.cache]) {
    const r = await sweepLeftovers(root, 4, skip);
    tmp += r.files;
    freed += r.bytes;
  }
  for (const d of readdirSafe(ctx.paths.envs)) if (!d.startsWith('.')) tmp += sweepTmp(join(ctx.paths.envs, d)).files;
  const { StepCache } = await import('../../cook/step-cache.js');
  const cooked = await new StepCache(ctx.paths).gc();
  freed += cooked.bytes;
  if (cooked.skipped) ctx.logger.info('a cook is running: its cache entries are kept');
  ctx.logger.info(
    `removed ${blobs} unreferenced blob(s), ${swept} leftover env dir(s), ${tmp} tmp file(s), ${locks} stale lock(s), ${cooked.entries} unused cook cache entr${cooked.entries === 1 ? 'y' : 'ies'}; freed ${formatBytes(freed)}`,
  );
  return 0;
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
