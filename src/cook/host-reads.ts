/**
 * What a recipe may read from the host: `copy:` sources, `add: { host: ... }` and an `image:`
 * kernel path are confined to the recipe's directory, as `docker build` confines COPY to its
 * context, unless the top-level `host_paths:` lists them (README, "What a recipe may read from the
 * host"). The parser checks names (recipe-schema.ts); loading checks where symlinks lead
 * (recipe-load.ts). Pure.
 */
import type { RecipeChecker as Checker } from './recipe-checker.js';
import type { ImageSpec } from './recipe-image.js';
import type { Located, Step } from './recipe-types.js';

/** Whether `path` is `dir` or inside it (both absolute and normalized). Pure. */
export function isWithin(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith('/') ? dir : dir + '/');
}

/**
 * The host paths a recipe's steps read (`copy:` sources, `add: { host: ... }`), with where they
 * are written.
 */
export function hostReads(steps: readonly Step[], image?: ImageSpec): Located<string>[] {
  const out: Located<string>[] = image?.kernelAt ? [image.kernelAt] : [];
  for (const s of steps) {
    if (s.kind === 'copy') out.push(...s.sources);
    if (s.kind === 'add') out.push(...s.host);
  }
  return out;
}

/** The advice for a host path a recipe may not read. */
export const OUTSIDE_HINT = "copy the file into the recipe's directory, or, if it is meant to go into the env, list it under host_paths:";

/** The problem for a host path a recipe may not read. */
export function outsideMessage(path: string, dir: string, why = ''): string {
  return `${path}${why} is outside the recipe's directory ${dir}: a recipe reads only its own directory, unless the path is listed under host_paths:`;
}

/** `copy:` and `add: { host: }` read only the recipe's directory and the `host_paths:` (by their names; symlinks are checked when loading). */
export function confine(c: Checker, dir: string, allowed: readonly string[], steps: readonly Step[], image?: ImageSpec): void {
  for (const r of hostReads(steps, image)) {
    if (isWithin(r.value, dir) || allowed.some((a) => isWithin(r.value, a))) continue;
    c.problems.push({ at: r.at, message: outsideMessage(r.value, dir), hint: OUTSIDE_HINT });
  }
}

