/**
 * Looking at files of a root filesystem from the host as the guest would see them: a path is
 * resolved component by component inside the root, absolute symlinks meaning the root's own paths
 * (`/sbin/init -> /lib/systemd/systemd`), never the host's. One module for the engine (async, with
 * the run's mounts) and for bake (sync, a finished tree without mounts). Reads only.
 */
import { lstatSync, readFileSync, readlinkSync, type Stats } from 'node:fs';
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

/** One file-system question the walk asks; a driver (sync or async) answers it. */
type FsAsk = { lstat: string } | { readlink: string };
/** An lstat's answer: the Stats, or the errno of a missing path. Other errors are thrown by the driver. */
type LstatAnswer = Stats | 'ENOENT' | 'ENOTDIR';

/**
 * The one walk behind {@link resolveGuestPath} and {@link resolveInRoot}: component by component,
 * following symlinks as *guest* symlinks (absolute targets restart at the guest's `/`, `..` never
 * climbs above it), looking each component up through `mounts`. Written once as a generator that
 * yields its lstat/readlink questions, so the async and the sync drivers cannot drift apart.
 */
function* walk(root: string, mounts: readonly GuestMount[], guestPath: string): Generator<FsAsk, ResolvedGuestPath, LstatAnswer | string> {
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
    const st = (yield { lstat: host }) as LstatAnswer;
    if (typeof st === 'string') {
      // An ancestor of a mount point exists in the guest once the mounts are made (mount points are created).
      if (st === 'ENOENT' && mounts.some((m) => m.dst.startsWith(candidate + '/'))) {
        done.push(part);
        continue;
      }
      const rest = normalizeGuestPath(candidate + '/' + todo.join('/'));
      return { guestPath: rest, hostPath: hostPathOf(root, mounts, rest), kind: 'missing' };
    }
    if (st.isSymbolicLink()) {
      if (++links > MAX_LINKS) {
        throw new CakeError('engine', `too many levels of symbolic links in the guest path ${guestPath}`);
      }
      const target = (yield { readlink: host }) as string;
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
  const st = (yield { lstat: host }) as LstatAnswer;
  if (typeof st === 'string') return { guestPath: final, hostPath: host, kind: mounts.some((m) => m.dst.startsWith(final + '/')) ? 'dir' : 'missing' };
  return { guestPath: final, hostPath: host, kind: st.isDirectory() ? 'dir' : 'file' };
}

/** An lstat error as the walk's answer: the errno of a missing path; any other error is thrown on. */
function missingOrThrow(err: unknown): 'ENOENT' | 'ENOTDIR' {
  if (isErrno(err, 'ENOENT')) return 'ENOENT';
  if (isErrno(err, 'ENOTDIR')) return 'ENOTDIR';
  throw err;
}

/**
 * Resolves a guest path the way the guest's kernel view would (see {@link walk}). It never follows
 * a symlink on the host, so a hostile rootfs cannot point cake at host files. A missing
 * intermediate directory or a non-directory in the middle makes the rest 'missing'. Reads only;
 * idempotent.
 */
export async function resolveGuestPath(root: string, mounts: readonly GuestMount[], guestPath: string): Promise<ResolvedGuestPath> {
  const w = walk(root, mounts, guestPath);
  let step = w.next();
  while (!step.done) {
    const ask = step.value;
    step = w.next('lstat' in ask ? await lstat(ask.lstat).catch(missingOrThrow) : await readlink(ask.readlink));
  }
  return step.value;
}

/**
 * The host path of the guest path `path` (absolute) inside `root` (no mounts), symlinks followed
 * as the guest would; undefined when it does not exist or cannot be read. Synchronous, for bake's
 * look at a finished tree.
 */
export function resolveInRoot(root: string, path: string): string | undefined {
  try {
    const w = walk(root, [], path);
    let step = w.next();
    while (!step.done) {
      const ask = step.value;
      let answer: LstatAnswer | string;
      if ('lstat' in ask) {
        try {
          answer = lstatSync(ask.lstat);
        } catch (err) {
          answer = missingOrThrow(err);
        }
      } else answer = readlinkSync(ask.readlink, 'utf8');
      step = w.next(answer);
    }
    return step.value.kind === 'missing' ? undefined : step.value.hostPath;
  } catch {
    return undefined;
  }
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
