/**
 * Decompression by magic bytes (gzip in-process, xz/zstd/bzip2 through the host tools) and the
 * compressors used by export. Streams only: nothing is written to disk.
 */
import { spawn } from 'node:child_process';
import { Duplex, PassThrough, Readable, type Transform } from 'node:stream';
import { createGunzip, createGzip } from 'node:zlib';
import { CakeError } from '../model/errors.js';

export type Compression = 'gzip' | 'xz' | 'zstd' | 'bzip2' | 'compress' | 'lzip' | 'lzma' | 'lzop' | 'lz4' | 'none';

/** The host tool (and its Debian package) that decompresses each format cake does not do in-process. */
const TOOLS = {
  xz: { cmd: 'xz', args: ['-dc'], pkg: 'xz-utils' },
  zstd: { cmd: 'zstd', args: ['-dc'], pkg: 'zstd' },
  bzip2: { cmd: 'bzip2', args: ['-dc'], pkg: 'bzip2' },
  // gzip reads compress(1)'s .Z format too: no ncompress needed
  compress: { cmd: 'gzip', args: ['-dc'], pkg: 'gzip' },
  lzip: { cmd: 'lzip', args: ['-dc'], pkg: 'lzip' },
  lzma: { cmd: 'xz', args: ['--format=lzma', '-dc'], pkg: 'xz-utils' },
  lzop: { cmd: 'lzop', args: ['-dc'], pkg: 'lzop' },
  lz4: { cmd: 'lz4', args: ['-dc'], pkg: 'lz4' },
} as const;

/** The compression a stream starts with (by magic bytes; at least 13 bytes of head for lzma). */
export function sniffCompression(head: Buffer): Compression {
  const starts = (...bytes: number[]) => head.length >= bytes.length && bytes.every((b, i) => head[i] === b);
  if (starts(0x1f, 0x8b)) return 'gzip';
  if (starts(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) return 'xz';
  if (starts(0x28, 0xb5, 0x2f, 0xfd)) return 'zstd';
  if (starts(0x42, 0x5a, 0x68)) return 'bzip2';
  if (starts(0x1f, 0x9d)) return 'compress';
  if (starts(0x4c, 0x5a, 0x49, 0x50)) return 'lzip'; // "LZIP"
  if (starts(0x89, 0x4c, 0x5a, 0x4f, 0x00, 0x0d, 0x0a, 0x1a, 0x0a)) return 'lzop';
  if (starts(0x04, 0x22, 0x4d, 0x18)) return 'lz4';
  if (isLzmaAlone(head)) return 'lzma';
  return 'none';
}

/**
 * The .lzma ("LZMA alone") header has no magic: properties byte (lc/lp/pb, < 225; 0x5d in
 * practice), a little-endian dictionary size, an 8-byte size (all ones when unknown). Checked the
 * way file(1) and libarchive do: 0x5d 00 00, a power-of-two-ish dictionary, a plausible size.
 */
function isLzmaAlone(head: Buffer): boolean {
  if (head.length < 13 || head[0] !== 0x5d || head[1] !== 0x00 || head[2] !== 0x00) return false;
  const dict = head.readUInt32LE(1);
  if (dict < 1 << 12 || dict > 1 << 30) return false;
  const unknown = head.subarray(5, 13).every((b) => b === 0xff);
  return unknown || head.readUInt32LE(9) === 0; // a known size below 4 GiB: the high half is zero
}

/** Formats that are archives but not tar: named in the refusal, with what to do instead. */
function otherFormat(head: Buffer): { what: string; hint: string } | undefined {
  const text = head.toString('latin1', 0, Math.min(head.length, 8));
  const unpackThenTar = 'cake reads tar archives (plain or compressed): unpack it and pack the tree as a tar, e.g. `tar -C DIR -cf rootfs.tar .`';
  if (text.startsWith('!<arch>\n')) {
    return { what: 'an ar archive (a Debian .deb package?)', hint: 'a .deb holds its files in data.tar.*: `ar x FILE` and pull that data.tar, or pull a Debian release (`cake pull debian --packages ...`)' };
  }
  if (text.startsWith('PK\u0003\u0004') || text.startsWith('PK\u0005\u0006')) return { what: 'a zip archive', hint: unpackThenTar };
  if (text.startsWith("7z\u00bc\u00af'\u001c")) return { what: 'a 7-Zip archive', hint: unpackThenTar };
  if (text.startsWith('Rar!')) return { what: 'a RAR archive', hint: unpackThenTar };
  if (text.startsWith('070707') || text.startsWith('070701') || text.startsWith('070702') || (head[0] === 0xc7 && head[1] === 0x71)) return { what: 'a cpio archive', hint: unpackThenTar };
  if (text.startsWith('\u00ed\u00ab\u00ee\u00db')) return { what: 'an RPM package', hint: 'unpack it with `rpm2cpio FILE | cpio -idm` and pack the tree as a tar' };
  return undefined;
}

/**
 * Throws 'bad-archive' when `head` (the start of a decompressed stream) is a known archive format
 * that is not tar; returns quietly otherwise (the tar reader judges the rest).
 */
export function refuseOtherFormats(head: Buffer): void {
  const other = otherFormat(head);
  if (other) throw new CakeError('bad-archive', `this is ${other.what}, not a tar archive`, { hint: other.hint });
}

/**
 * Sniffs magic bytes (gzip, xz, zstd, bzip2, compress .Z, lzip, lzma, lzop, lz4; see
 * {@link sniffCompression}) and returns a stream of the decompressed bytes. gzip via node:zlib
 * (multi-member files included); the others by piping through their host tool (`xz -dc`,
 * `zstd -dc`, `bzip2 -dc`, `gzip -dc` for .Z, `lzip -dc`, `xz --format=lzma -dc`, `lzop -dc`,
 * `lz4 -dc`; a missing tool rejects with CakeError 'missing-tool' naming its Debian package and
 * saying to decompress the file first). Uncompressed input that is a zip, 7z, RAR, cpio, RPM or ar
 * (.deb) archive rejects with 'bad-archive' naming the format. Corrupt data surfaces as a CakeError
 * 'bad-archive' error on the returned stream; an error of `input` itself is passed on unchanged.
 *
 * `input` is read to its end. Destroying the returned stream stops the work (kills the child) and
 * destroys `input` (so a download stops); the caller still owns `input`'s own error handling.
 */
export async function decompress(
  input: NodeJS.ReadableStream | Readable,
): Promise<{ stream: Readable; compression: Compression }> {
  const readable = input instanceof Readable ? input : new Readable().wrap(input);
  const it = readable[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  const head: Buffer[] = [];
  let headLen = 0;
  let done = false;
  while (headLen < 13) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    const b = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
    head.push(b);
    headLen += b.length;
  }
  const first = Buffer.concat(head);
  const compression = sniffCompression(first);
  async function* rest(): AsyncGenerator<Buffer> {
    try {
      if (first.length > 0) yield first;
      while (!done) {
        const r = await it.next();
        if (r.done) return;
        yield typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
      }
    } finally {
      await it.return?.();
    }
  }
  const source = Readable.from(rest(), { objectMode: false });
  // room for the decompressor to run ahead while the consumer writes files
  const out = new PassThrough({ highWaterMark: 1 << 22 });
  // input errors pass through as they are; destroying `out` early stops everything upstream
  source.once('error', (err) => out.destroy(err));
  out.once('close', () => {
    if (!source.readableEnded) source.destroy();
  });

  if (compression === 'none') {
    refuseOtherFormats(first);
    source.pipe(out);
    return { stream: out, compression };
  }
  if (compression === 'gzip') {
    const gunzip = createGunzip({ chunkSize: 1 << 18 });
    gunzip.once('error', (err) => {
      out.destroy(corrupt('gzip', err));
      source.destroy();
    });
    source.once('error', () => gunzip.destroy());
    out.once('close', () => gunzip.destroy());
    source.pipe(gunzip).pipe(out);
    return { stream: out, compression };
  }

  const tool = TOOLS[compression];
  const child = spawn(tool.cmd, [...tool.args], { stdio: ['pipe', 'pipe', 'pipe'] });
  try {
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
  } catch (err) {
    source.destroy();
    throw missingTool(tool.cmd, tool.pkg, `to decompress ${compression} data`, err, `or decompress the file first (\`${tool.cmd} ${tool.args.join(' ')} FILE > FILE.tar\`) and pull the result`);
  }
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    if (stderr.length < 2000) stderr += d.toString();
  });
  child.stdin.on('error', () => {}); // EPIPE when the tool dies first: its exit status says why
  source.once('error', () => child.kill());
  source.pipe(child.stdin);
  child.stdout.pipe(out, { end: false });
  child.once('close', (code, sig) => {
    if (out.destroyed) return;
    if (code === 0) out.end();
    else out.destroy(corrupt(compression, new Error(stderr.trim() || `${tool.cmd} exited with ${code ?? sig}`)));
  });
  out.once('close', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill();
  });
  return { stream: out, compression };
}

