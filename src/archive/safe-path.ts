/**
 * Paths inside an extraction root, and the walk that keeps every write inside it.
 *
 * Node has no openat(), so "open parents relative to the root" becomes: lstat each parent
 * component from the root down (creating missing ones), refuse any symlink or non-directory, and
 * create the last component with O_EXCL|O_NOFOLLOW (or mkdir/symlink/link, which never follow
 * their last component). Directories proven real are cached by their exact bytes; the cache is
 * dropped whenever a directory is removed or replaced, so no alias (NFC/NFD on a normalising
 * filesystem, case folding) can keep a stale entry alive.
 */
import { chmodSync, lstatSync, mkdirSync, realpathSync, unlinkSync, type Stats } from 'node:fs';
import { CakeError } from '../model/errors.js';
import { removeTreeSync } from './remove-tree.js';
import { show } from './tar-entry.js';

/** Deeper names are refused (node-tar CVE-2024-28863: deep nesting as a denial of service). */
export const MAX_DEPTH = 1024;

export type FsPath = string | Buffer;

const NON_ASCII = /[^\x00-\x7f]/;
/** anything but plain components: '.', '..', empty components, NUL; a single trailing '/' is plain */
const UNUSUAL = /(?:^|\/)\.\.?(?:\/|$)|\/\/|^$|\u0000/;

/** The hint of refusals that are about escaping the root. */
export const ESCAPE_HINT = 'the archive tries to write outside its root: nothing outside was touched and nothing was installed; do not use this archive unless you know why it does that';

/**
 * An 'unsafe-archive' refusal naming the entry and why. `hint` defaults to {@link ESCAPE_HINT}:
 * pass another for refusals that are not about escaping (depth, names no filesystem can hold).
 */
export function unsafe(name: string, why: string, hint = ESCAPE_HINT): CakeError {
  return new CakeError('unsafe-archive', `unsafe archive entry ${JSON.stringify(show(name))}: ${why}`, { hint });
}

const DEPTH_HINT = `cake refuses names nested deeper than ${MAX_DEPTH} directories (a denial-of-service guard); nothing was installed; unpack it with GNU tar if you trust it`;
const NUL_HINT = 'a file name cannot contain a NUL byte: the archive is damaged or crafted; nothing was installed';

/** Removes the leading '/'s of a member name (GNU tar: "Removing leading `/' from member names"). */
export function stripLeadingSlashes(name: string): string {
  let i = 0;
  while (name.charCodeAt(i) === 0x2f) i++;
  return i === 0 ? name : name.slice(i);
}

/**
 * The components of a member name (a binary string) after `strip` leading components (as GNU
 * tar counts them: './' is one), with '.' and empty ones dropped. Absolute names are taken
 * relative to the root, as GNU tar and bsdtar do (leading '/'s removed: the caller strips them
 * first and says so once). Throws 'unsafe-archive' for '..' components, NUL bytes and names
 * deeper than {@link MAX_DEPTH}. Returns null when stripping removes the whole name (the entry is
 * skipped). With `linkOf`, `name` is the hard-link target of entry `linkOf`, which is the entry
 * the error names.
 */
export function memberComponents(name: string, strip: number, linkOf?: string): string[] | null {
  const fail = (why: string, hint?: string) =>
    linkOf === undefined ? unsafe(name, why, hint) : unsafe(linkOf, `hard link to ${JSON.stringify(show(name))}: ${why}`, hint);
  name = stripLeadingSlashes(name);
  if (strip === 0 && !UNUSUAL.test(name)) {
    // the common case: plain components; only a trailing '/' to drop
    const out = name.split('/');
    if (out[out.length - 1] === '') out.pop();
    if (out.length > MAX_DEPTH) throw fail(`nested deeper than ${MAX_DEPTH} directories`, DEPTH_HINT);
    return out;
  }
  if (name.includes('\u0000')) throw fail('NUL byte in the name', NUL_HINT);
  let parts = name.split('/').filter((p) => p !== '');
  if (strip > 0) {
    if (parts.length <= strip) return null;
    parts = parts.slice(strip);
  }
  const out = parts.filter((p) => p !== '.');
  if (out.includes('..')) throw fail("'..' component");
  if (out.length > MAX_DEPTH) throw fail(`nested deeper than ${MAX_DEPTH} directories`, DEPTH_HINT);
  return out;
}

