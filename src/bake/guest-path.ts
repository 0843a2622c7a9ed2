/**
 * Looking at files of a root filesystem from the host as the guest would see them: a path is
 * resolved component by component inside the root, absolute symlinks meaning the root's own
 * paths (`/sbin/init -> /lib/systemd/systemd`), never the host's. Read-only.
 */
import { lstatSync, readFileSync, readlinkSync, type Stats } from 'node:fs';

const MAX_LINKS = 40;

/** The host path of the guest path `path` (absolute) after following symlinks inside `root`; undefined when it does not exist. */
export function resolveInRoot(root: string, path: string): string | undefined {
  let parts = path.split('/').filter((p) => p !== '' && p !== '.');
  const done: string[] = [];
  let links = 0;
  while (parts.length > 0) {
    const name = parts.shift() as string;
    if (name === '..') {
      done.pop();
      continue;
    }
    const host = `${root}/${[...done, name].join('/')}`;
    let st: Stats;
    try {
      st = lstatSync(host);
    } catch {
      return undefined;
    }
    if (st.isSymbolicLink()) {
      if (++links > MAX_LINKS) return undefined;
      const target = readlinkSync(host, 'utf8');
      if (target.startsWith('/')) done.length = 0;
      parts = [...target.split('/').filter((p) => p !== '' && p !== '.'), ...parts];
      continue;
    }
    done.push(name);
    if (parts.length > 0 && !st.isDirectory()) return undefined;
  }
  return `${root}/${done.join('/')}`.replace(/\/$/, '') || root;
}

/** lstat of the resolved path (so a symlink to a file reports the file). */
export function statInRoot(root: string, path: string): Stats | undefined {
  const p = resolveInRoot(root, path);
  if (p === undefined) return undefined;
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}

export function existsInRoot(root: string, path: string): boolean {
  return statInRoot(root, path) !== undefined;
}

/** The text of a regular file of the guest, undefined when absent or not a file. */
export function readInRoot(root: string, path: string): string | undefined {
  const p = resolveInRoot(root, path);
  if (p === undefined) return undefined;
  try {
    const st = lstatSync(p);
    return st.isFile() ? readFileSync(p, 'utf8') : undefined;
  } catch {
    return undefined;
  }
}
