/**
 * OCI layer whiteouts (image-spec layer.md): `.wh.NAME` deletes NAME from the lower layers,
 * `.wh..wh..opq` hides every lower child of its directory. Both only ever touch what lower layers
 * made: entries this layer created (before or after the marker) stay. Parents are walked like any
 * entry's (a symlinked parent is refused), and the name after `.wh.` must be a real name.
 */
import { lstatSync, readdirSync } from 'node:fs';
import { bytesFromKey, keyFromBytes, removeOwnerSubtree, type OwnershipTable } from '../model/ownership.js';
import { unsafe, type SafeRoot } from './safe-path.js';

export const WHITEOUT_PREFIX = '.wh.';
const OPAQUE = '.wh..wh..opq';

export interface WhiteoutContext {
  readonly fs: SafeRoot;
  readonly table: OwnershipTable;
  /** binary keys created by the layer being applied */
  readonly created: Set<string> | null;
  /** removes what is at `key` with its ownership records */
  replace(key: string): void;
}

/** Applies the whiteout entry `components` (its last component starts with `.wh.`). */
export function applyWhiteout(x: WhiteoutContext, components: string[], rawName: string): void {
  const name = components[components.length - 1]!;
  const parent = components.slice(0, -1);
  const parentKey = parent.join('/');
  if (name === OPAQUE) {
    if (!x.fs.walk(parent, parent.length, false, rawName)) return;
    opaque(x, parentKey);
    return;
  }
  if (name.startsWith(WHITEOUT_PREFIX + WHITEOUT_PREFIX)) return; // other aufs metadata (.wh..wh.plnk ...)
  const target = name.slice(WHITEOUT_PREFIX.length);
  if (target === '' || target === '.' || target === '..') throw unsafe(rawName, `whiteout of ${JSON.stringify(target)} would delete its own directory or a parent`);
  // a missing or non-directory parent: nothing below it to delete; a symlinked one throws
  if (!x.fs.walk(parent, parent.length, false, rawName)) return;
  const key = parentKey === '' ? target : parentKey + '/' + target;
  if (x.created?.has(key)) return; // same layer: only a later layer may hide it
  x.replace(key);
  removeOwnerSubtree(x.table, keyFromBytes(key)); // devices exist only in the table
}

/** Removes everything under `dirKey` that this layer did not create. */
function opaque(x: WhiteoutContext, dirKey: string): void {
  const created = x.created ?? new Set<string>();
  const stack = [dirKey];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    for (const raw of readdirSync(x.fs.path(dir), { encoding: 'buffer' })) {
      const name = raw.toString('latin1');
      const key = dir === '' ? name : dir + '/' + name;
      if (!created.has(key)) {
        x.replace(key);
        removeOwnerSubtree(x.table, keyFromBytes(key));
      } else if (lstatSync(x.fs.path(key)).isDirectory()) stack.push(key);
    }
  }
  // records without a file (skipped devices) from lower layers
  const prefix = dirKey === '' ? '' : keyFromBytes(dirKey) + '/';
  for (const k of Object.keys(x.table)) {
    if (k.startsWith(prefix) && !created.has(bytesFromKey(k).toString('latin1'))) delete x.table[k];
  }
}
