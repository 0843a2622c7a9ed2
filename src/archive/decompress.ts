/**
 * Decompression by magic bytes (gzip in-process, xz/zstd/bzip2 through the host tools) and the
 * compressors used by export. Streams only: nothing is written to disk.
 */
import { spawn } from 'node:child_process';
import { Duplex, PassThrough, Readable, type Transform } from 'node:stream';
import { createGunzip, createGzip } from 'node:zlib';
import { CakeError } from '../model/errors.js';

export type Compression = 'gzip' | 'xz' | 'zstd' | 'bzip2' | 'none';

const TOOLS = {
  xz: { cmd: 'xz', pkg: 'xz-utils' },
  zstd: { cmd: 'zstd', pkg: 'zstd' },
  bzip2: { cmd: 'bzip2', pkg: 'bzip2' },
} as const;

/** The compression a stream starts with. */
export function sniffCompression(head: Buffer): Compression {
  const starts = (...bytes: number[]) => head.length >= bytes.length && bytes.every((b, i) => head[i] === b);
  if (starts(0x1f, 0x8b)) return 'gzip';
  if (starts(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) return 'xz';
  if (starts(0x28, 0xb5, 0x2f, 0xfd)) return 'zstd';
  if (starts(0x42, 0x5a, 0x68)) return 'bzip2';
  return 'none';
}

/**
 * Sniffs magic bytes (1f8b gzip, fd377a585a00 xz, 28b52ffd zstd, 425a68 bzip2) and returns a
 * stream of the decompressed bytes. gzip via node:zlib (multi-member files included); xz, zstd
 * and bzip2 by piping through `xz -dc`, `zstd -dc`, `bzip2 -dc` (a missing tool rejects with
 * CakeError 'missing-tool' naming its Debian package). Corrupt data surfaces as a CakeError
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
  while (headLen < 6) {
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
  const child = spawn(tool.cmd, ['-dc'], { stdio: ['pipe', 'pipe', 'pipe'] });
  try {
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
  } catch (err) {
    source.destroy();
    throw missingTool(tool.cmd, tool.pkg, `to decompress ${compression} data`, err);
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

function missingTool(cmd: string, pkg: string, why: string, cause: unknown): CakeError {
  return new CakeError('missing-tool', `${cmd} is needed ${why} but was not found`, {
    cause,
    hint: `install it (Debian/Ubuntu: apt-get install ${pkg})`,
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
