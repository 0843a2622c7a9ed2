/**
 * Keeping a working tree's ownership table true after a step changed the tree.
 *
 * Files on disk belong to the user running cake; the table holds what a root install would have
 * (see model/ownership.ts). After a step: records of removed paths go; a record whose entry
 * changed type goes (the new entry is root's); a record whose entry was chmod'ed takes the new
 * mode. Entries left without owner access (a directory without u+rwx, a file without u+rw) get it
 * on disk, with their real mode recorded, so that snapshots and copies can read them: the same
 * rule the extractor follows. Ownership changes made by programs (chown) are not seen here.
 */
import { chmodSync, lstatSync } from 'node:fs';
import { getOwner, lookupOwner, recordOwner, setOwner, type OwnershipTable } from '../model/ownership.js';
import type { Baseline } from './snapshot.js';
import { typeBits } from './snapshot.js';
import { fsJoin, type TreeEntry } from '../archive/tree-walk.js';

/**
 * Updates `table` for the change from `baseline` to `entries` (the tree `root` now) and gives
 * entries owner access on disk where they lack it. Returns the entries, re-read where a mode was
 * changed on disk.
 */
export function syncOwnership(root: string, table: OwnershipTable, baseline: Baseline, entries: readonly TreeEntry[]): TreeEntry[] {
  const now = new Map(entries.map((e) => [e.key, e]));
  for (const key of Object.keys(table)) {
    const rec = table[key]!;
    if (rec.kind !== undefined) continue; // devices and fifos live only in the table
    const cur = now.get(key);
    if (cur === undefined) {
      delete table[key];
      continue;
    }
    const before = baseline.get(key);
    if (before === undefined) continue;
    if (typeBits(before.mode) !== typeBits(cur.st.mode)) delete table[key];
    else if ((before.mode & 0o7777) !== (cur.st.mode & 0o7777)) recordOwner(table, key, { ...rec, mode: cur.st.mode & 0o7777 }, cur.st.mode);
  }
  const out: TreeEntry[] = [];
  for (const e of entries) {
    const need = e.st.isDirectory() ? 0o700 : e.st.isFile() ? 0o600 : 0;
    if ((e.st.mode & need) === need) {
      out.push(e);
      continue;
    }
    const disk = e.st.mode & 0o7777;
    const real = getOwner(table, e.key) ?? { ...lookupOwner(table, e.key, disk) };
    setOwner(table, e.key, { uid: real.uid, gid: real.gid, mode: disk });
    const p = fsJoin(root, e.rel);
    chmodSync(p, disk | need);
    out.push({ ...e, st: lstatSync(p) });
  }
  return out;
}
