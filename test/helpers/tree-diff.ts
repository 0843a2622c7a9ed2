/**
 * Compares two env trees the way reproducibility is judged (issue 14): every entry's type, mode,
 * owner (from the env's ownership table), size, mtime and content (sha256, link target or device
 * numbers); the first difference is named by path and field.
 */
import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { lookupOwner, type OwnershipTable } from '../../src/model/ownership.js';
import { listTree } from '../../src/archive/tree-walk.js';

export interface TreeRow {
  type: string;
  mode: string;
  owner: string;
  size: number;
  mtime: number;
  content: string;
}

/** Path → row of every entry under `root` (the root's own mtime as "."). */
export function treeRows(root: string, table: OwnershipTable): Map<string, TreeRow> {
  const rows = new Map<string, TreeRow>();
  const rootSt = lstatSync(root);
  rows.set('.', { type: 'd', mode: (rootSt.mode & 0o7777).toString(8), owner: '0:0', size: 0, mtime: Math.floor(rootSt.mtimeMs / 1000), content: '' });
  const { entries, restore } = listTree(root);
  try {
    for (const e of entries) {
      const rel = e.rel.toString('utf8');
      const st = e.st;
      const type = st.isDirectory() ? 'd' : st.isFile() ? 'f' : st.isSymbolicLink() ? 'l' : st.isFIFO() ? 'p' : st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : 's';
      const own = lookupOwner(table, rel, st.mode & 0o7777);
      const p = join(root, rel);
      const content = type === 'f' ? createHash('sha256').update(readFileSync(p)).digest('hex') : type === 'l' ? readlinkSync(p) : type === 'c' || type === 'b' ? String(st.rdev) : '';
      rows.set(rel, { type, mode: own.mode.toString(8), owner: `${own.uid}:${own.gid}`, size: type === 'd' ? 0 : st.size, mtime: Math.floor(st.mtimeMs / 1000), content });
    }
  } finally {
    restore();
  }
  return rows;
}

/** "PATH: FIELD A ≠ B" for the first (sorted) path that differs, or undefined when the trees are the same. */
export function firstDifference(a: Map<string, TreeRow>, b: Map<string, TreeRow>): string | undefined {
  const paths = [...new Set([...a.keys(), ...b.keys()])].sort();
  for (const p of paths) {
    const x = a.get(p);
    const y = b.get(p);
    if (x === undefined || y === undefined) return `${p}: only in the ${x === undefined ? 'second' : 'first'} tree`;
    for (const f of ['type', 'mode', 'owner', 'size', 'content', 'mtime'] as const) {
      if (x[f] !== y[f]) return `${p}: ${f} ${String(x[f])} ≠ ${String(y[f])}`;
    }
  }
  return undefined;
}

/** Every differing path with its first differing field (for a report). */
export function allDifferences(a: Map<string, TreeRow>, b: Map<string, TreeRow>): string[] {
  const out: string[] = [];
  for (const p of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    const d = firstDifference(new Map(a.has(p) ? [[p, a.get(p)!]] : []), new Map(b.has(p) ? [[p, b.get(p)!]] : []));
    if (d !== undefined) out.push(d);
  }
  return out;
}
