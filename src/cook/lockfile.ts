/**
 * RECIPE.lock, next to RECIPE.yaml: every digest a cook resolved, so that the same recipe cooks
 * the same env later. Without --locked a cook reuses the pins it finds for remote things (the base
 * SOURCE, Nix installables), checks local ones afresh (files taken from envs, recipes and the
 * host, Nix closures), and rewrites the file when anything changed. With --locked it resolves
 * nothing new: a missing lock, a missing entry or a different digest is an error.
 */
import { writeFileAtomic } from '../store/atomic-write.js';
import { readFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { CakeError, isErrno } from '../model/errors.js';
import type { PullOptions } from './recipe-types.js';

export interface LockFile {
  version: 1;
  /** The base: a SOURCE with what it resolved to, or the tree hash of an env or recipe. */
  from?: { ref: string; kind: 'source' | 'env' | 'recipe'; options?: PullOptions; resolved?: Record<string, unknown>; tree?: string };
  /** `add` sources (`OTHER:/PATH`, `host:/PATH`): destination → digest of everything copied. */
  add?: Record<string, Record<string, string>>;
  /** Nix installables → their store paths; store paths → their closure. */
  nix?: Record<string, string[]>;
  /** Recipes taken from (by `add`), by their path relative to this recipe: their tree hash. */
  recipes?: Record<string, string>;
  /** The tree hash of the last result (informational: run steps need not be reproducible). */
  result?: string;
}

const HEADER = '# Written by `cake cook`: the digests this recipe resolved. Commit it with the recipe;\n# `cake cook --locked` uses only what is pinned here.\n';

/** RECIPE.yaml → RECIPE.lock (any other name gets `.lock` appended). */
export function lockPathOf(recipeFile: string): string {
  return /\.ya?ml$/.test(recipeFile) ? recipeFile.replace(/\.ya?ml$/, '.lock') : recipeFile + '.lock';
}

/** Reads a lock file; undefined when there is none. A malformed one is a CakeError('recipe'). */
export function readLock(file: string): LockFile | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
  let data: unknown;
  try {
    data = parse(text);
  } catch (err) {
    throw new CakeError('recipe', `${file} is not valid YAML: ${(err as Error).message.split('\n')[0]}`, { hint: 'remove it; the next cook writes it again' });
  }
  if (typeof data !== 'object' || data === null || (data as LockFile).version !== 1) {
    throw new CakeError('recipe', `${file} is not a cake lock file (version 1)`, { hint: 'remove it; the next cook writes it again' });
  }
  return data as LockFile;
}

/** Writes the lock file atomically when its content changed. Returns true when it was written. */
export function writeLock(file: string, lock: LockFile): boolean {
  const text = HEADER + stringify(lock, { sortMapEntries: false, lineWidth: 0, aliasDuplicateObjects: false });
  try {
    if (readFileSync(file, 'utf8') === text) return false;
  } catch {
    // absent: write it
  }
  writeFileAtomic(file, text);
  return true;
}

function lockedError(lockFile: string, what: string): CakeError {
  return new CakeError('recipe', `--locked: ${what}`, { hint: `cook once without --locked to update ${lockFile}` });
}

/**
 * The lock of one cook: `old` is what was on disk, `next` what this cook resolved. In locked mode
 * every method refuses what the old lock does not pin.
 */
export class LockState {
  readonly next: LockFile = { version: 1 };
  constructor(readonly file: string, readonly old: LockFile | undefined, readonly locked: boolean) {
    if (locked && !old) throw lockedError(file, `there is no lock file ${file}`);
  }

  /** The pinned resolution of the base SOURCE `ref` pulled with `options`, if the lock has it. */
  pinnedSource(ref: string, options?: PullOptions): Record<string, unknown> | undefined {
    const f = this.old?.from;
    const same = f?.kind === 'source' && f.ref === ref && JSON.stringify(f.options ?? {}) === JSON.stringify(options ?? {});
    const pin = same ? f.resolved : undefined;
    if (this.locked && !pin) throw lockedError(this.file, `${ref}${options ? ` with ${JSON.stringify(options)}` : ''} is not pinned in ${this.file}`);
    return pin;
  }

  setFrom(from: NonNullable<LockFile['from']>): void {
    const old = this.old?.from;
    if (this.locked && from.tree !== undefined && old?.tree !== from.tree) {
      throw lockedError(this.file, `the base ${from.ref} has tree ${from.tree}, and ${this.file} pins ${old?.tree ?? 'nothing'}`);
    }
    this.next.from = from;
  }

  /** Records the digests of an `add` source, refusing a difference in locked mode. */
  setAdd(ref: string, digests: Record<string, string>): void {
    if (this.locked) {
      const old = this.old?.add?.[ref];
      if (!old) throw lockedError(this.file, `${ref} is not in ${this.file}`);
      const diff = [...new Set([...Object.keys(old), ...Object.keys(digests)])].find((k) => old[k] !== digests[k]);
      if (diff !== undefined) throw lockedError(this.file, `${ref}: ${diff} is ${digests[diff] ?? 'gone'}, and ${this.file} pins ${old[diff] ?? 'nothing'}`);
    }
    (this.next.add ??= {})[ref] = digests;
  }

  /** The pinned store paths of a Nix installable, if any. */
  pinnedNix(ref: string): string[] | undefined {
    const pin = this.old?.nix?.[ref];
    if (this.locked && !pin) throw lockedError(this.file, `${ref} is not pinned in ${this.file}`);
    return pin;
  }

  setNix(ref: string, paths: string[], checkClosure: boolean): void {
    const old = this.old?.nix?.[ref];
    if (this.locked && checkClosure && old?.join('\n') !== paths.join('\n')) {
      throw lockedError(this.file, `the closure of ${ref} differs from ${this.file}`);
    }
    (this.next.nix ??= {})[ref] = paths;
  }

  setRecipe(ref: string, tree: string): void {
    const old = this.old?.recipes?.[ref];
    if (this.locked && old !== tree) throw lockedError(this.file, `recipe ${ref} now gives tree ${tree}, and ${this.file} pins ${old ?? 'nothing'}`);
    (this.next.recipes ??= {})[ref] = tree;
  }
}
