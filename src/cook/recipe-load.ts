/**
 * Loading a recipe and every recipe it refers to (`from:` and `add` sources), then checking what
 * can be checked before any work: that referenced files, envs, distros and store paths exist and
 * that recipes do not refer to themselves in a cycle. All problems of all files come back together.
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname } from 'node:path';
import { CakeError } from '../model/errors.js';
import { isStorePath } from './nix.js';
import { hostReads, isWithin, OUTSIDE_HINT, outsideMessage } from './host-reads.js';
import { parseRecipe } from './recipe-schema.js';
import type { At, Problem, Recipe } from './recipe-types.js';
import { RecipeError } from './recipe-types.js';

export interface LoadIo {
  /** How messages name a recipe file (relative to where cake runs). */
  display(file: string): string;
  envExists(name: string): boolean;
  /** Whether a distro definition (and release) of that name exists. */
  distroExists(distro: string, release?: string): Promise<boolean>;
  /** Whether that release is built from a Debian/Ubuntu archive on this host (so pull options apply). */
  distroFromArchive?(distro: string, release?: string): Promise<boolean>;
}

/** The recipes of one cook: the entry recipe and every recipe it refers to, by absolute path. */
export interface RecipeSet {
  entry: Recipe;
  all: Map<string, Recipe>;
}

/** The recipes `r` refers to, with where. */
export function recipeRefs(r: Recipe): { file: string; at: At }[] {
  const out: { file: string; at: At }[] = [];
  if (r.from.kind === 'recipe') out.push({ file: r.from.file, at: r.fromAt });
  for (const s of r.steps) if (s.kind === 'add') for (const f of s.from) if (f.other.kind === 'recipe') out.push({ file: f.other.file, at: f.at });
  return out;
}

/**
 * Parses `file` and the recipes it refers to, and checks references. Throws RecipeError (exit 2)
 * listing every problem; reads files but changes nothing.
 */
export async function loadRecipes(file: string, io: LoadIo): Promise<RecipeSet> {
  const problems: Problem[] = [];
  const all = new Map<string, Recipe>();
  const read = (f: string, from?: At): Recipe | undefined => {
    if (all.has(f)) return all.get(f);
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch (err) {
      const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
      if (from) problems.push({ at: from, message: `recipe ${io.display(f)}: ${why}` });
      else throw new CakeError('not-found', `cannot read recipe ${io.display(f)}: ${why}`, { exitCode: 2, hint: 'cake cook RECIPE.yaml' });
      return undefined;
    }
    const { recipe: complete, partial, problems: p } = parseRecipe(text, f, io.display(f));
    problems.push(...p);
    // A recipe with problems is still checked for its references, so all problems come at once.
    const recipe = complete ?? partial;
    if (recipe) {
      all.set(f, recipe);
      for (const ref of recipeRefs(recipe)) read(ref.file, ref.at);
    }
    return recipe;
  };
  const entry = read(file);
  for (const r of all.values()) {
    checkCycle(r, all, problems);
    await checkRefs(r, io, problems);
  }
  if (problems.length > 0 || !entry) {
    // by file (in the order they were read), then by line
    const order = [...new Set([...[...all.values()].map((r) => r.display), ...problems.map((p) => p.at.file)])];
    problems.sort((a, b) => order.indexOf(a.at.file) - order.indexOf(b.at.file) || a.at.line - b.at.line);
    throw new RecipeError(problems);
  }
  return { entry, all };
}

function checkCycle(start: Recipe, all: Map<string, Recipe>, problems: Problem[]): void {
  const walk = (r: Recipe, path: string[]): void => {
    for (const ref of recipeRefs(r)) {
      // each cycle is reported once: from its first recipe in path order
      if (ref.file === start.file && path.every((p) => p >= start.file)) {
        problems.push({ at: ref.at, message: `recipes refer to each other in a cycle: ${[...path, ref.file].map((f) => all.get(f)?.display ?? f).join(' → ')}` });
        continue;
      }
      const next = all.get(ref.file);
      if (next && !path.includes(ref.file)) walk(next, [...path, ref.file]);
    }
  };
  walk(start, [start.file]);
}

async function checkRefs(r: Recipe, io: LoadIo, problems: Problem[]): Promise<void> {
  const fail = (at: At, message: string) => problems.push({ at, message });
  const f = r.from;
  if (f.kind === 'env' && !io.envExists(f.name)) fail(r.fromAt, `no env named ${f.name}`);
  if (f.kind === 'source') {
    const s = f.source;
    if (s.kind === 'distro' && !(await io.distroExists(s.distro, s.release))) {
      // A bare name that is not a distro may name an env.
      if (s.release === undefined && !f.pull && io.envExists(s.distro)) r.from = { kind: 'env', name: s.distro };
      else fail(r.fromAt, `no distro or env named ${f.text} (see \`cake distros\` and \`cake list\`)`);
    } else if (s.kind === 'distro' && f.pull && io.distroFromArchive && !(await io.distroFromArchive(s.distro, s.release))) {
      fail(r.fromAt, `${f.text} is not built from a Debian or Ubuntu archive here, so packages, variant, recommends and allow_expired do not apply`);
    }
    if (s.kind === 'file' && !existsSync(s.path)) fail(r.fromAt, `no such file: ${s.path}`);
  }
  checkRealPaths(r, problems);
  for (const s of r.steps) {
    if (s.kind === 'copy') for (const src of s.sources) if (readable(r, src.value) && !existsSync(src.value)) fail(src.at, `no such file or directory on the host: ${src.value}`);
    if (s.kind !== 'add') continue;
    for (const a of s.from) if (a.other.kind === 'env' && !io.envExists(a.other.name)) fail(a.at, `no env named ${a.other.name}`);
    for (const h of s.host) if (readable(r, h.value) && !existsSync(h.value)) fail(h.at, `no such file on the host: ${h.value}`);
    for (const n of s.nix) if (isStorePath(n.value) && !existsSync(n.value)) fail(n.at, `${n.value} is not in the Nix store`);
  }
}

function real(p: string): string | undefined {
  try {
    return realpathSync(p);
  } catch {
    return undefined;
  }
}

/** Whether the recipe may read host path `p` by its name (its directory, or host_paths). */
function readable(r: Recipe, p: string): boolean {
  return [dirname(r.file), ...(r.hostPaths ?? []).map((h) => h.value)].some((a) => isWithin(p, a));
}

/** A host path inside the recipe's directory by name may still lead out of it through a symlink. */
function checkRealPaths(r: Recipe, problems: Problem[]): void {
  const dir = dirname(r.file);
  const allowed = [dir, ...(r.hostPaths ?? []).map((h) => h.value)].flatMap((a) => [a, real(a)]).filter((a): a is string => a !== undefined);
  for (const h of hostReads(r.steps, r.image)) {
    if (!readable(r, h.value)) continue; // reported by the parser
    const target = real(h.value);
    if (target === undefined || allowed.some((a) => isWithin(target, a))) continue;
    problems.push({ at: h.at, message: outsideMessage(h.value, dir, ` (a symlink to ${target})`), hint: OUTSIDE_HINT });
  }
}
