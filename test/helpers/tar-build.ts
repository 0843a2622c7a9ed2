/**
 * Hostile tar archives built byte by byte (no tar library: malformed shapes must stay malformed),
 * and sandboxes to extract them in: a temp parent holding the root, an "outside" sentinel dir and
 * a secret file, with a snapshot to prove nothing outside the root changed.
 */
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { extractTar, type ExtractOptions, type ExtractStats } from '../../src/archive/extract.js';
import type { OwnershipTable } from '../../src/model/ownership.js';
import { removeTreeSync } from '../../src/archive/remove-tree.js';

type Bytes = string | Buffer;
const bytes = (b: Bytes): Buffer => (typeof b === 'string' ? Buffer.from(b, 'utf8') : b);

export const TYPE = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  char: '3',
  block: '4',
  dir: '5',
  fifo: '6',
  pax: 'x',
  paxGlobal: 'g',
  gnuLongName: 'L',
  gnuLongLink: 'K',
  gnuSparse: 'S',
} as const;

export interface HeaderSpec {
  name: Bytes;
  /** a typeflag character or a name from TYPE (default: file) */
  type?: keyof typeof TYPE | string;
  mode?: number;
  uid?: number;
  gid?: number;
  /** the size field; defaults to the data length */
  size?: number;
  mtime?: number;
  linkname?: Bytes;
  devmajor?: number;
  devminor?: number;
  /** ustar (default), gnu ("ustar  \0") or v7 (no magic) */
  format?: 'ustar' | 'gnu' | 'v7';
  prefix?: Bytes;
  /** break the checksum */
  badChecksum?: boolean;
  /** raw bytes to put at an offset of the header (e.g. a GNU sparse map) before the checksum */
  patch?: Array<[offset: number, data: Buffer]>;
}

function octal(n: number, len: number): string {
  return n.toString(8).padStart(len - 1, '0') + '\u0000';
}

/** One 512-byte header block. */
export function header(spec: HeaderSpec, dataLength = 0): Buffer {
  const b = Buffer.alloc(512);
  const name = bytes(spec.name);
  name.copy(b, 0, 0, Math.min(100, name.length));
  b.write(octal(spec.mode ?? 0o644, 8), 100, 'latin1');
  b.write(octal(spec.uid ?? 0, 8), 108, 'latin1');
  b.write(octal(spec.gid ?? 0, 8), 116, 'latin1');
  b.write(octal(spec.size ?? dataLength, 12), 124, 'latin1');
  b.write(octal(spec.mtime ?? 1_700_000_000, 12), 136, 'latin1');
  const t = spec.type ?? 'file';
  b.write(t in TYPE ? TYPE[t as keyof typeof TYPE] : t, 156, 'latin1');
  if (spec.linkname !== undefined) bytes(spec.linkname).copy(b, 157, 0, 100);
  const format = spec.format ?? 'ustar';
  if (format === 'ustar') b.write('ustar\u000000', 257, 'latin1');
  if (format === 'gnu') b.write('ustar  \u0000', 257, 'latin1');
  if (format !== 'v7') {
    b.write(octal(spec.devmajor ?? 0, 8), 329, 'latin1');
    b.write(octal(spec.devminor ?? 0, 8), 337, 'latin1');
  }
  if (spec.prefix !== undefined) bytes(spec.prefix).copy(b, 345, 0, 155);
  for (const [off, data] of spec.patch ?? []) data.copy(b, off);
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const x of b) sum += x;
  if (spec.badChecksum) sum += 1;
  b.write(octal(sum, 7) + ' ', 148, 'latin1');
  return b;
}

export function pad(data: Buffer): Buffer {
  const r = data.length % 512;
  return r === 0 ? data : Buffer.concat([data, Buffer.alloc(512 - r)]);
}

/** A header followed by its (padded) data. */
export function entry(spec: HeaderSpec, data: Bytes = Buffer.alloc(0)): Buffer {
  const d = bytes(data);
  return Buffer.concat([header(spec, d.length), pad(d)]);
}

export const file = (name: Bytes, data: Bytes = '', extra: Partial<HeaderSpec> = {}) => entry({ name, ...extra }, data);
export const dir = (name: Bytes, extra: Partial<HeaderSpec> = {}) => entry({ name, type: 'dir', mode: 0o755, ...extra });
export const symlink = (name: Bytes, target: Bytes, extra: Partial<HeaderSpec> = {}) =>
  entry({ name, type: 'symlink', linkname: target, mode: 0o777, ...extra });
export const hardlink = (name: Bytes, target: Bytes, extra: Partial<HeaderSpec> = {}) => entry({ name, type: 'hardlink', linkname: target, ...extra });

