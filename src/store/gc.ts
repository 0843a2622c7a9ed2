/**
 * `cake gc`'s use case: removes blobs no env refers to, staging/trash dirs, env skeletons, lock
 * files of dead holders and temporaries left by cake processes that no longer run. Blobs
 * referenced by an env are kept so it can be recreated (a Debian env's finished tree too: a later
 * identical pull restores it instead of building). gc holds the gc lock while it deletes; while
 * another cake process uses the store (a pull, cook, bake: it holds a store lease) no blob is
 * deleted. One bad env (a corrupt record, a tree that cannot be removed) is reported, never fatal.
 * Caches of tiers above the store (cook's step cache) are handed in as collectors.
 */
import { readdirSync, readFileSync, lstatSync, type Dirent } from 'node:fs';
import { join } from 'node:path';
import { removeTree } from '../archive/remove-tree.js';
import type { Logger } from '../model/logger.js';
import { sweepOutside, sweepTmp } from './atomic-write.js';
import { gcLockPath, type BlobStore } from './blobs.js';
import type { EnvStore } from './envs.js';
import { liveLeases } from './lease.js';
import { clearStaleLock, withLock } from './lock.js';
import { pidMayOwn } from './owner.js';
import type { CakePaths } from './paths.js';
import { TreeCache } from './tree-cache.js';

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

/** A cache of a higher tier that gc empties of what nothing uses (cook's step cache). */
export interface GcCollector {
  gc(): Promise<{ entries: number; bytes: number; skipped: boolean }>;
}

export interface GcDeps {
  paths: CakePaths;
  blobs: BlobStore;
  envs: EnvStore;
  logger: Logger;
  signal: AbortSignal;
  /** The step cache (src/cook/step-cache.ts). */
  stepCache: GcCollector;
}

export interface GcReport {
  blobs: number;
  envDirs: number;
  tmpFiles: number;
  locks: number;
  cookEntries: number;
  freedBytes: number;
}

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

/** Collects the store's garbage under the gc lock (see the module comment). */
export async function collectGarbage(deps: GcDeps): Promise<GcReport> {
  return withLock(gcLockPath(deps.paths), { what: 'the store (another cake gc)', signal: deps.signal }, () => collect(deps));
}

/** Blobs no record names, unless another cake process uses the store. */
function removeUnreferencedBlobs(deps: GcDeps): { blobs: number; bytes: number } {
  const { paths, blobs: store, envs, logger } = deps;
  const { records, bad } = envs.survey();
  const keep = new Set<string>();
  for (const r of records) for (const d of referencedBlobs(JSON.stringify(r))) keep.add(d);
  for (const b of bad) {
    logger.warn(`${b.problem}: its blobs are kept`);
    try {
      for (const d of referencedBlobs(readFileSync(join(envs.dir(b.name), 'env.json'), 'latin1'))) keep.add(d);
    } catch {
      // unreadable: nothing to keep
    }
  }
  let blobs = 0;
  let bytes = 0;
  const users = store.users();
  if (users.length > 0) {
    logger.info(`cake (pid ${users.map((u) => u.pid).join(', ')}) is using the store: no blob is removed`);
    return { blobs, bytes };
  }
  for (const hex of store.list()) {
    if (keep.has(hex)) continue;
    try {
      bytes += store.size(hex);
      store.remove(hex);
      blobs++;
    } catch {
      // gone meanwhile
    }
  }
  // finished trees whose blob went: their index entries go too
  new TreeCache(paths, store).prune();
  return { blobs, bytes };
}

async function collect(deps: GcDeps): Promise<GcReport> {
  const { paths, envs, logger } = deps;
  let freed = 0;
  const outside = sweepOutside(paths.tmp);
  freed += outside.bytes;
  const { removed: swept, failed } = await envs.sweepReport({ skeletons: true });
  for (const f of failed) logger.warn(`could not remove the leftover env dir ${f}; it is tried again by the next gc`);
  const removed = removeUnreferencedBlobs(deps);
  freed += removed.bytes;
  let tmp = outside.files;
  for (const f of readdirSafe(paths.tmp)) {
    // NAME.PID.RAND, and bake's and boot's work dirs (bake-PID-RAND: src/bake/work-dir.ts)
    const m = /\.(\d+)\.[0-9a-f]+$/.exec(f) ?? /^(?:bake|boot)-(\d+)-[0-9a-f]+$/.exec(f);
    // Partial downloads (download-*.part) are kept: the next pull resumes them.
    if (!m || pidMayOwn(Number(m[1]))) continue;
    const p = join(paths.tmp, f);
    try {
      freed += lstatSync(p).size;
      await removeTree(p);
      tmp++;
    } catch {
      // the next gc tries again
    }
  }
  liveLeases(join(paths.locks, 'use')); // drops the use leases of dead enter/exec
  // lock files of holders that are gone (a killed cook's env-base-PID-RAND.lock, ...)
  let locks = 0;
  for (const f of readdirSafe(paths.locks)) if (f.endsWith('.lock') && clearStaleLock(join(paths.locks, f))) locks++;
  const skip = new Set([paths.envs, paths.blobs, join(paths.data, 'cook')]);
  for (const root of [paths.data, paths.cache]) {
    const r = await sweepLeftovers(root, 4, skip);
    tmp += r.files;
    freed += r.bytes;
  }
  for (const d of readdirSafe(paths.envs)) if (!d.startsWith('.')) tmp += sweepTmp(join(paths.envs, d)).files;
  const cooked = await deps.stepCache.gc();
  freed += cooked.bytes;
  if (cooked.skipped) logger.info('a cook is running: its cache entries are kept');
  return { blobs: removed.blobs, envDirs: swept, tmpFiles: tmp, locks, cookEntries: cooked.entries, freedBytes: freed };
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
