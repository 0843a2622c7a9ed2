/**
 * A reader of binary packages (.deb): an ar archive holding `debian-binary` (format 2.x),
 * `control.tar[.gz|.xz|.zst]` and `data.tar[.gz|.xz|.zst|.bz2]`, in that order; members whose name
 * starts with `_` are ignored (as dpkg does). The control member is read into memory (it is
 * small, and capped); the data member is streamed from its offset in the file, never copied.
 */
import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { decompress } from '../archive/decompress.js';
import { TarReader, type EntrySink, type TarEntry } from '../archive/tar-reader.js';
import { CakeError } from '../model/errors.js';
import { parseStanzas } from './deb822.js';

export type MemberCompression = 'gzip' | 'xz' | 'zstd' | 'bzip2' | 'none';

export interface DebMember {
  name: string;
  /** Byte offset of the member's data in the .deb. */
  offset: number;
  size: number;
  compression: MemberCompression;
}

export interface DebFile {
  /** The control file's fields, keys lowercased (deb822.ts rules): `control['package']`. */
  control: Record<string, string>;
  /** Every regular file of control.tar by bare name: control, md5sums, conffiles, postinst, … */
  controlFiles: Map<string, Buffer>;
  /**
   * A fresh, decompressed data.tar stream on each call. The caller consumes or destroys it;
   * errors (truncation, corrupt compression) arrive as stream errors.
   */
  dataStream(opts?: { signal?: AbortSignal }): Promise<Readable>;
  dataMember: DebMember;
}

const MAGIC = '!<arch>\n';
const HEADER = 60;
/** Compressed and uncompressed caps for control.tar (real ones are a few KiB to a few MiB). */
const MAX_CONTROL_MEMBER = 64 * 1024 * 1024;
const MAX_CONTROL_TAR = 256 * 1024 * 1024;

const SUFFIX: Record<string, MemberCompression> = { '': 'none', '.gz': 'gzip', '.xz': 'xz', '.zst': 'zstd', '.bz2': 'bzip2' };

export interface OpenDebOptions {
  /**
   * Read and decompress control.tar (default true). With false only the structure is checked and
   * `control` and `controlFiles` are empty: for callers that only extract data.tar (decompressing
   * control.tar.xz costs an xz process per package).
   */
  control?: boolean;
}

/**
 * Opens the .deb at `path`, checks its structure and reads its control member (unless
 * `o.control` is false). Throws CakeError('bad-archive') naming the file and the defect for
 * anything malformed.
 */
export async function openDeb(path: string, o: OpenDebOptions = {}): Promise<DebFile> {
  const bad = (why: string, cause?: unknown): CakeError =>
    new CakeError('bad-archive', `${path}: not a valid .deb: ${why}`, {
      cause,
      hint: 'the file is damaged or not a Debian binary package; delete it from the store and fetch it again',
    });
  const fh = await open(path, 'r');
  try {
    const members = await readMembers(fh, path, bad);
    const [first, control, data] = members;
    if (first === undefined) throw bad("no members (expected 'debian-binary')");
    const version = (await readAt(fh, first.offset, Math.min(first.size, 64))).toString('latin1');
    if (!/^2\.\d+\n/.test(version)) throw bad(`unsupported format version '${version.trim().slice(0, 20)}' (expected 2.x)`);
    if (control === undefined || !control.name.startsWith('control.tar')) {
      throw bad(`second member is '${control?.name ?? '(none)'}', expected control.tar`);
    }
    if (data === undefined || !data.name.startsWith('data.tar')) throw bad(`third member is '${data?.name ?? '(none)'}', expected data.tar`);
    if (control.size > MAX_CONTROL_MEMBER) throw bad(`control member of ${control.size} bytes is too large`);
    const dataStream = async (opts: { signal?: AbortSignal } = {}): Promise<Readable> => {
      if (data.size === 0) throw bad('data member is empty');
      const raw = createReadStream(path, { start: data.offset, end: data.offset + data.size - 1, signal: opts.signal });
      return (await decompress(raw)).stream;
    };
    if (o.control === false) return { control: {}, controlFiles: new Map(), dataMember: data, dataStream };
    const controlTar = await readAt(fh, control.offset, control.size);
    const controlFiles = await readControlTar(controlTar, bad);
    const controlText = controlFiles.get('control');
    if (controlText === undefined) throw bad('control.tar has no control file');
    let stanzas;
    try {
      stanzas = parseStanzas(controlText.toString('utf8'));
    } catch (err) {
      throw bad(`control file: ${(err as Error).message}`, err);
    }
    const fields = stanzas[0];
    if (stanzas.length !== 1 || fields === undefined || fields['package'] === undefined) {
      throw bad('control file is not one stanza with a Package field');
    }
    return {
      control: fields,
      controlFiles,
      dataMember: data,
      dataStream,
    };
  } finally {
    await fh.close();
  }
}

