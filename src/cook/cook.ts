/**
 * `cake cook`: load and check the recipe (and the recipes it uses) → plan every key → take the
 * longest cached prefix of the chain → copy its tree into a working tree → run the remaining steps,
 * snapshotting each into the cache → the env appears (staged, renamed) with its tree hash checked
 * against `expect_sha256` → the lock file and the cache root are written. A rerun of an unchanged
 * recipe runs nothing: an env still exactly as cooked is left alone, any other gets a copy of the
 * last snapshot.
 */
import { basename, dirname } from 'node:path';
import { CakeError } from '../model/errors.js';
import { defaultEnvName, validateEnvName } from '../model/names.js';
import type { EngineDeps } from '../run/engine.js';
import type { EngineName } from '../model/run-options.js';
import type { EnvRecord } from '../store/env-record.js';
import { withLock } from '../store/lock.js';
import { removeTreeSync } from '../archive/remove-tree.js';
import { applyStep, changesTree, where, type WorkState } from './cook-steps.js';
import { writeLock } from './lockfile.js';
import { syncOwnership } from './ownership-sync.js';
import { planRecipe, type CookContext, type PlannedRecipe } from './recipe-plan.js';
import { loadRecipes, type LoadIo } from './recipe-load.js';
import type { Recipe } from './recipe-types.js';
import type { ImageSpec } from './recipe-image.js';
import { changedSince, fingerprint, materialize, scanTree, snapshotTree } from './snapshot.js';
import type { EntryMeta } from './step-cache.js';
import { ENV_HASH_FORMAT, envHash, settingsOf, treeHash } from '../store/tree-hash.js';

export interface CookOptions {
  file: string;
  name?: string;
  engine: EngineName;
  engineDeps: EngineDeps;
  io: LoadIo;
}

export interface CookResult {
  record: EnvRecord;
  treeSha256: string;
  /** Steps run / taken from the cache, over all recipes cooked. */
  ran: number;
  cached: number;
  lockWritten: boolean;
  /** The entry recipe's `image:` section, for --bake. */
  image?: ImageSpec;
}

interface Counters {
  ran: number;
  cached: number;
}

function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

/**
 * Checks the result of `r` against its pin, then commits the entries its cook staged, or, when the
 * pin fails, drops them: a result that fails its pin caches nothing new.
 */
function checkPinned(r: Recipe, ctx: CookContext, tree: string): void {
  try {
    checkExpect(r, tree);
  } catch (err) {
    ctx.cache.dropPending();
    throw err;
  }
  ctx.cache.commitPending();
}

function checkExpect(r: Recipe, tree: string): void {
  if (r.expectSha256 === undefined || r.expectSha256 === tree) return;
  const at = r.expectAt!;
  throw new CakeError('recipe', `${at.file}:${at.line} expect_sha256: the result's tree hash is sha256:${tree}, the recipe expects sha256:${r.expectSha256}`, {
    hint: 'if the change is intended, put the new hash in expect_sha256',
  });
}

/**
 * Runs the steps of `p` that the cache lacks, in `work` (the env's staging rootfs) or, without it,
 * in a temporary tree. With `work`, the tree there is the result when this resolves. Returns the
 * final entry, its tree hash filled in.
 */
