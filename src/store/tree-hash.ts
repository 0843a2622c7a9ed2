/**
 * The tree hash: a deterministic sha256 of a root filesystem as a root install would have it.
 * Entries are sorted by their path bytes; each contributes
 *   `TYPE MODE UID GID \0 PATH \0 PAYLOAD \0`
 * where TYPE is d (directory), f (file), l (symlink), c/b (device), p (fifo); MODE is the octal
 * permission bits (0o7777, 777 for symlinks); UID, GID and MODE come from the ownership table
 * (absent: root and the mode on disk); PAYLOAD is the sha256 of a file's content, a symlink's
 * target bytes, or `MAJOR,MINOR` of a device. Mtimes, inode numbers, hard-link structure and
 * sockets are not part of it. Device nodes (and fifos) that exist only in the ownership table
 * count as if they were on disk. The whole stream starts with `cake-tree-v1\0`.
 *
 * The hash of an env (what `cake cook` and `cake pull` print, env.json's `treeSha256`,
 * `expect_sha256` and `--expect-sha256` pin) covers what changes the env's behaviour besides its
 * files: {@link envHash} of the tree hash and the env's settings as a canonical record (the
 * variables, PATH included, the working dir, user, entrypoint and cmd of its config; its default
 * binds and run variables), so an `env:`, `path:` or `bind:` step, or an image's Env or Cmd,
 * cannot change under a pin. An env without settings (a tarball, a Debian/Ubuntu archive build)
 * has its plain tree hash. {@link ENV_HASH_FORMAT} names this scheme in env.json.
 */
import { createHash, type Hash } from 'node:crypto';
import { chmodSync, closeSync, fstatSync, lstatSync, openSync, readSync, readlinkSync, constants as C } from 'node:fs';
import { bytesFromKey, keyFromBytes, lookupOwner, type OwnershipTable } from '../model/ownership.js';
import { CakeError } from '../model/errors.js';
import type { Logger } from '../model/logger.js';
import { fsJoin, listTree, type FsPath } from '../archive/tree-walk.js';
import type { EnvRecord, GuestConfig } from './env-record.js';
import { relative } from 'node:path';

const CHUNK = 1 << 20;
/** The event loop gets a turn at least this often (ms): signals are handled, the abort is seen. */
const SLICE_MS = 50;
/** Files at least this big are named while they are hashed (a sparse giant takes minutes). */
const BIG = 1 << 30;

/** How a long hash is interrupted and shown. */
export interface HashOptions {
  /** Checked between chunks: an abort ends the hash with CakeError('interrupted') within ~50 ms. */
  signal?: AbortSignal;
  /** Names files of 1 GiB or more while they are hashed (a line, and a bar on a TTY). */
  logger?: Logger;
}

/**
 * Time slices for a hash that reads synchronously (fast: no thread-pool round trip per small
 * file) but gives the event loop a turn every {@link SLICE_MS} ms, so SIGINT/SIGTERM reach the
 * CLI's abort controller and the abort is honoured between chunks.
 */
export class HashPacer {
  private last = performance.now();
  constructor(private readonly signal?: AbortSignal) {}

  /** Throws CakeError('interrupted') once aborted. */
  check(): void {
    if (this.signal?.aborted) throw new CakeError('interrupted', 'interrupted');
  }

  /**
   * A turn for the event loop when the slice is used up (a promise to await), else undefined at
   * no cost (hot loops skip the await); throws CakeError('interrupted') once aborted.
   */
  due(): Promise<void> | undefined {
    this.check();
    if (performance.now() - this.last < SLICE_MS) return undefined;
    return new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      this.last = performance.now();
      this.check();
    });
  }
}

