/**
 * Modes changed behind fakeroot's back (#16.5). A statically linked program (busybox-static's
 * chmod, a Go binary) calls the kernel directly, so libfakeroot never sees its chmod: the mode
 * lands on disk while faked, and so the ownership table, keep the old one, and an export, push or
 * bake would silently carry the old mode. After each recorded run the recorder compares the disk
 * mode of every recorded path with what it was before the run: a change that faked's record does
 * not explain is adopted into the table, and the run warns once.
 *
 * What faked explains: libfakeroot's own chmod also changes the disk mode, to the new mode with
 * owner access added (u+rw for files, u+rwx for directories: the rule the extractor follows), so
 * a disk mode equal to the record plus owner access is faked's. An adopted mode that lacks owner
 * access gets it on disk (the real mode goes to the table), as everywhere else.
 *
 * Not seen: paths without a record (their mode on disk is their real mode already, so nothing is
 * wrong there), and ownership changes (chown) by such programs, which the kernel refuses or which
 * leave nothing on disk to compare.
 */
import { chmodSync, lstatSync } from 'node:fs';
import { inodeKey, type TableSnapshot } from '../archive/faked-save.js';
import { bytesFromKey, getOwner, recordOwner, type OwnershipTable } from '../model/ownership.js';

const S_IFMT = 0o170000;

/** Owner access that entries keep on disk: u+rwx for directories, u+rw for files. */
function ownerAccess(mode: number): number {
  const type = mode & S_IFMT;
  return type === 0o040000 ? 0o700 : type === 0o100000 ? 0o600 : 0;
}

/**
 * Adopts into `table` the disk modes of recorded paths under `root` that changed since
 * the snapshot taken before the run and that the record does not explain; returns their keys.
 * Entries that were replaced (another inode), vanished, or are device/fifo records are left
 * alone (the faked apply deals with replaced paths).
 */
export function adoptUnrecordedModes(root: string, table: OwnershipTable, snap: Pick<TableSnapshot, 'baseline' | 'diskModes'>): string[] {
  const adopted: string[] = [];
  for (const [key, before] of snap.diskModes) {
    const rec = getOwner(table, key);
    if (rec === undefined || rec.kind !== undefined) continue;
    const path = Buffer.concat([Buffer.from(`${root}/`), bytesFromKey(key)]);
    const big = lstatSync(path, { bigint: true, throwIfNoEntry: false });
    if (big === undefined || inodeKey(big.dev, big.ino) !== snap.baseline.get(key)) continue;
    const mode = Number(big.mode);
    const now = mode & 0o7777;
    if (now === (before & 0o7777)) continue;
    const need = ownerAccess(mode);
    if (((rec.mode | need) & 0o7777) === now) continue; // libfakeroot's chmod: faked has it
    if ((now & need) !== need) chmodSync(path, now | need);
    recordOwner(table, key, { ...rec, mode: now }, now | need);
    adopted.push(key);
  }
  return adopted;
}

/** The warning for `adopted` (non-empty) in env `name`: what happened, which paths, what to do. Pure. */
export function unrecordedModesWarning(name: string, adopted: readonly string[]): string {
  const shown = [...adopted].sort().slice(0, 3).map((k) => `/${k}`).join(', ');
  const more = adopted.length > 3 ? ` and ${adopted.length - 3} more` : '';
  return (
    `${adopted.length} mode change(s) in ${name} bypassed fakeroot (${shown}${more}), probably made by a statically linked program; ` +
    'cake took the modes found on disk into the ownership table. A chown or mknod by such a program is not recorded at all: ' +
    "use the env's own dynamically linked tools (coreutils chown/chmod) for ownership changes"
  );
}