async function execute(p: PlannedRecipe, ctx: CookContext, opts: CookOptions, counters: Counters, work?: string): Promise<EntryMeta> {
  const { cache, logger } = ctx;
  const keys = p.steps.map((s) => s.key);
  const n = keys.length;
  let hit = 0;
  // the entry served is checked against its seal first (a tree altered by hand is rebuilt)
  if (!ctx.noCache) for (let i = n; i > 0; i--) if (await cache.verified(keys[i - 1]!, (m) => logger.warn(m), { signal: ctx.signal, logger })) { hit = i; break; }
  logger.info(`  ${p.baseLabel}: ${ctx.noCache ? 'rebuilt' : 'ready'}`);
  p.steps.forEach((s, i) => {
    if (i < hit) logger.info(`  [${i + 1}/${n}] ${where(s.step)}: cached`);
  });
  counters.cached += hit;
  let meta = hit === 0 ? p.base : cache.get(keys[hit - 1]!)!;
  if (hit < n || work) {
    const tmp = work ? undefined : cache.tmp('work');
    const root = work ?? `${tmp}/rootfs`;
    try {
      let baseline = materialize(cache.treeDir(meta), root);
      const state: WorkState = { root, ownership: clone(meta.ownership), config: clone(meta.config ?? {}), run: clone(meta.run ?? {}), arch: meta.arch };
      const deps = { engine: opts.engine, engineDeps: opts.engineDeps, logger, envName: p.recipe.name ?? basename(p.recipe.file), addPlans: p.addPlans };
      for (let j = hit; j < n; j++) {
        const { step, key } = p.steps[j]!;
        logger.info(`  [${j + 1}/${n}] ${where(step)}: running`);
        try {
          await applyStep(step, state, deps);
        } catch (err) {
          // the steps that succeeded stay cached (no pin was checked: none failed)
          cache.commitPending();
          throw err;
        }
        meta = cache.stage(`step-${key.slice(0, 12)}`, ctx.noCache, (stage) => {
          let tree = meta.tree;
          let stats;
          if (changesTree(step)) {
            const entries = syncOwnership(root, state.ownership, baseline, scanTree(root));
            if (changedSince(baseline, entries)) {
              const snap = snapshotTree(root, entries, baseline, cache.treeDir(meta), `${stage}/rootfs`);
              baseline = snap.baseline;
              stats = snap.stats;
              tree = key;
            }
          }
          return {
            version: 1,
            key,
            parent: meta.key,
            tree,
            step: `${where(step)} ${step.kind}`,
            created: new Date().toISOString(),
            arch: state.arch,
            config: clone(state.config),
            run: clone(state.run),
            ownership: clone(state.ownership),
            ...(stats ? { stats } : {}),
          };
        });
        counters.ran++;
      }
    } finally {
      if (tmp) removeTreeSync(tmp);
    }
  }
  if (meta.treeSha256 === undefined) {
    const files = await treeHash(cache.treeDir(meta), meta.ownership, { signal: ctx.signal, logger: ctx.logger });
    meta = cache.setTreeHash(meta, envHash(files, settingsOf(meta, dirname(p.recipe.file))), files);
  }
  return meta;
}

/**
 * The env `name` when it holds exactly the result of `p` already: cooked from the same final key
 * and not changed since (its fingerprint, taken when it was made, still matches). Then a rerun
 * needs no copy at all.
 */
async function upToDate(ctx: CookContext, name: string, p: PlannedRecipe): Promise<EnvRecord | undefined> {
  if (ctx.noCache || !ctx.envs.exists(name)) return undefined;
  const key = p.steps.at(-1)?.key ?? p.base.key;
  return withLock(ctx.envs.lockPath(name), { what: `environment ${name}`, signal: ctx.signal }, async () => {
    const rec = ctx.envs.get(name);
    const r = rec.resolved;
    if (rec.source.kind !== 'recipe' || r.key !== key || typeof r.fingerprint !== 'string' || typeof r.treeSha256 !== 'string') return undefined;
    return fingerprint(ctx.envs.rootfs(name)) === r.fingerprint ? rec : undefined;
  });
}

function finish(p: PlannedRecipe, ctx: CookContext, final: Pick<EntryMeta, 'treeSha256'>): boolean {
  ctx.cache.writeRoot(p.recipe.file, [p.base.key, ...p.steps.map((s) => s.key)]);
  if (ctx.locked) return false;
  p.lock.next.result = `sha256:${final.treeSha256}`;
  return writeLock(p.lock.file, p.lock.next);
}

