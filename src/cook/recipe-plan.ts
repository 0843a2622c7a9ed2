/**
 * Planning a cook: the cache key of the base and of every step, computed before any step runs.
 * A key is the sha256 of the parent's key and the step's own inputs: the script text, the
 * digests of copied host files, the digests of every file an `add` takes (with its closure), Nix
 * store paths, or the step's settings. The base key comes from what the SOURCE resolved to (its
 * pinned digests), the tree hash of an env, or the final key of another recipe. Remote things are
 * resolved through the lock file (lockfile.ts); the base entry is produced here when the cache
 * does not have it (a pull, or a copy of an env), staged with the steps: it is committed when they
 * are (see cook.ts: not when the result fails its pin).
 */
import { createHash, randomBytes } from 'node:crypto';
import { lstatSync, readdirSync, readlinkSync, renameSync, statSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { CakeError } from '../model/errors.js';
import type { Logger } from '../model/logger.js';
import { hostPlatform, toDistroArch } from '../model/platform.js';
import type { SourceDeps } from '../pull/deps.js';
import { pull } from '../pull/pull.js';
import type { RegistryOptions } from '../pull/registry.js';
import { EnvStore } from '../store/envs.js';
import { withLock } from '../store/lock.js';
import { copyMode } from './cook-steps.js';
import { mergePlans, planDigests, planFromTree, planNix, type AddPlan, type AddSource } from './add-plan.js';
import { LockState, lockPathOf, readLock } from './lockfile.js';
import { isStorePath, nixClosure, resolveInstallable } from './nix.js';
import type { Recipe, Step } from './recipe-types.js';
import { materialize } from './snapshot.js';
import { cacheKey, type EntryMeta, type StepCache } from './step-cache.js';
import { envHash, hashFileSync, settingsOf, treeHash } from '../store/tree-hash.js';

/** Everything a cook needs (built by the CLI). */
export interface CookContext {
  cache: StepCache;
  envs: EnvStore;
  source: SourceDeps;
  logger: Logger;
  signal: AbortSignal;
  hostEnv: Record<string, string | undefined>;
  noCache: boolean;
  locked: boolean;
  /** For registry sources: where credentials come from, and --insecure. */
  registry?: RegistryOptions;
  /** Cooks another recipe into the cache (memoized per cook) and returns its final entry. */
  cookNested(file: string): Promise<EntryMeta>;
  recipes: Map<string, Recipe>;
}

export interface PlannedRecipe {
  recipe: Recipe;
  base: EntryMeta;
  /** What the base was, for messages. */
  baseLabel: string;
  steps: { step: Step; key: string }[];
  addPlans: Map<Step, AddPlan>;
  lock: LockState;
}

/**
 * Part of every base key, so of every key: bumped when what a step produces or how a result is
 * hashed changes, so that entries made by an older cake are not reused (2: env/path steps write the
 * login-shell variables, copy modes, the hash covers settings).
 */
const COOK_FORMAT = 'cook-format-2';

function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

function recipeLabel(r: Recipe): string {
  return r.name ?? basename(r.file).replace(/\.ya?ml$/, '');
}

/**
 * What of a pull's `resolved` identifies the content: not local file paths, and for an archive
 * build (it has `request`) not how the tree was produced (`tree`: its cache entry, whether it was
 * reused; `blobs`, `fakeroot`: what the store keeps for it). The request, the InRelease digests and
 * every package with its digest stay.
 */
function pinOf(resolved: Record<string, unknown>): Record<string, unknown> {
  const { file: _file, ...rest } = resolved;
  if (typeof rest.request !== 'string') return rest;
  const { tree: _tree, blobs: _blobs, fakeroot: _fakeroot, ...pin } = rest;
  return pin;
}

/** Whether a fresh resolution is the pinned one: by sha256 or manifest digest when there is one, else field by field. */
function samePin(pin: Record<string, unknown>, now: Record<string, unknown>): boolean {
  for (const k of ['sha256', 'manifestDigest']) if (typeof pin[k] === 'string' || typeof now[k] === 'string') return pin[k] === now[k];
  return pinDiff(pin, now) === '';
}

function pinDiff(pin: Record<string, unknown>, now: Record<string, unknown>): string {
  return [...new Set([...Object.keys(pin), ...Object.keys(now)])].filter((k) => JSON.stringify(pin[k]) !== JSON.stringify(now[k])).join(', ');
}

function newBaseMeta(key: string, step: string, rec: { arch: string; ownership: EntryMeta['ownership']; config?: EntryMeta['config']; run?: EntryMeta['run'] }): EntryMeta {
  return {
    version: 1,
    key,
    tree: key,
    step,
    created: new Date().toISOString(),
    arch: rec.arch,
    ownership: clone(rec.ownership ?? {}),
    ...(rec.config ? { config: clone(rec.config) } : {}),
    ...(rec.run ? { run: clone(rec.run) } : {}),
  };
}

async function baseFromEnv(name: string, ref: string, ctx: CookContext, lock: LockState): Promise<EntryMeta> {
  return withLock(ctx.envs.lockPath(name), { what: `environment ${name}`, signal: ctx.signal }, async () => {
    const rec = ctx.envs.get(name);
    const rootfs = ctx.envs.rootfs(name);
    const tree = await treeHash(rootfs, rec.ownership, { signal: ctx.signal, logger: ctx.logger });
    // the lock pins the env's hash (its settings folded in, as `cake pull` records it): a changed
    // variable or bind of the base fails --locked like a changed file
    lock.setFrom({ ref, kind: 'env', tree: `sha256:${envHash(tree, settingsOf(rec))}` });
    const key = cacheKey('base-env', COOK_FORMAT, tree, rec.config ?? null, rec.run ?? null, rec.arch);
    const have = ctx.noCache ? undefined : ctx.cache.get(key);
    if (have) return have;
    ctx.logger.info(`  copying env ${name} into the cache`);
    return ctx.cache.stage('base', ctx.noCache, (stage) => {
      materialize(rootfs, join(stage, 'rootfs'));
      return newBaseMeta(key, `env ${name}`, rec);
    });
  });
}

async function baseFromSource(r: Recipe, ctx: CookContext, lock: LockState): Promise<EntryMeta> {
  if (r.from.kind !== 'source') throw new CakeError('internal', 'not a source base');
  const { text, source, pull: options } = r.from;
  const hostArch = toDistroArch(hostPlatform(process.arch)) ?? process.arch;
  const pinned = lock.pinnedSource(text, options);
  const fromLock = (resolved: Record<string, unknown>) => ({ ref: text, kind: 'source' as const, ...(options ? { options } : {}), resolved });
  if (pinned && !ctx.noCache) {
    const have = ctx.cache.get(cacheKey('base-source', COOK_FORMAT, pinned, hostArch));
    if (have) {
      lock.setFrom(fromLock(pinned));
      return have;
    }
  }
  const pullEnvs = new EnvStore({ ...ctx.source.paths, envs: join(ctx.cache.root, 'pull-envs') });
  const name = `base-${process.pid}-${randomBytes(3).toString('hex')}`;
  // Pull what the lock pins where the source can be asked for it: a tarball by its sha256, an
  // image by its manifest digest. Other sources (a Debian archive) resolve afresh and are compared.
  const sha = typeof pinned?.sha256 === 'string' && (source.kind === 'url' || source.kind === 'file') ? { sha256: pinned.sha256 } : {};
  const digest = typeof pinned?.manifestDigest === 'string' && source.kind === 'registry' && !source.ref.includes('@') ? pinned.manifestDigest : undefined;
  const req = digest && source.kind === 'registry' ? { source: { ...source, ref: `${source.ref}@${digest}` }, ref: `${text}@${digest}` } : { source, ref: text };
  ctx.logger.info(`  pulling ${req.ref}${options?.packages?.length ? ` with ${options.packages.join(' ')}` : ''}`);
  const out = await pull({ ...ctx.source, envs: pullEnvs }, { ...req, name, ...sha, ...(ctx.registry ? { registry: ctx.registry } : {}), ...(options ?? {}) });
  try {
    const resolved = pinOf(out.record.resolved);
    if (pinned && !samePin(pinned, resolved)) {
      const msg = `${text} now resolves to something else than ${lock.file} pins (${pinDiff(pinned, resolved)})`;
      if (ctx.locked) throw new CakeError('recipe', `--locked: ${msg}`, { hint: `cook once without --locked to update ${lock.file}` });
      ctx.logger.warn(`${msg}: updating the lock`);
    }
    lock.setFrom(fromLock(resolved));
    const key = cacheKey('base-source', COOK_FORMAT, resolved, out.record.arch);
    const have = ctx.noCache ? undefined : ctx.cache.get(key);
    if (have) return have;
    return ctx.cache.stage('base', ctx.noCache, (stage) => {
      renameSync(pullEnvs.rootfs(name), join(stage, 'rootfs'));
      return newBaseMeta(key, `from ${text}`, out.record);
    });
  } finally {
    await pullEnvs.remove(name).catch(() => {});
  }
}

async function resolveBase(r: Recipe, ctx: CookContext, lock: LockState): Promise<{ meta: EntryMeta; label: string }> {
  const f = r.from;
  if (f.kind === 'recipe') {
    const sub = await ctx.cookNested(f.file);
    lock.setFrom({ ref: relative(dirname(r.file), f.file), kind: 'recipe', tree: `sha256:${sub.treeSha256}` });
    return { meta: sub, label: `recipe ${ctx.recipes.get(f.file)?.display ?? f.file}` };
  }
  if (f.kind === 'env') return { meta: await baseFromEnv(f.name, `env:${f.name}`, ctx, lock), label: `env ${f.name}` };
  return { meta: await baseFromSource(r, ctx, lock), label: f.text };
}

async function addInputs(r: Recipe, step: Extract<Step, { kind: 'add' }>, arch: string, ctx: CookContext, lock: LockState): Promise<AddPlan> {
  const plans: AddPlan[] = [];
  for (const f of step.from) {
    let src: AddSource;
    if (f.other.kind === 'env') {
      const rec = ctx.envs.get(f.other.name);
      src = { label: f.other.name, root: ctx.envs.rootfs(f.other.name), ownership: rec.ownership };
    } else {
      const sub = await ctx.cookNested(f.other.file);
      lock.setRecipe(relative(dirname(r.file), f.other.file), `sha256:${sub.treeSha256}`);
      src = { label: recipeLabel(ctx.recipes.get(f.other.file)!), root: ctx.cache.treeDir(sub), ownership: sub.ownership };
    }
    const plan = await planFromTree(src, f.path, arch, { signal: ctx.signal, logger: ctx.logger });
    lock.setAdd(f.text, planDigests(plan));
    plans.push(plan);
  }
  for (const h of step.host) {
    const plan = await planFromTree({ label: 'host', root: '/' }, h.value, arch, { signal: ctx.signal, logger: ctx.logger });
    lock.setAdd(`host:${h.value}`, planDigests(plan));
    plans.push(plan);
  }
  const nixPaths: string[] = [];
  const nixDeps = { hostEnv: ctx.hostEnv, logger: ctx.logger, signal: ctx.signal };
  for (const n of step.nix) {
    if (isStorePath(n.value)) {
      lock.setNix(n.value, (await nixClosure([n.value], nixDeps)).paths, true);
      nixPaths.push(n.value);
    } else {
      const outs = lock.pinnedNix(n.value) ?? (await resolveInstallable(n.value, nixDeps));
      lock.setNix(n.value, outs, false);
      nixPaths.push(...outs);
    }
  }
  if (nixPaths.length > 0) plans.push((await planNix(nixPaths, nixDeps)).plan);
  return mergePlans(plans);
}

/**
 * What a `copy:` takes from the host, as the step writes it: names, contents, symlink targets and
 * the modes copyMode gives (not the host's owners, times or umask-dependent modes).
 */
function hostDigest(path: string): string {
  const st = statSync(path);
  if (!st.isDirectory()) return `file ${hashFileSync(path)} ${copyMode(st).toString(8)}`;
  const h = createHash('sha256');
  const walk = (dir: string, rel: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const e = lstatSync(p);
      if (e.isDirectory()) {
        h.update(`d ${r}\0`);
        walk(p, r);
      } else if (e.isSymbolicLink()) h.update(`l ${r}\0${readlinkSync(p)}\0`);
      else if (e.isFile()) h.update(`f ${r}\0${copyMode(e).toString(8)} ${hashFileSync(p)}\0`);
    }
  };
  walk(path, '');
  return `tree ${h.digest('hex')}`;
}

