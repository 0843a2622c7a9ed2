/**
 * Garbage collection of the step cache: the entries no remembered chain uses go, and what dead
 * cooks left behind, all under the cache lock and never while a cook is active.
 */
import { existsSync, lstatSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { removeTreeSync } from '../archive/remove-tree.js';
import { pidAlive, withLock } from '../store/lock.js';
import type { StepCache } from './step-cache.js';

/**
 * Removes entries that no remembered chain uses, roots of recipes that are gone, and leftovers
 * of dead cooks in cook/tmp. Does nothing to entries while a cook is running.
 */
export async function gcStepCache(cache: StepCache): Promise<{ entries: number; bytes: number; skipped: boolean }> {
  if (!existsSync(cache.root)) return { entries: 0, bytes: 0, skipped: false };
  return withLock(cache.lockPath(), { what: 'the cook cache' }, async () => {
    let bytes = 0;
    for (const f of cache.list('tmp')) {
      const m = /\.(\d+)\.[0-9a-f]+$/.exec(f);
      if (m && !pidAlive(Number(m[1]))) {
        bytes += duOwn(join(cache.root, 'tmp', f));
        removeTreeSync(join(cache.root, 'tmp', f));
      }
    }
    const busy = cache.list('active').some((f) => pidAlive(Number(f.split('.')[0])));
    if (busy) return { entries: 0, bytes, skipped: true };
    for (const f of cache.list('active')) rmSync(join(cache.root, 'active', f), { force: true });
    // bases pulled by cooks that were killed before adopting them
    for (const f of cache.list('pull-envs')) {
      bytes += duOwn(join(cache.root, 'pull-envs', f));
      removeTreeSync(join(cache.root, 'pull-envs', f));
    }
    const live = new Set<string>();
    for (const f of cache.list('roots')) {
      const file = join(cache.root, 'roots', f);
      let root: { recipe: string; keys: string[] };
      try {
        root = JSON.parse(readFileSync(file, 'utf8')) as { recipe: string; keys: string[] };
      } catch {
        rmSync(file, { force: true });
        continue;
      }
      if (!existsSync(root.recipe)) {
        rmSync(file, { force: true });
        continue;
      }
      for (const k of root.keys) {
        live.add(k);
        const meta = cache.get(k);
        if (meta) live.add(meta.tree);
      }
    }
    let entries = 0;
    for (const key of cache.list('steps')) {
      if (live.has(key)) continue;
      bytes += duOwn(cache.entryDir(key));
      removeTreeSync(cache.entryDir(key));
      entries++;
    }
    return { entries, bytes, skipped: false };
  });
}

/** Bytes that removing `dir` frees: files not linked from elsewhere, and directories. */
export function duOwn(dir: string): number {
  let total = 0;
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const st = lstatSync(p);
      if (e.isDirectory()) {
        total += st.blocks * 512;
        walk(p);
      } else if (st.nlink === 1) total += st.blocks * 512;
    }
  };
  try {
    total += statSync(dir).blocks * 512;
    walk(dir);
  } catch {
    // unreadable parts are not counted
  }
  return total;
}
