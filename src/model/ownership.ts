/**
 * The ownership table: what a root install would have had, for the entries whose real owner or
 * mode cannot be put on disk by an unprivileged user. Files on disk all belong to the user running
 * cake; `export`, `push` and `bake` read their real uid, gid, mode (and device nodes, which cannot
 * be created rootless) from here.
 *
 * Keys are paths relative to the env root, without a leading or trailing '/'. File names are bytes
 * on Linux; a name that is valid UTF-8 is its decoded string, and a name that is not keeps each
 * undecodable byte as a lone surrogate U+DC80..U+DCFF (Python's "surrogateescape"), so every byte
 * string has exactly one key and back (see {@link keyFromBytes} and {@link bytesFromKey}).
 */

/** Real ownership of one entry: what a root install would have. Paths relative to the env root, no leading '/', no trailing '/'. */
export interface OwnerRecord {
  uid: number;
  gid: number;
  /** permission bits incl. setuid/setgid/sticky, 0o7777 */
  mode: number;
  kind?: 'char' | 'block' | 'fifo';
  /** major, minor for devices */
  rdev?: [number, number];
}

/** Sparse table: an entry is present only when uid!=0 or gid!=0, or the real permission bits differ from those on disk (e.g. dirs given u+rwx), or the entry is a device node that could not be created. Absent => root:root (0:0) with the mode on disk. */
export type OwnershipTable = Record<string, OwnerRecord>;

/** The real owner and mode of `relPath`; `diskMode` is the mode found on disk (only its 0o7777 bits are used). Never reads inherited properties, so names like `__proto__` are safe. */
export function lookupOwner(
  table: OwnershipTable,
  relPath: string,
  diskMode: number,
): { uid: number; gid: number; mode: number } {
  const rec = Object.hasOwn(table, relPath) ? table[relPath] : undefined;
  if (rec === undefined) return { uid: 0, gid: 0, mode: diskMode & 0o7777 };
  return { uid: rec.uid, gid: rec.gid, mode: rec.mode & 0o7777 };
}

/** The record of `relPath` itself, if any (own properties only). */
export function getOwner(table: OwnershipTable, relPath: string): OwnerRecord | undefined {
  return Object.hasOwn(table, relPath) ? table[relPath] : undefined;
}

/**
 * Sets the record of `relPath`. Uses defineProperty so that a file named `__proto__` becomes an
 * ordinary key instead of replacing the table's prototype.
 */
export function setOwner(table: OwnershipTable, relPath: string, rec: OwnerRecord): void {
  Object.defineProperty(table, relPath, { value: rec, enumerable: true, writable: true, configurable: true });
}

/**
 * Records the real ownership of an entry, or removes its record when nothing differs from what
 * is on disk (root:root, same mode, not a device): keeps the table sparse.
 */
export function recordOwner(table: OwnershipTable, relPath: string, rec: OwnerRecord, diskMode: number): void {
  if (rec.uid === 0 && rec.gid === 0 && (rec.mode & 0o7777) === (diskMode & 0o7777) && rec.kind === undefined) {
    if (Object.hasOwn(table, relPath)) delete table[relPath];
    return;
  }
  setOwner(table, relPath, rec);
}

/** Removes the records of `relPath` and of everything below it (when a path is deleted or replaced). `''` clears the table. */
export function removeOwnerSubtree(table: OwnershipTable, relPath: string): void {
  if (relPath === '') {
    for (const k of Object.keys(table)) delete table[k];
    return;
  }
  if (Object.hasOwn(table, relPath)) delete table[relPath];
  const prefix = relPath + '/';
  for (const k of Object.keys(table)) if (k.startsWith(prefix)) delete table[k];
}

/** Moves the records of `from` and everything below it to `to` (records already under `to` are dropped first). */
export function renameOwnerSubtree(table: OwnershipTable, from: string, to: string): void {
  if (from === to) return;
  const moved: Array<[string, OwnerRecord]> = [];
  const prefix = from + '/';
  for (const k of Object.keys(table)) {
    if (k === from) moved.push([to, table[k]!]);
    else if (k.startsWith(prefix)) moved.push([to + k.slice(from.length), table[k]!]);
  }
  removeOwnerSubtree(table, from);
  removeOwnerSubtree(table, to);
  for (const [k, rec] of moved) setOwner(table, k, rec);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The table key of a raw file name (bytes, or a latin1 "binary" string holding one byte per char). */
export function keyFromBytes(raw: Buffer | string): string {
  if (typeof raw === 'string' && !/[^\x00-\x7f]/.test(raw)) return raw;
  const buf = typeof raw === 'string' ? Buffer.from(raw, 'latin1') : raw;
  let ascii = true;
  for (let i = 0; i < buf.length; i++) {
    if (buf[i]! >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return typeof raw === 'string' ? raw : buf.toString('latin1');
  try {
    return utf8.decode(buf);
  } catch {
    return surrogateEscape(buf);
  }
}

/** The raw bytes of a table key (inverse of {@link keyFromBytes}). */
export function bytesFromKey(key: string): Buffer {
  if (!/[\udc80-\udcff]/.test(key)) return Buffer.from(key, 'utf8');
  const parts: Buffer[] = [];
  let run = '';
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    const lone = c >= 0xdc80 && c <= 0xdcff && !(i > 0 && isHigh(key.charCodeAt(i - 1)));
    if (lone) {
      if (run) parts.push(Buffer.from(run, 'utf8'));
      run = '';
      parts.push(Buffer.of(c - 0xdc00));
    } else run += key[i];
  }
  if (run) parts.push(Buffer.from(run, 'utf8'));
  return Buffer.concat(parts);
}

function isHigh(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}

/** Decodes valid UTF-8 sequences and maps every other byte b to U+DC00+b. */
function surrogateEscape(buf: Buffer): string {
  let out = '';
  let i = 0;
  while (i < buf.length) {
    const b = buf[i]!;
    const len = b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
    if (len > 0 && i + len <= buf.length) {
      try {
        out += utf8.decode(buf.subarray(i, i + len));
        i += len;
        continue;
      } catch {
        // not a valid sequence: escape the lead byte below
      }
    }
    out += String.fromCharCode(0xdc00 + b);
    i += 1;
  }
  return out;
}
