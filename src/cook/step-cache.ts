/**
 * The step cache, under the data dir (same filesystem as the envs, so renames and hard links
 * work): `cook/steps/<key>/meta.json` and, for steps that changed the tree, `rootfs/` (a snapshot,
 * see snapshot.ts). A step that did not change the tree points at its parent's tree. Entries are
 * built in `cook/tmp/` and renamed into place: a reader never sees half an entry, and when two
 * cooks build the same key the first rename wins. `cook/roots/` remembers the chain of keys of
 * the last cook of each recipe; `gc` removes entries no remembered chain uses (recipes that no
 * longer exist forget their chain). Cooks register in `cook/active/` under the cache lock, and gc
 * removes nothing while one runs.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { OwnershipTable } from '../model/ownership.js';
import { removeTreeSync } from '../archive/remove-tree.js';
import { isErrno } from '../model/errors.js';
import type { EnvRecord, GuestConfig } from '../store/env-record.js';
import { withLock } from '../store/lock.js';
import type { CakePaths } from '../store/paths.js';
import { treeSeal, type SnapshotStats } from './snapshot.js';
import { treeHash, type HashOptions } from '../store/tree-hash.js';
import { writeFileAtomic } from '../store/atomic-write.js';
import { gcStepCache } from './step-cache-gc.js';

export interface EntryMeta {
  version: 1;
  key: string;
  parent?: string;
  /** The key of the entry whose rootfs/ is this entry's tree (its own key when it has one). */
  tree: string;
  /** What made it, for people: `web.yaml:12 run`. */
  step: string;
  created: string;
  arch: string;
  config?: GuestConfig;
  run?: EnvRecord['run'];
  ownership: OwnershipTable;
  /**
   * The hash of the entry as an env (what `cake cook` prints and `expect_sha256` pins: the tree
   * hash with the settings folded in, see envHash in src/store/tree-hash.ts); filled in when first
   * computed.
   */
  treeSha256?: string;
  /** The tree hash of the files alone (see treeHash), filled in with {@link treeSha256}: what {@link StepCache.verified} compares. */
  filesSha256?: string;
  /** The tree's seal when the entry was made (see treeSeal): checked before the entry is served. */
  seal?: string;
  stats?: SnapshotStats;
}

