import { lstat, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CakeError, isErrno } from '../model/errors.js';
import { normalizeGuestPath } from '../model/run-options.js';

/** A host directory or file visible at `dst` in the guest. */
export interface GuestMount {
  src: string;
  dst: string;
}

export interface ResolvedGuestPath {
  /** The guest path with every guest symlink followed (absolute, normalized). */
  guestPath: string;
  /** Where that guest path lives on the host: under the rootfs or under a mount's source. */
  hostPath: string;
  /** What is there, as the guest would see it; 'missing' when the last component is absent. */
  kind: 'dir' | 'file' | 'missing';
}

const MAX_LINKS = 40;

/**
 * Maps a guest path to the host path that holds it: the longest mount whose `dst` is the path or
 * a parent of it wins, else the rootfs. Pure.
 */
export function hostPathOf(root: string, mounts: readonly GuestMount[], guestPath: string): string {
  let best: GuestMount | undefined;
  for (const m of mounts) {
    const inside = guestPath === m.dst || m.dst === '/' || guestPath.startsWith(m.dst + '/');
    if (inside && (!best || m.dst.length >= best.dst.length)) best = m;
  }
  if (!best) return guestPath === '/' ? root : root + guestPath;
  const rest = best.dst === '/' ? guestPath : guestPath.slice(best.dst.length);
  return rest === '' ? best.src : join(best.src, rest);
}

/**
 * Resolves a guest path the way the guest's kernel view would: component by component, following
 * symlinks as *guest* symlinks (absolute targets restart at the guest's `/`, `..` never climbs
 * above it), looking each component up through `mounts`. It never follows a symlink on the host,
 * so a hostile rootfs cannot point cake at host files. A missing intermediate directory or a
 * non-directory in the middle makes the rest 'missing'. Reads only; idempotent.
 */
export async function resolveGuestPath(root: string, mounts: readonly GuestMount[], guestPath: string): Promise<ResolvedGuestPath> {
  const todo = normalizeGuestPath(guestPath).split('/').filter((p) => p !== '');
  const done: string[] = [];
  let links = 0;
  while (todo.length > 0) {
    const part = todo.shift()!;
    if (part === '..') {
      done.pop();
      continue;
    }
    if (part === '.') continue;
    const candidate = '/' + [...done, part].join('/');
    const host = hostPathOf(root, mounts, candidate);
    let st;
    try {
      st = await lstat(host);
    } catch (err) {
      // An ancestor of a mount point exists in the guest once the mounts are made (mount points are created).
      if (isErrno(err, 'ENOENT') && mounts.some((m) => m.dst.startsWith(candidate + '/'))) {
        done.push(part);
        continue;
      }
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) {
        const rest = normalizeGuestPath(candidate + '/' + todo.join('/'));
        return { guestPath: rest, hostPath: hostPathOf(root, mounts, rest), kind: 'missing' };
      }
      throw err;
    }
    if (st.isSymbolicLink()) {
      if (++links > MAX_LINKS) {
        throw new CakeError('engine', `too many levels of symbolic links in the guest path ${guestPath}`);
      }
      const target = await readlink(host);
      if (target.startsWith('/')) done.length = 0;
      todo.unshift(...target.split('/').filter((p) => p !== ''));
      continue;
    }
    done.push(part);
    if (!st.isDirectory() && todo.length > 0) {
      const rest = normalizeGuestPath('/' + [...done, ...todo].join('/'));
      return { guestPath: rest, hostPath: hostPathOf(root, mounts, rest), kind: 'missing' };
    }
  }
  const final = '/' + done.join('/');
  const host = hostPathOf(root, mounts, final);
  const st = await lstat(host).catch(() => undefined);
  if (!st) return { guestPath: final, hostPath: host, kind: mounts.some((m) => m.dst.startsWith(final + '/')) ? 'dir' : 'missing' };
  return { guestPath: final, hostPath: host, kind: st.isDirectory() ? 'dir' : 'file' };
}

/**
 * Finds `name` the way execvp would in the guest: a name with a `/` is used as it is; otherwise
 * the first executable regular file `DIR/name` for DIR in `path` (an empty entry is the working
 * directory), looked up through the guest's symlinks and `mounts`. Returns the guest path as found
 * (not its symlink target: multi-call programs go by their name), or undefined. Reads only.
 */
export async function resolveCommand(root: string, mounts: readonly GuestMount[], name: string, path: string, cwd: string): Promise<string | undefined> {
  if (name.includes('/')) return name;
  for (const entry of path.split(':')) {
    const dir = entry === '' ? cwd : entry.startsWith('/') ? entry : `${cwd}/${entry}`;
    const candidate = normalizeGuestPath(`${dir}/${name}`);
    const r = await resolveGuestPath(root, mounts, candidate);
    if (r.kind !== 'file') continue;
    const st = await stat(r.hostPath).catch(() => undefined);
    if (st !== undefined && st.isFile() && (st.mode & 0o111) !== 0) return candidate;
  }
  return undefined;
}