/** One PAX record "LEN KEY=VALUE\n". */
export function paxRecord(key: string, value: Bytes): Buffer {
  const rest = Buffer.concat([Buffer.from(` ${key}=`), bytes(value), Buffer.from('\n')]);
  let len = rest.length + 1;
  while (String(len).length + rest.length !== len) len++;
  return Buffer.concat([Buffer.from(String(len)), rest]);
}

/** A PAX extended header ('x', or 'g' for global) with its records. */
export function pax(records: Array<[string, Bytes]>, type: 'x' | 'g' = 'x'): Buffer {
  const body = Buffer.concat(records.map(([k, v]) => paxRecord(k, v)));
  return entry({ name: type === 'g' ? 'pax_global_header' : 'PaxHeaders/x', type, format: 'ustar' }, body);
}

/** A GNU long name ('L') or long link ('K') header with its NUL-terminated value. */
export function gnuLong(kind: 'L' | 'K', value: Bytes): Buffer {
  return entry({ name: '././@LongLink', type: kind, format: 'gnu' }, Buffer.concat([bytes(value), Buffer.alloc(1)]));
}

/** Members followed by the two zero blocks of the end of archive. */
export function tar(...members: Buffer[]): Buffer {
  return Buffer.concat([...members, Buffer.alloc(1024)]);
}

export interface Sandbox {
  parent: string;
  root: string;
  outside: string;
  secret: string;
  ownership: OwnershipTable;
  extract(data: Buffer | Buffer[], opts?: Partial<ExtractOptions>): Promise<ExtractStats>;
  /** Everything under `parent` but outside `root`, with content: compare before and after. */
  snapshotOutside(): string;
  cleanup(): void;
}

/** A temp parent with root/, outside/ (holding a sentinel file) and secret (a file next to root). */
export function sandbox(): Sandbox {
  const parent = mkdtempSync(join(tmpdir(), 'cake-archive-'));
  const root = join(parent, 'root');
  const outside = join(parent, 'outside');
  const secret = join(parent, 'secret');
  mkdirSync(root);
  mkdirSync(outside);
  writeFileSync(join(outside, 'sentinel'), 'sentinel');
  writeFileSync(secret, 'secret');
  const ownership: OwnershipTable = {};
  return {
    parent,
    root,
    outside,
    secret,
    ownership,
    extract(data, opts = {}) {
      const chunks = Array.isArray(data) ? data : [data];
      return extractTar(Readable.from(chunks), { root, ownership, ...opts });
    },
    snapshotOutside() {
      return snapshot(parent, new Set([root])).join('\n');
    },
    cleanup() {
      removeTreeSync(parent);
    },
  };
}

/** Lines "path type mode size content|target" for everything under `dir` (not following symlinks). */
export function snapshot(dir: string, skip = new Set<string>()): string[] {
  const lines: string[] = [];
  const walk = (p: Buffer, rel: string) => {
    const names = readdirSync(p, { encoding: 'buffer' }).sort(Buffer.compare);
    for (const name of names) {
      const full = Buffer.concat([p, Buffer.from('/'), name]);
      if (skip.has(full.toString())) continue;
      const shown = name.toString('utf8').includes('\ufffd') ? `<hex:${name.toString('hex')}>` : name.toString('utf8');
      const r = rel ? `${rel}/${shown}` : shown;
      const st = lstatSync(full);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isDirectory()) {
        lines.push(`${r} dir ${mode}`);
        walk(full, r);
      } else if (st.isSymbolicLink()) lines.push(`${r} symlink -> ${readlinkSync(full, { encoding: 'buffer' }).toString('hex')}`);
      else if (st.isFile()) lines.push(`${r} file ${mode} ${st.nlink} ${readFileSync(full).toString('base64')}`);
      else lines.push(`${r} other ${mode}`);
    }
  };
  walk(Buffer.from(dir), '');
  return lines;
}

export function cleanupDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Runs GNU tar (the host's), throwing with its stderr on failure. */
export function gnuTar(args: string[], cwd?: string): Buffer {
  return execFileSync('tar', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 28 });
}

/**
 * Runs `fn` as an unprivileged user when the tests run as root (root ignores permission bits, so
 * "a 0555 directory can still be removed" proves nothing as root): chowns `dirs` to nobody, then
 * switches the effective uid/gid for the duration of `fn`.
 */
export async function asUnprivileged<T>(dirs: string[], fn: () => Promise<T> | T): Promise<T> {
  if (process.getuid?.() !== 0) return fn();
  for (const d of dirs) execFileSync('chown', ['-R', '65534:65534', d]);
  process.setegid!(65534);
  process.seteuid!(65534);
  try {
    return await fn();
  } finally {
    process.seteuid!(0);
    process.setegid!(0);
  }
}