/** A key: sha256 of the canonical JSON of its parts. */
export function cacheKey(...parts: unknown[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

export class StepCache {
  readonly root: string;
  constructor(private readonly paths: CakePaths) {
    this.root = join(paths.data, 'cook');
  }

  private dir(sub: string): string {
    const d = join(this.root, sub);
    mkdirSync(d, { recursive: true });
    return d;
  }

  entryDir(key: string): string {
    return join(this.root, 'steps', key);
  }

  /** Entries built by {@link stage} and not yet committed: key → staging dir (in cook/tmp). */
  private readonly pending = new Map<string, { stage: string; meta: EntryMeta; replace: boolean }>();

  /** The rootfs that holds an entry's tree (a staged one's while it is pending). */
  treeDir(meta: EntryMeta): string {
    const p = this.pending.get(meta.tree);
    return p ? join(p.stage, 'rootfs') : join(this.entryDir(meta.tree), 'rootfs');
  }

  /** The entry for `key`, when it is complete (its tree present). */
  get(key: string): EntryMeta | undefined {
    const staged = this.pending.get(key);
    if (staged) return staged.meta;
    let meta: EntryMeta;
    try {
      meta = JSON.parse(readFileSync(join(this.entryDir(key), 'meta.json'), 'utf8')) as EntryMeta;
    } catch {
      return undefined;
    }
    return existsSync(this.treeDir(meta)) ? meta : undefined;
  }

  /**
   * The entry for `key` when it is complete and its tree is as it was made: the seal recorded at
   * write time is compared (a walk of stats, no reads); on a mismatch the tree hash of the files
   * decides when one was recorded (then the seal is renewed). A tree altered by hand is dropped with a warning
   * (undefined: the caller rebuilds it).
   */
  async verified(key: string, warn: (msg: string) => void, o: HashOptions = {}): Promise<EntryMeta | undefined> {
    const meta = this.get(key);
    if (meta === undefined || meta.seal === undefined) return meta;
    const tree = this.treeDir(meta);
    if (treeSeal(tree) === meta.seal) return meta;
    // an entry of an older cake has only treeSha256: without settings it is the files' hash, else it misses (rebuilt)
    const files = meta.filesSha256 ?? meta.treeSha256;
    if (files !== undefined && (await treeHash(tree, meta.ownership, o)) === files) {
      const next = { ...meta, seal: treeSeal(tree) };
      writeFileAtomic(join(this.entryDir(key), 'meta.json'), JSON.stringify(next) + '\n');
      return next;
    }
    warn(`the cached tree of ${meta.step} was changed after it was made; it is built again`);
    const trash = this.tmp(`trash-${meta.tree.slice(0, 12)}`);
    // the tree's own entry goes (and with it every entry sharing its tree: their get() misses)
    try {
      renameSync(this.entryDir(meta.tree), join(trash, 'old'));
    } catch {
      // gone already
    }
    if (meta.tree !== key) {
      try {
        renameSync(this.entryDir(key), join(trash, 'self'));
      } catch {
        // gone already
      }
    }
    removeTreeSync(trash);
    return undefined;
  }

  /** A fresh directory in cook/tmp (same filesystem) for building an entry or a working tree. */
  tmp(label: string): string {
    const d = join(this.dir('tmp'), `${label}.${process.pid}.${randomBytes(4).toString('hex')}`);
    mkdirSync(d);
    return d;
  }

  /**
   * Moves a built entry (`staged` holds rootfs/ when the entry owns a tree) into place with its
   * meta. An existing entry wins unless `replace` (--no-cache); then it is swapped out.
   */
  commit(staged: string, meta: EntryMeta, replace: boolean): EntryMeta {
    const own = join(staged, 'rootfs');
    meta = { ...meta, seal: treeSeal(existsSync(own) ? own : this.treeDir(meta)) };
    writeFileSync(join(staged, 'meta.json'), JSON.stringify(meta) + '\n');
    const final = this.entryDir(meta.key);
    this.dir('steps');
    if (existsSync(final)) {
      if (!replace) {
        removeTreeSync(staged);
        return this.get(meta.key) ?? meta;
      }
      const trash = this.tmp(`trash-${meta.key.slice(0, 12)}`);
      renameSync(final, join(trash, 'old'));
      renameSync(staged, final);
      removeTreeSync(trash);
      return meta;
    }
    try {
      renameSync(staged, final);
    } catch (err) {
      if (!isErrno(err, 'ENOTEMPTY') && !isErrno(err, 'EEXIST')) throw err;
      removeTreeSync(staged);
    }
    return meta;
  }

  /** Fills a fresh staging dir with `fill` (which returns the entry's meta) and commits it; the staging dir goes on failure. */
  build(label: string, replace: boolean, fill: (stage: string) => EntryMeta): EntryMeta {
    const stage = this.tmp(label);
    let meta: EntryMeta;
    try {
      meta = fill(stage);
    } catch (err) {
      removeTreeSync(stage);
      throw err;
    }
    return this.commit(stage, meta, replace);
  }

  /**
   * Like {@link build}, but the entry stays in its staging dir (usable through treeDir) until
   * {@link commitPending}; {@link dropPending} removes it. A cook stages its steps so that a result
   * that fails its pin (`expect_sha256`) caches nothing new.
   */
  stage(label: string, replace: boolean, fill: (stage: string) => EntryMeta): EntryMeta {
    const stage = this.tmp(label);
    let meta: EntryMeta;
    try {
      meta = fill(stage);
    } catch (err) {
      removeTreeSync(stage);
      throw err;
    }
    if (this.pending.has(meta.key)) {
      // built twice in one cook (the same base for two recipes): the first stays
      removeTreeSync(stage);
      return this.pending.get(meta.key)!.meta;
    }
    this.pending.set(meta.key, { stage, meta, replace });
    return meta;
  }

  /** Commits every staged entry, in the order staged. */
  commitPending(): void {
    for (const [key, p] of [...this.pending]) {
      this.pending.delete(key);
      this.commit(p.stage, p.meta, p.replace);
    }
  }

  /** Removes every staged entry. */
  dropPending(): void {
    for (const [key, p] of [...this.pending]) {
      this.pending.delete(key);
      removeTreeSync(p.stage);
    }
  }

  /** Records the env hash of an entry and its files' tree hash (rewrites its meta atomically). */
  setTreeHash(meta: EntryMeta, hex: string, filesHex: string): EntryMeta {
    const next = { ...meta, treeSha256: hex, filesSha256: filesHex };
    const staged = this.pending.get(meta.key);
    if (staged) {
      staged.meta = next;
      return next;
    }
    const file = join(this.entryDir(meta.key), 'meta.json');
    writeFileAtomic(file, JSON.stringify(next) + '\n');
    return next;
  }

  /** Remembers the chain of keys of the last cook of `recipe` (what gc keeps). */
  writeRoot(recipe: string, keys: string[]): void {
    const file = join(this.dir('roots'), `${cacheKey('root', recipe).slice(0, 32)}.json`);
    writeFileAtomic(file, JSON.stringify({ recipe, keys, updated: new Date().toISOString() }) + '\n');
  }

  /** The lock that active cooks and gc take. */
  lockPath(): string {
    return join(this.paths.locks, 'cook-cache.lock');
  }

  /** Runs `fn` registered as an active cook (gc leaves the cache alone meanwhile). */
  async active<T>(signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
    const file = join(this.root, 'active', `${process.pid}.${randomBytes(4).toString('hex')}`);
    await withLock(this.lockPath(), { what: 'the cook cache', ...(signal ? { signal } : {}) }, async () => {
      this.dir('active');
      writeFileSync(file, `${process.pid}\n`);
    });
    try {
      return await fn();
    } finally {
      rmSync(file, { force: true });
    }
  }

  /**
   * Removes entries that no remembered chain uses, roots of recipes that are gone, and leftovers
   * of dead cooks in cook/tmp. Does nothing to entries while a cook is running (see step-cache-gc.ts).
   */
  gc(): Promise<{ entries: number; bytes: number; skipped: boolean }> {
    return gcStepCache(this);
  }

  /** The names in a subdirectory of the cache (none when it is missing). */
  list(sub: string): string[] {
    try {
      return readdirSync(join(this.root, sub));
    } catch {
      return [];
    }
  }
}
