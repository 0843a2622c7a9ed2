/**
 * Merged /usr for a bootstrapped Debian/Ubuntu tree: `/bin`, `/sbin`, `/lib` (and the arch's
 * extra library dirs) are symlinks into `/usr`, as Debian bookworm+ and Ubuntu 22.04+ require
 * (`usr-is-merged` refuses to install otherwise).
 *
 * The safe extractor never writes through a symlink, so the essential set is extracted into a tree
 * whose `/bin`, `/lib`, … are still real directories, and {@link mergeUsr} then moves their content
 * into `/usr` and replaces them with symlinks: the tree a dpkg on a merged system would have made
 * (it writes `bin/x` through the `/bin` symlink to `usr/bin/x`). Later packages are unpacked by the
 * guest's dpkg, which follows the symlinks itself.
 */
import { lstatSync, mkdirSync, readdirSync, renameSync, rmdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { renameOwnerSubtree, removeOwnerSubtree, type OwnershipTable } from '../model/ownership.js';
import { removeTreeSync } from '../archive/remove-tree.js';

/** Merged whatever the architecture. */
export const MERGED_ALWAYS: readonly string[] = ['bin', 'sbin', 'lib'];

/**
 * The top-level directories that may become `/usr` symlinks for a Debian architecture: bin, sbin,
 * lib, and the multilib dirs of the architecture (debootstrap's list). The multilib ones are only
 * merged when the unpacked packages ship them (amd64's libc6 ships /lib64): usr-is-merged's
 * postinst removes those that no package owns.
 */
export function mergedUsrDirs(debianArch: string): string[] {
  const extra: Record<string, string[]> = {
    amd64: ['lib32', 'lib64', 'libx32'],
    i386: ['lib64', 'libx32'],
    x32: ['lib32', 'lib64', 'libx32'],
    mips: ['lib32', 'lib64'],
    mipsel: ['lib32', 'lib64'],
    mips64el: ['lib32', 'lib64', 'libo32'],
    powerpc: ['lib64'],
    ppc64: ['lib32', 'lib64'],
    ppc64el: ['lib64'],
    s390x: ['lib32'],
    sparc64: ['lib32', 'lib64'],
  };
  return [...MERGED_ALWAYS, ...(extra[debianArch] ?? [])];
}

/**
 * Where a path relative to the root (no leading `/` or `./`) lands on a merged system:
 * `bin/ls` → `usr/bin/ls`, `lib` → `usr/lib`; anything else is returned unchanged. Pure.
 */
export function mergedUsrPath(relPath: string, dirs: readonly string[]): string {
  const slash = relPath.indexOf('/');
  const head = slash < 0 ? relPath : relPath.slice(0, slash);
  return dirs.includes(head) ? `usr/${relPath}` : relPath;
}

export interface MergeReport {
  /** The dirs that are `/usr` symlinks now. */
  linked: string[];
  /** Entries moved from a top-level dir into /usr (top-level names of each dir, counted). */
  moved: number;
  /** Paths present in both places: the /usr one was kept, the other dropped. */
  conflicts: string[];
}

/**
 * Turns the top-level `dirs` of `root` into symlinks `d → usr/d`: a real directory's entries are
 * moved into `usr/d` (merging subdirectories; on a clash the `/usr` entry wins), an existing symlink
 * is left alone, a missing one gets an empty `usr/d` if it is one of {@link MERGED_ALWAYS} and is
 * skipped otherwise. Ownership records move along. Idempotent. Never follows a symlink in the tree.
 */
export function mergeUsr(root: string, dirs: readonly string[], table: OwnershipTable): MergeReport {
  const report: MergeReport = { linked: [], moved: 0, conflicts: [] };
  ensureRealDir(root, 'usr');
  for (const d of dirs) {
    const st = lstatSync(join(root, d), { throwIfNoEntry: false });
    if (st?.isSymbolicLink()) {
      report.linked.push(d);
      continue;
    }
    if (st === undefined && !MERGED_ALWAYS.includes(d)) continue;
    ensureRealDir(root, `usr/${d}`);
    if (st?.isDirectory()) {
      moveInto(root, d, `usr/${d}`, table, report);
      rmdirSync(join(root, d));
      removeOwnerSubtree(table, d);
    } else if (st !== undefined) {
      // a file where a directory belongs: the packaged tree never has one; drop it
      report.conflicts.push(d);
      removeTreeSync(join(root, d));
      removeOwnerSubtree(table, d);
    }
    symlinkSync(`usr/${d}`, join(root, d));
    report.linked.push(d);
  }
  return report;
}

function ensureRealDir(root: string, rel: string): void {
  const p = join(root, rel);
  const st = lstatSync(p, { throwIfNoEntry: false });
  if (st?.isDirectory()) return;
  if (st !== undefined) removeTreeSync(p);
  mkdirSync(p, { mode: 0o755 });
}

/** Moves every entry of `from` into `to` (both real directories, relative to root). */
function moveInto(root: string, from: string, to: string, table: OwnershipTable, report: MergeReport): void {
  for (const name of readdirSync(join(root, from))) {
    const src = `${from}/${name}`;
    const dst = `${to}/${name}`;
    const s = lstatSync(join(root, src));
    const t = lstatSync(join(root, dst), { throwIfNoEntry: false });
    if (t === undefined) {
      renameSync(join(root, src), join(root, dst));
      renameOwnerSubtree(table, src, dst);
      report.moved++;
    } else if (s.isDirectory() && t.isDirectory()) {
      moveInto(root, src, dst, table, report);
      rmdirSync(join(root, src));
      removeOwnerSubtree(table, src);
    } else {
      report.conflicts.push(src);
      removeTreeSync(join(root, src));
      removeOwnerSubtree(table, src);
    }
  }
}
