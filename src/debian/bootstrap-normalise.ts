/**
 * Makes a bootstrapped tree a function of its inputs only (issue 14; the same list mmdebstrap
 * applies for reproducible output, research/debian-archive-and-dpkg.md): what records the build's
 * own moment is removed or normalised, and every time is clamped to SOURCE_DATE_EPOCH.
 * - removed: var/log/dpkg.log, var/log/alternatives.log, var/log/apt/{history,term}.log and
 *   eipp.log.xz, var/cache/ldconfig/aux-cache, debconf's *-old backups in var/cache/debconf;
 * - /etc/machine-id, when present, says `uninitialized` (machine-id(5): set on first boot);
 * - the last-change day of /etc/shadow (and shadow-) is clamped to the epoch's day;
 * - every directory's mtime is the epoch (the essential set is unpacked in parallel, so which
 *   package last set a shared directory's time would otherwise vary), and every other mtime later
 *   than the epoch becomes the epoch (older ones, from the packages, are kept).
 * README.md ("Reproducible builds") lists the same.
 */
import { existsSync, lstatSync, lutimesSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fsJoin, listTree } from '../archive/tree-walk.js';

/** Guest paths removed from every build (they record when and in what order the build ran). */
export const BUILD_MOMENT_FILES: readonly string[] = [
  'var/log/dpkg.log',
  'var/log/alternatives.log',
  'var/log/apt/history.log',
  'var/log/apt/term.log',
  'var/log/apt/eipp.log.xz',
  'var/cache/ldconfig/aux-cache',
];

/** The default epoch of an archive build: the newest Date of the Release files it read (seconds). */
export function epochOfReleases(dates: ReadonlyArray<string | undefined>): number {
  const ms = dates.map((d) => (d === undefined ? NaN : Date.parse(d))).filter((n) => Number.isFinite(n));
  return ms.length === 0 ? 0 : Math.floor(Math.max(...ms) / 1000);
}

/** Removes and rewrites what records the build's moment (see the module comment). Before ownership is applied. */
export function normaliseContent(root: string, epoch: number): string[] {
  const removed: string[] = [];
  const drop = (rel: string): void => {
    if (lstatSync(join(root, rel), { throwIfNoEntry: false }) === undefined) return;
    rmSync(join(root, rel), { force: true });
    removed.push(rel);
  };
  for (const rel of BUILD_MOMENT_FILES) drop(rel);
  const debconf = join(root, 'var/cache/debconf');
  if (existsSync(debconf)) for (const n of readdirSync(debconf)) if (n.endsWith('-old')) drop(`var/cache/debconf/${n}`);
  const machineId = join(root, 'etc/machine-id');
  const mid = lstatSync(machineId, { throwIfNoEntry: false });
  if (mid?.isFile() && mid.size > 0 && readFileSync(machineId, 'utf8') !== 'uninitialized\n') writeFileSync(machineId, 'uninitialized\n');
  const day = Math.floor(epoch / 86400);
  for (const rel of ['etc/shadow', 'etc/shadow-']) {
    const file = join(root, rel);
    if (!lstatSync(file, { throwIfNoEntry: false })?.isFile()) continue;
    const text = readFileSync(file, 'utf8');
    const next = text
      .split('\n')
      .map((line) => {
        const f = line.split(':');
        if (f.length < 3 || !/^\d+$/.test(f[2] ?? '') || Number(f[2]) <= day) return line;
        f[2] = String(day);
        return f.join(':');
      })
      .join('\n');
    if (next !== text) writeFileSync(file, next);
  }
  return removed;
}

/** Sets directory times to `epoch` and clamps the others to it (the root included); returns how many changed. The last step of a build. */
export function clampTimes(root: string, epoch: number): number {
  const { entries, restore } = listTree(root);
  let n = 0;
  try {
    for (const e of entries) {
      const t = e.st.mtimeMs / 1000;
      if (t === epoch || (t < epoch && !e.st.isDirectory())) continue;
      lutimesSync(fsJoin(root, e.rel), epoch, epoch);
      n++;
    }
  } finally {
    restore();
  }
  if (lstatSync(root).mtimeMs / 1000 !== epoch) {
    lutimesSync(root, epoch, epoch);
    n++;
  }
  return n;
}
