/**
 * What a run changed in an ownership table, so that it can be applied to the newest copy of the
 * table under the env's lock (two commands running in one env at once each keep their changes).
 */
import { getOwner, setOwner, type OwnerRecord, type OwnershipTable } from '../model/ownership.js';

export interface OwnershipDiff {
  /** Records added or changed. */
  set: Array<[string, OwnerRecord]>;
  /** Keys whose record went away. */
  removed: string[];
}

/** The changes from `before` to `after`. Pure. */
export function diffOwnership(before: OwnershipTable, after: OwnershipTable): OwnershipDiff {
  const set: Array<[string, OwnerRecord]> = [];
  const removed: string[] = [];
  for (const [k, rec] of Object.entries(after)) {
    const old = getOwner(before, k);
    if (old === undefined || !sameRecord(old, rec)) set.push([k, rec]);
  }
  for (const k of Object.keys(before)) if (getOwner(after, k) === undefined) removed.push(k);
  return { set, removed };
}

/** Whether a diff changes nothing. Pure. */
export function isEmptyDiff(d: OwnershipDiff): boolean {
  return d.set.length === 0 && d.removed.length === 0;
}

/** Applies `d` to `table` in place. */
export function applyOwnershipDiff(table: OwnershipTable, d: OwnershipDiff): void {
  for (const k of d.removed) if (Object.hasOwn(table, k)) delete table[k];
  for (const [k, rec] of d.set) setOwner(table, k, rec);
}

function sameRecord(a: OwnerRecord, b: OwnerRecord): boolean {
  return a.uid === b.uid && a.gid === b.gid && a.mode === b.mode && a.kind === b.kind && a.rdev?.[0] === b.rdev?.[0] && a.rdev?.[1] === b.rdev?.[1];
}