/**
 * Cooks `opts.file` into the env `opts.name` (default: the recipe's `name`, else the file's base
 * name). Problems in the recipes are one RecipeError before anything runs. The env is replaced
 * only when it was cooked before (an env from elsewhere is an 'exists' error); a failure leaves
 * the env as it was (the steps that succeeded stay cached).
 */
export async function cook(base: Omit<CookContext, 'cookNested' | 'recipes'>, opts: CookOptions): Promise<CookResult> {
  const set = await loadRecipes(opts.file, opts.io);
  const entry = set.entry;
  const name = validateEnvName(opts.name ?? entry.name ?? defaultEnvName(basename(opts.file).replace(/\.ya?ml$/, '')));
  if (base.envs.exists(name) && base.envs.get(name).source.kind !== 'recipe') {
    throw new CakeError('exists', `environment ${name} exists and was not cooked from a recipe`, { hint: `use --name to pick another name, or \`cake rm ${name}\`` });
  }
  const counters: Counters = { ran: 0, cached: 0 };
  const nested = new Map<string, Promise<EntryMeta>>();
  const ctx: CookContext = {
    ...base,
    recipes: set.all,
    cookNested(file) {
      let done = nested.get(file);
      if (!done) {
        done = (async () => {
          const r = set.all.get(file)!;
          base.logger.info(`cook ${r.display} (for ${entry.display})`);
          const p = await planRecipe(r, ctx);
          const final = await execute(p, ctx, opts, counters);
          checkPinned(r, ctx, final.treeSha256!);
          finish(p, ctx, final);
          return final;
        })();
        nested.set(file, done);
      }
      return done;
    },
  };
  return ctx.cache.active(ctx.signal, async () => {
    try {
      return await cookEntry();
    } finally {
      ctx.cache.dropPending(); // whatever a failure left staged
    }
  });
  async function cookEntry(): Promise<CookResult> {
    base.logger.info(`cook ${entry.display} into env ${name}`);
    const p = await planRecipe(entry, ctx);
    const same = await upToDate(ctx, name, p);
    if (same) {
      p.steps.forEach((s, i) => ctx.logger.info(`  [${i + 1}/${p.steps.length}] ${where(s.step)}: cached`));
      ctx.logger.info(`  env ${name} is up to date`);
      const tree = String(same.resolved.treeSha256);
      checkPinned(entry, ctx, tree);
      const lockWritten = finish(p, ctx, { treeSha256: tree });
      return { record: same, treeSha256: tree, ran: counters.ran, cached: counters.cached + p.steps.length, lockWritten, ...(entry.image ? { image: entry.image } : {}) };
    }
    let final: EntryMeta | undefined;
    const record = await ctx.envs.create(
      name,
      async ({ rootfs }) => {
        final = await execute(p, ctx, opts, counters, rootfs);
        checkPinned(entry, ctx, final.treeSha256!);
        return {
          version: 1,
          name,
          created: new Date().toISOString(),
          source: { kind: 'recipe', ref: entry.display },
          resolved: { recipe: entry.file, key: final.key, treeSha256: final.treeSha256, lock: p.lock.file, fingerprint: fingerprint(rootfs) },
          treeSha256: final.treeSha256!,
          treeHashFormat: ENV_HASH_FORMAT,
          arch: final.arch,
          ...(final.config && Object.keys(final.config).length > 0 ? { config: final.config } : {}),
          ...(final.run && Object.keys(final.run).length > 0 ? { run: final.run } : {}),
          stats: { steps: p.steps.length },
          ownership: final.ownership,
        } satisfies EnvRecord;
      },
      { force: true, signal: ctx.signal, onWait: () => ctx.logger.info(`waiting for another cake process working on ${name}`) },
    );
    const lockWritten = finish(p, ctx, final!);
    return { record, treeSha256: final!.treeSha256!, ...counters, lockWritten, ...(entry.image ? { image: entry.image } : {}) };
  }
}
