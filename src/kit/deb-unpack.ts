/**
 * Unpacking a kit's .debs into a host directory that programs run from: the data of each package
 * through the safe extractor, and the checks that keep the host out (regular files only, no
 * symlink that would resolve on the host).
 */
import { lstat, readdir, readlink, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { extractTar } from '../archive/extract.js';
import { openDeb } from '../debian/deb-file.js';

/** Extracts the data.tar of each .deb (verified blobs) into `root`, in order. */
export async function unpackDebs(paths: readonly string[], root: string, signal?: AbortSignal): Promise<void> {
  for (const p of paths) {
    const deb = await openDeb(p, { control: false });
    await extractTar(await deb.dataStream(signal ? { signal } : {}), { root, ownership: {}, ...(signal ? { signal } : {}) });
  }
}

/** Whether `rel` under `root` is a regular file (a symlink's target would be looked up on the HOST). */
export async function isFile(root: string, rel: string): Promise<boolean> {
  return (await lstat(join(root, rel)).catch(() => undefined))?.isFile() === true;
}

/** The first of `rels` that is a regular file under `root`. */
export async function firstRegularFile(root: string, rels: readonly string[]): Promise<string | undefined> {
  for (const rel of rels) if (await isFile(root, rel)) return rel;
  return undefined;
}

/**
 * True when `dir` exists. Removes symlinks in it whose target leaves the directory (absolute or
 * with a slash): a loader would resolve them on the host and mix in the host's libraries.
 */
export async function dropEscapingLinks(dir: string): Promise<boolean> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return false;
  }
  for (const name of names) {
    const p = join(dir, name);
    if (!(await lstat(p)).isSymbolicLink()) continue;
    if ((await readlink(p)).includes('/')) await rm(p, { force: true });
  }
  return true;
}
