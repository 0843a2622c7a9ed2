/**
 * One atomic-write scheme for every file cake writes: the data goes to a temporary sibling named
 * `.<name>.cake-tmp-<pid>-<rand>` and is renamed over the target, so a reader sees the old file or
 * the new one, never a part. A temporary file whose pid no longer runs is a leftover of a killed
 * cake; {@link sweepTmp} removes those (`cake gc` runs it over the store and cache dirs). A
 * temporary file outside the store (an export's output) is noted in the store's tmp dir while it
 * exists ({@link noteOutside}), so gc finds it too.
 */
import { randomBytes } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { removeTreeSync } from '../archive/remove-tree.js';
import { pidMayOwn } from './owner.js';

const TMP = /\.cake-tmp-(\d+)-[0-9a-f]{8}$/;

/** A fresh temporary path beside `file` in the one scheme gc knows. */
export function tmpSibling(file: string): string {
  return join(dirname(file), `.${basename(file)}.cake-tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** The pid in a temporary name of the scheme, or undefined for other names. */
export function tmpOwnerPid(name: string): number | undefined {
  const m = TMP.exec(name);
  return m ? Number(m[1]) : undefined;
}

/** Writes `data` to `file` atomically (temporary sibling, then rename); on failure the target is unchanged and no temporary is left. */
export function writeFileAtomic(file: string, data: string | Buffer, opts: { mode?: number } = {}): void {
  const tmp = tmpSibling(file);
  try {
    writeFileSync(tmp, data, { mode: opts.mode ?? 0o644, flag: 'wx' });
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** Removes temporaries of the scheme in `dir` (not below) whose process is gone. Returns their count and bytes. */
export function sweepTmp(dir: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return { files, bytes };
  }
  for (const name of names) {
    const pid = tmpOwnerPid(name);
    if (pid === undefined || pidMayOwn(pid)) continue;
    const p = join(dir, name);
    try {
      bytes += lstatSync(p).size;
      removeTreeSync(p);
      files++;
    } catch {
      // vanished or unremovable: the next gc tries again
    }
  }
  return { files, bytes };
}

/**
 * Notes in `storeTmp` that `tmp` (a temporary outside the store) exists while `fn` runs, so that
 * gc removes it if this process is killed before it renames or removes it.
 */
export async function noteOutside<T>(storeTmp: string, tmp: string, fn: () => Promise<T>): Promise<T> {
  const note = join(storeTmp, `outside.${process.pid}.${randomBytes(4).toString('hex')}`);
  try {
    writeFileAtomic(note, tmp + '\n');
  } catch {
    // no note: a killed export then leaves its temporary for the user, as before
  }
  try {
    return await fn();
  } finally {
    rmSync(note, { force: true });
  }
}

/** Removes the outside temporaries noted by processes that are gone (and their notes). */
export function sweepOutside(storeTmp: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  let names: string[];
  try {
    names = readdirSync(storeTmp);
  } catch {
    return { files, bytes };
  }
  for (const name of names) {
    const m = /^outside\.(\d+)\.[0-9a-f]{8}$/.exec(name);
    if (!m || pidMayOwn(Number(m[1]))) continue;
    const note = join(storeTmp, name);
    try {
      const target = readFileSync(note, 'utf8').trim();
      // only ever a temporary of the scheme, never another file the note might name
      if (target.startsWith('/') && tmpOwnerPid(basename(target)) === Number(m[1])) {
        const st = lstatSync(target, { throwIfNoEntry: false });
        if (st?.isFile()) {
          bytes += st.size;
          rmSync(target, { force: true });
          files++;
        }
      }
    } catch {
      // unreadable note: drop it
    }
    rmSync(note, { force: true });
  }
  return { files, bytes };
}