/** Opens a regular file for hashing without following a symlink or blocking on a fifo; EACCES gets u+r for the read. */
function openForHash(path: FsPath): { fd: number; size: number; close(): void } {
  let fd: number;
  let restore: number | undefined;
  try {
    fd = openSync(path, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EACCES') throw err;
    restore = lstatSync(path).mode & 0o7777;
    chmodSync(path, restore | 0o400);
    fd = openSync(path, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
  }
  const close = (): void => {
    closeSync(fd);
    if (restore !== undefined) chmodSync(path, restore);
  };
  // a file swapped for a fifo or a device since it was listed is not read (it could block)
  const st = fstatSync(fd);
  if (!st.isFile()) {
    close();
    throw new CakeError('io', `cannot read ${path.toString()}: it is not a regular file (it changed, or it is a fifo or a device)`, { hint: 'run the command again when nothing runs in the environment' });
  }
  return { fd, size: st.size, close };
}

/** sha256 hex of a file's content, synchronously; for cake's own files (blobs, caches). Same rules as {@link hashFile}. */
export function hashFileSync(path: FsPath, buf: Buffer = Buffer.allocUnsafe(CHUNK)): string {
  const h = createHash('sha256');
  const f = openForHash(path);
  try {
    for (;;) {
      const n = readSync(f.fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    f.close();
  }
  return h.digest('hex');
}

/**
 * Feeds a file's content into `into` (or a fresh sha256, whose hex is returned), interruptible
 * (see {@link HashOptions}). A file without read permission is made readable for the read; a
 * symlink, fifo or device is refused. `label` names the file in the progress line.
 */
export async function hashFile(path: FsPath, o: HashOptions & { into?: Hash; buf?: Buffer; pacer?: HashPacer; label?: () => string } = {}): Promise<string> {
  const pacer = o.pacer ?? new HashPacer(o.signal);
  const buf = o.buf ?? Buffer.allocUnsafe(CHUNK);
  const h = o.into ?? createHash('sha256');
  const f = openForHash(path);
  let bar: ReturnType<Logger['progress']> | undefined;
  try {
    if (f.size >= BIG && o.logger) {
      const label = o.label?.() ?? path.toString();
      o.logger.info(`hashing ${label} (${(f.size / BIG).toFixed(1)} GiB): Ctrl-C stops`);
      bar = o.logger.progress(`hashing ${label}`, f.size, 'bytes');
    }
    let done = 0;
    for (;;) {
      const n = readSync(f.fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
      done += n;
      bar?.update(done);
      const turn = pacer.due();
      if (turn) await turn;
    }
  } finally {
    bar?.stop();
    f.close();
  }
  return o.into ? '' : h.digest('hex');
}

interface Item {
  rel: Buffer;
  type: string;
  diskMode: number;
  rdev?: [number, number];
}

/**
 * The tree hash of `root` with its ownership table (see the module comment). Reads every file once;
 * the tree must not change meanwhile. Interruptible between files and chunks (see
 * {@link HashOptions}); depth-safe (paths are made as each entry is read). Returns 64 hex characters.
 */
export async function treeHash(root: string, ownership: OwnershipTable, o: HashOptions = {}): Promise<string> {
  const pacer = new HashPacer(o.signal);
  const { entries, restore } = listTree(root);
  try {
    const items: Item[] = [];
    const index = new Map<string, number>();
    for (const e of entries) {
      const st = e.st;
      let type: string;
      if (st.isDirectory()) type = 'd';
      else if (st.isFile()) type = 'f';
      else if (st.isSymbolicLink()) type = 'l';
      else if (st.isFIFO()) type = 'p';
      else if (st.isCharacterDevice()) type = 'c';
      else if (st.isBlockDevice()) type = 'b';
      else continue; // sockets are made at run time
      index.set(e.rel.toString('latin1'), items.length);
      items.push({ rel: e.rel, type, diskMode: st.mode, ...(type === 'c' || type === 'b' ? { rdev: [Math.floor(st.rdev / 256) & 0xfff, (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00)] as [number, number] } : {}) });
    }
    pacer.check();
    for (const key of Object.keys(ownership)) {
      const rec = ownership[key]!;
      if (rec.kind === undefined) continue;
      const rel = bytesFromKey(key);
      const type = rec.kind === 'char' ? 'c' : rec.kind === 'block' ? 'b' : 'p';
      const item: Item = { rel, type, diskMode: rec.mode, rdev: rec.rdev ?? [0, 0] };
      const at = index.get(rel.toString('latin1'));
      if (at === undefined) items.push(item);
      else if (items[at]!.type !== 'd') items[at] = item; // a placeholder on disk: the table knows better
    }
    items.sort((a, b) => Buffer.compare(a.rel, b.rel));
    const h = createHash('sha256');
    h.update('cake-tree-v1\0');
    const buf = Buffer.allocUnsafe(CHUNK);
    const opts = { ...o, buf, pacer };
    for (const it of items) {
      const turn = pacer.due();
      if (turn) await turn;
      const own = lookupOwner(ownership, keyFromBytes(it.rel), it.diskMode);
      const mode = it.type === 'l' ? 0o777 : own.mode;
      let payload: Buffer | string = '';
      // the path is made here, not while listing: a deep path stays valid only briefly (fsJoin)
      if (it.type === 'f') payload = await hashFile(fsJoin(root, it.rel), { ...opts, label: () => `/${it.rel.toString()}` });
      else if (it.type === 'l') payload = readlinkSync(fsJoin(root, it.rel), { encoding: 'buffer' });
      else if (it.type === 'c' || it.type === 'b') payload = `${it.rdev![0]},${it.rdev![1]}`;
      h.update(`${it.type} ${mode.toString(8)} ${own.uid} ${own.gid}\0`);
      h.update(it.rel);
      h.update('\0');
      h.update(payload);
      h.update('\0');
    }
    return h.digest('hex');
  } finally {
    restore();
  }
}

/** What of an env besides its files changes how it behaves. */
export interface EnvSettings {
  config?: GuestConfig;
  run?: EnvRecord['run'];
}

/**
 * The scheme of env.json's `treeSha256`, recorded beside it as `treeHashFormat`: 2 is
 * {@link envHash} (settings folded in). A record without it, made by an older cake, holds the
 * plain tree hash, which is the same value only for an env without settings.
 */
export const ENV_HASH_FORMAT = 2;

/** JSON with object keys sorted (arrays keep their order). Pure. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/**
 * The settings of an entry as they are hashed: empty parts left out, bind sources inside
 * `recipeDir` relative to it (so the same recipe checked out elsewhere gives the same hash;
 * without `recipeDir` they are kept as they are).
 */
export function settingsOf(e: EnvSettings, recipeDir?: string): EnvSettings {
  const out: EnvSettings = {};
  const config = Object.fromEntries(Object.entries(e.config ?? {}).filter(([, v]) => v !== undefined && !(Array.isArray(v) && v.length === 0)));
  if (Object.keys(config).length > 0) out.config = config as GuestConfig;
  const binds = (e.run?.binds ?? []).map((b) => {
    if (recipeDir === undefined) return { src: b.src, dst: b.dst };
    const rel = relative(recipeDir, b.src);
    return { src: rel === '' ? '.' : rel.startsWith('../') || rel === '..' ? b.src : `./${rel}`, dst: b.dst };
  });
  const env = e.run?.env && Object.keys(e.run.env).length > 0 ? e.run.env : undefined;
  if (binds.length > 0 || env) out.run = { ...(binds.length > 0 ? { binds } : {}), ...(env ? { env } : {}) };
  return out;
}

/** The hash of an env: its tree hash alone without settings, else sha256 of both. Pure. */
export function envHash(treeHex: string, settings: EnvSettings): string {
  if (settings.config === undefined && settings.run === undefined) return treeHex;
  return createHash('sha256').update(`cake-env-v1\0${treeHex}\0${canonical(settings)}\0`).digest('hex');
}

/** The hash of the env at `root` with `e`'s ownership and settings (see the module comment). */
export async function envTreeHash(root: string, e: EnvSettings & { ownership: OwnershipTable }, o: HashOptions = {}): Promise<string> {
  return envHash(await treeHash(root, e.ownership, o), settingsOf(e));
}

/** Whether `e` has settings that {@link envHash} folds in (else its hash is the plain tree hash). */
export function hasSettings(e: EnvSettings): boolean {
  const s = settingsOf(e);
  return s.config !== undefined || s.run !== undefined;
}