/**
 * Verified-directory caches, one per real root directory and shared by every extraction into it
 * in this process (the Debian bootstrap unpacks several packages into one root at once): when
 * one extraction replaces a directory, the others forget it too. Entries are applied
 * synchronously, so no other extraction runs between a walk and the creation that follows it.
 */
const caches = new Map<string, { verified: Set<string>; users: number }>();

/** A root directory and the cache of directories below it known to be real directories. */
export class SafeRoot {
  private readonly rootStr: string;
  private readonly rootBuf: Buffer;
  private readonly verified: Set<string>;
  private readonly cacheKey: string;
  private closed = false;
  /** Called with the key of every directory this walk creates (for OCI "created in this layer"). */
  onCreateDir: ((key: string) => void) | null = null;

  constructor(root: string) {
    this.rootStr = root.endsWith('/') && root.length > 1 ? root.slice(0, -1) : root;
    this.rootBuf = Buffer.from(this.rootStr);
    this.cacheKey = realpathSync(this.rootStr);
    let cache = caches.get(this.cacheKey);
    if (cache === undefined) caches.set(this.cacheKey, (cache = { verified: new Set(), users: 0 }));
    cache.users++;
    this.verified = cache.verified;
  }

  /** Releases the shared cache (the last user of a root drops it). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const cache = caches.get(this.cacheKey);
    if (cache && --cache.users === 0) caches.delete(this.cacheKey);
  }

  /** The filesystem path of `key` (components joined by '/', a binary string; '' is the root). */
  path(key: string): FsPath {
    if (key === '') return this.rootStr;
    if (!NON_ASCII.test(key)) return this.rootStr + '/' + key;
    return Buffer.concat([this.rootBuf, Buffer.from('/' + key, 'latin1')]);
  }

  markDir(key: string): void {
    this.verified.add(key);
  }

  /** Forgets every verified directory: called whenever a directory is removed or replaced. */
  forgetAll(): void {
    this.verified.clear();
  }

  /**
   * Makes sure components[0 .. count) are real directories below the root. With `create`,
   * missing ones are made (mode 0755); without it, returns false when one is missing or is not a
   * directory. A symlink among them always throws 'unsafe-archive' naming `entry`; with `create`,
   * a non-directory in the way throws 'bad-archive'. `what` names the components in messages.
   */
  walk(components: string[], count: number, create: boolean, entry: string, what = 'its path'): boolean {
    if (count <= 0) return true;
    let key = components.slice(0, count).join('/');
    if (this.verified.has(key)) return true;
    // find the deepest verified ancestor, then go down from there
    let start = count - 1;
    while (start > 0) {
      key = components.slice(0, start).join('/');
      if (this.verified.has(key)) break;
      start--;
    }
    key = components.slice(0, start).join('/');
    for (let i = start; i < count; i++) {
      key = key === '' ? components[i]! : key + '/' + components[i]!;
      const p = this.path(key);
      const st: Stats | undefined = lstatSync(p, { throwIfNoEntry: false });
      if (st === undefined) {
        if (!create) return false;
        mkdirSync(p, 0o755);
        chmodSync(p, 0o755); // whatever the umask: deterministic
        this.onCreateDir?.(key);
      } else if (st.isSymbolicLink()) {
        throw unsafe(entry, `${what} goes through the symlink ${JSON.stringify(show(key))} (which could lead outside the root)`);
      } else if (!st.isDirectory()) {
        if (!create) return false;
        throw new CakeError('bad-archive', `archive entry ${JSON.stringify(show(entry))}: its parent ${JSON.stringify(show(key))} is not a directory`, {
          hint: 'the archive puts a file where it later needs a directory (GNU tar refuses it too); nothing was installed',
        });
      }
      this.verified.add(key);
    }
    return true;
  }

  /**
   * Removes whatever is at `key` (never following a symlink there; directories recursively).
   * Returns what was there, or undefined. Drops the directory cache when a directory goes.
   */
  clear(key: string): Stats | undefined {
    const p = this.path(key);
    const st = lstatSync(p, { throwIfNoEntry: false });
    if (st === undefined) return undefined;
    if (st.isDirectory()) {
      this.forgetAll();
      removeTreeSync(p);
    } else unlinkSync(p);
    return st;
  }
}