/** The inputs of a step that its key is made of (besides its parent's key). */
async function stepInputs(r: Recipe, step: Step, arch: string, ctx: CookContext, lock: LockState, addPlans: Map<Step, AddPlan>): Promise<unknown> {
  const { at: _at, ...fields } = step;
  switch (step.kind) {
    case 'copy':
      return { ...fields, sources: step.sources.map((s) => ({ name: basename(s.value), digest: hostDigest(s.value) })) };
    case 'add': {
      const plan = await addInputs(r, step, arch, ctx, lock);
      addPlans.set(step, plan);
      return { digests: planDigests(plan), path: plan.pathDirs };
    }
    default:
      return fields;
  }
}

/**
 * Plans `r`: resolves (and if needed produces) its base entry, cooks the recipes it takes from,
 * and computes every step's key. Runs no step.
 */
export async function planRecipe(r: Recipe, ctx: CookContext): Promise<PlannedRecipe> {
  const lock = new LockState(lockPathOf(r.file), readLock(lockPathOf(r.file)), ctx.locked);
  const { meta: base, label } = await resolveBase(r, ctx, lock);
  const addPlans = new Map<Step, AddPlan>();
  const steps: PlannedRecipe['steps'] = [];
  let parent = base.key;
  for (const step of r.steps) {
    const key = cacheKey('step', parent, step.kind, await stepInputs(r, step, base.arch, ctx, lock, addPlans));
    steps.push({ step, key });
    parent = key;
  }
  return { recipe: r, base, baseLabel: label, steps, addPlans, lock };
}
