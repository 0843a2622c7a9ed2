/**
 * The first difference between two envs, as a reproducibility failure names it: the first path
 * (in byte order) whose type, mode, uid, gid or content differs, or the first setting (config,
 * run) that differs. Reads both trees with their ownership tables from env.json.
 */
import { createHash } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { lookupOwner, type OwnershipTable } from '../../../src/model/ownership.js';
import { fsJoin, listTree } from '../../../src/archive/tree-walk.js';

interface Item {
  type: string;
  mode: string;
  uid: number;
  gid: number;
  content: string;
}

function items(root: string, table: OwnershipTable): Map<string, Item> {
  const { entries, restore } = listTree(root);
  restore();
  const out = new Map<string, Item>();
  for (const e of entries) {
    const st = e.st;
    const type = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'symlink' : 'other';
    const own = lookupOwner(table, e.key, st.mode);
    const p = fsJoin(root, e.rel);
    const content = type === 'file' ? createHash('sha256').update(readFileSync(p)).digest('hex') : type === 'symlink' ? readlinkSync(p, 'utf8') : '';
    out.set(e.rel.toString('latin1'), { type, mode: (type === 'symlink' ? 0o777 : own.mode).toString(8), uid: own.uid, gid: own.gid, content });
  }
  return out;
}

/**
 * `''` when the envs at `a` and `b` (env directories: env.json and rootfs/) are the same; bind
 * sources under `recipeDirs[0]` and `recipeDirs[1]` count as relative to them.
 */
export function firstDifference(a: string, b: string, recipeDirs: [string, string] = ['', '']): string {
  const ra = JSON.parse(readFileSync(join(a, 'env.json'), 'utf8'));
  const rb = JSON.parse(readFileSync(join(b, 'env.json'), 'utf8'));
  const ia = items(join(a, 'rootfs'), ra.ownership ?? {});
  const ib = items(join(b, 'rootfs'), rb.ownership ?? {});
  const paths = [...new Set([...ia.keys(), ...ib.keys()])].sort((x, y) => Buffer.compare(Buffer.from(x, 'latin1'), Buffer.from(y, 'latin1')));
  for (const p of paths) {
    const x = ia.get(p);
    const y = ib.get(p);
    if (!x || !y) return `/${p}: only in ${x ? a : b}`;
    for (const f of ['type', 'mode', 'uid', 'gid', 'content'] as const) if (x[f] !== y[f]) return `/${p}: ${f} ${x[f]} vs ${y[f]}`;
  }
  const rel = (run: { binds?: { src: string; dst: string }[] } | undefined, dir: string) =>
    run && { ...run, binds: run.binds?.map((x) => ({ ...x, src: dir && x.src.startsWith(dir + '/') ? `./${x.src.slice(dir.length + 1)}` : x.src })) };
  ra.run = rel(ra.run, recipeDirs[0]);
  rb.run = rel(rb.run, recipeDirs[1]);
  for (const f of ['config', 'run'] as const) {
    if (JSON.stringify(ra[f] ?? null) !== JSON.stringify(rb[f] ?? null)) return `env.json ${f}: ${JSON.stringify(ra[f])} vs ${JSON.stringify(rb[f])}`;
  }
  return '';
}