/**
 * The ar members up to and including the first `data.tar*` (later ones are ignored, as by
 * dpkg), skipping `_`-prefixed ones.
 */
async function readMembers(fh: FileHandle, path: string, bad: (why: string) => CakeError): Promise<DebMember[]> {
  const fileSize = (await fh.stat()).size;
  if (fileSize < MAGIC.length || (await readAt(fh, 0, MAGIC.length)).toString('latin1') !== MAGIC) {
    throw bad("no ar magic '!<arch>\\n' at the start");
  }
  const members: DebMember[] = [];
  let pos = MAGIC.length;
  while (pos < fileSize) {
    if (pos + HEADER > fileSize) throw bad(`truncated ar header at offset ${pos}`);
    const h = await readAt(fh, pos, HEADER);
    if (h[58] !== 0x60 || h[59] !== 0x0a) throw bad(`bad ar header at offset ${pos} (no terminator)`);
    const rawName = h.subarray(0, 16).toString('latin1').trimEnd();
    const name = rawName.endsWith('/') ? rawName.slice(0, -1) : rawName;
    const sizeText = h.subarray(48, 58).toString('latin1').trim();
    if (!/^\d+$/.test(sizeText)) throw bad(`bad size '${sizeText}' in the ar header of '${name}' at offset ${pos}`);
    const size = Number(sizeText);
    const offset = pos + HEADER;
    if (offset + size > fileSize) {
      throw bad(`member '${name}' of ${size} bytes runs past the end of the file (${fileSize} bytes)`);
    }
    if (name === '' || name.includes('/')) throw bad(`unsupported member name '${rawName}' at offset ${pos}`);
    if (members.length === 0 && name !== 'debian-binary') throw bad(`first member is '${name}', expected 'debian-binary'`);
    if (!name.startsWith('_')) {
      const isTar = name.startsWith('control.tar') || name.startsWith('data.tar');
      if (members.length > 0 && !isTar) throw bad(`unexpected member '${name}'`);
      const compression = isTar ? SUFFIX[name.replace(/^(control|data)\.tar/, '')] : 'none';
      if (compression === undefined) throw bad(`member '${name}' has an unsupported compression`);
      members.push({ name, offset, size, compression });
      if (name.startsWith('data.tar')) return members;
    }
    pos = offset + size + (size % 2);
  }
  return members;
}

async function readAt(fh: FileHandle, offset: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, offset + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done === length ? buf : buf.subarray(0, done);
}

/** Regular files of the control tarball by bare name ("./postinst" → "postinst"). */
async function readControlTar(member: Buffer, bad: (why: string, cause?: unknown) => CakeError): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  let total = 0;
  try {
    const { stream } = await decompress(Readable.from([member]));
    // cake's own tar reader (archive/tar-reader.ts), the one every archive goes through
    const reader = new TarReader((e: TarEntry): EntrySink | null => {
      if (e.type !== 'file') return null;
      total += e.size;
      if (total > MAX_CONTROL_TAR) throw new Error(`control.tar is larger than ${MAX_CONTROL_TAR} bytes`);
      const name = Buffer.from(e.path, 'latin1').toString('utf8').replace(/^(\.\/)+/, '').replace(/\/+$/, '');
      const buf = Buffer.alloc(e.size);
      return {
        write: (b, start, end, pos) => void b.copy(buf, pos, start, end),
        end: () => {
          if (name !== '' && !name.includes('/')) files.set(name, buf);
        },
      };
    });
    for await (const chunk of stream) reader.write(chunk as Buffer);
    reader.end();
  } catch (err) {
    throw bad(`unreadable control.tar: ${(err as Error).message}`, err);
  }
  return files;
}