function corrupt(kind: string, cause: unknown): CakeError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new CakeError('bad-archive', `corrupt ${kind} data: ${detail}`, {
    cause,
    hint: 'the file is damaged or truncated; download it again',
  });
}

function missingTool(cmd: string, pkg: string, why: string, cause: unknown, orElse?: string): CakeError {
  return new CakeError('missing-tool', `${cmd} is needed ${why} but was not found`, {
    cause,
    hint: `install it (Debian/Ubuntu: apt-get install ${pkg})${orElse ? `, ${orElse}` : ''}`,
  });
}

/**
 * A compressor for export: gzip (node:zlib, level 6, deterministic: no name or time in the
 * header), zstd (the host's `zstd -q -c`, level 3) or none (a pass-through). The caller pipes into
 * it and ends it; a missing zstd or a failing one surfaces as an error on the returned stream.
 */
export function compressStream(kind: 'gzip' | 'zstd' | 'xz' | 'none'): Transform | Duplex {
  if (kind === 'none') return new PassThrough();
  if (kind === 'gzip') return createGzip({ level: 6, chunkSize: 1 << 16 });
  const tool = kind === 'xz' ? { bin: 'xz', pkg: 'xz-utils', args: ['-q', '-c', '-6', '-T0'] } : { bin: 'zstd', pkg: 'zstd', args: ['-q', '-c', '-3'] };
  const child = spawn(tool.bin, tool.args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const duplex = Duplex.from({ writable: child.stdin, readable: child.stdout });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    if (stderr.length < 2000) stderr += d.toString();
  });
  child.once('error', (err) => duplex.destroy(missingTool(tool.bin, tool.pkg, `to compress with ${tool.bin}`, err)));
  child.once('close', (code, sig) => {
    if (code !== 0 && !duplex.destroyed) {
      duplex.destroy(new CakeError('io', `${tool.bin} failed: ${stderr.trim() || `exit ${code ?? sig}`}`));
    }
  });
  duplex.once('close', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill();
  });
  return duplex;
}
