/** Decompression by magic bytes through zlib and the host tools, and the export compressors. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { afterEach, describe, expect, it } from 'vitest';
import { CakeError } from '../../../src/model/errors.js';
import { compressStream, decompress, sniffCompression } from '../../../src/archive/decompress.js';
import { extractTar } from '../../../src/archive/extract.js';
import { dir, file, sandbox, tar, type Sandbox } from '../../helpers/tar-build.js';

const boxes: Sandbox[] = [];
afterEach(() => {
  while (boxes.length) boxes.pop()!.cleanup();
});

const archive = tar(dir('etc'), file('etc/hostname', 'cake\n'), file('big', Buffer.alloc(300_000, 0x5a)));

function compress(cmd: string, args: string[], data: Buffer): Buffer {
  return execFileSync(cmd, args, { input: data, maxBuffer: 1 << 26 });
}

/** Chunks of `size` bytes, so the magic bytes may be split across chunks. */
function chunked(data: Buffer, size: number): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) parts.push(data.subarray(i, i + size));
  return Readable.from(parts);
}

describe('decompress', () => {
  it.each([
    ['gzip', ['gzip', ['-c']]],
    ['xz', ['xz', ['-c']]],
    ['zstd', ['zstd', ['-q', '-c']]],
    ['bzip2', ['bzip2', ['-c']]],
    // issue 15 item 16: formats found in real corpora (compress .Z, lzip, lzop, lzma), and lz4
    ['compress', ['compress', ['-c']]],
    ['lzip', ['lzip', ['-c']]],
    ['lzop', ['lzop', ['-c']]],
    ['lzma', ['xz', ['--format=lzma', '-c']]],
    ['lz4', ['lz4', ['-c']]],
    ['none', null],
  ] as const)('%s: sniffed and decompressed, then extracted', async (kind, tool) => {
    const data = tool ? compress(tool[0], [...tool[1]], archive) : archive;
    const { stream, compression } = await decompress(chunked(data, 3));
    expect(compression).toBe(kind);
    const b = sandbox();
    boxes.push(b);
    await extractTar(stream, { root: b.root, ownership: b.ownership });
    expect(readFileSync(join(b.root, 'etc/hostname'), 'utf8')).toBe('cake\n');
    expect(readFileSync(join(b.root, 'big')).equals(Buffer.alloc(300_000, 0x5a))).toBe(true);
  });

  it.each([
    ['a zip archive', Buffer.from('PK\u0003\u0004\u0014\u0000\u0000\u0000\u0008\u0000rest-of-zip', 'latin1'), /unpack it/],
    ['an ar archive (a Debian .deb package?)', Buffer.from('!<arch>\ndebian-binary   0           0     0     100644  4         `\n', 'latin1'), /data\.tar/],
    ['a 7-Zip archive', Buffer.from("7z\u00bc\u00af'\u001c\u0000\u0004rest-of-7z", 'latin1'), /unpack it/],
  ])('%s is refused by name, with what to do', async (what, data, hint) => {
    const err = await decompress(Readable.from([data])).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(CakeError);
    expect((err as CakeError).code).toBe('bad-archive');
    expect((err as CakeError).message).toBe(`this is ${what}, not a tar archive`);
    expect((err as CakeError).hint).toMatch(hint);
  });

  it('multi-member gzip (concatenated .gz files) is read whole', async () => {
    const data = Buffer.concat([compress('gzip', ['-c'], archive.subarray(0, 1024)), compress('gzip', ['-c'], archive.subarray(1024))]);
    const { stream } = await decompress(Readable.from([data]));
    expect((await buffer(stream)).equals(archive)).toBe(true);
  });

  it.each([
    ['gzip', ['gzip', ['-c']]],
    ['xz', ['xz', ['-c']]],
    ['zstd', ['zstd', ['-q', '-c']]],
  ] as const)('corrupt %s surfaces as bad-archive from the extraction', async (_kind, tool) => {
    const data = Buffer.from(compress(tool[0], [...tool[1]], archive));
    for (let i = 20; i < data.length - 20; i += 97) data[i] = data[i]! ^ 0x55;
    const { stream } = await decompress(Readable.from([data]));
    const b = sandbox();
    boxes.push(b);
    const err = await extractTar(stream, { root: b.root, ownership: b.ownership }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(CakeError);
    expect((err as CakeError).code).toBe('bad-archive');
  });

  it('truncated gzip is bad-archive', async () => {
    const data = compress('gzip', ['-c'], archive);
    const { stream } = await decompress(Readable.from([data.subarray(0, data.length - 30)]));
    const err = await buffer(stream).then(() => null, (e: unknown) => e);
    expect((err as CakeError).code).toBe('bad-archive');
  });

  it('an error of the input itself is passed on unchanged', async () => {
    const input = new PassThrough();
    const gz = compress('gzip', ['-c'], archive);
    input.write(gz.subarray(0, 100));
    const { stream } = await decompress(input);
    const boom = new Error('network went away');
    setTimeout(() => input.destroy(boom), 10);
    await expect(buffer(stream)).rejects.toBe(boom);
  });

  it('an empty input is an empty uncompressed stream', async () => {
    const { stream, compression } = await decompress(Readable.from([]));
    expect(compression).toBe('none');
    expect((await buffer(stream)).length).toBe(0);
  });

  it('a missing tool is missing-tool naming the Debian package', async () => {
    const path = process.env.PATH;
    const xz = compress('xz', ['-c'], archive);
    process.env.PATH = '/nonexistent';
    try {
      const err = await decompress(Readable.from([xz])).then(() => null, (e: unknown) => e);
      expect((err as CakeError).code).toBe('missing-tool');
      expect((err as CakeError).hint).toContain('xz-utils');
    } finally {
      process.env.PATH = path;
    }
  });

  it('sniffs magic bytes', () => {
    expect(sniffCompression(Buffer.from([0x1f, 0x8b, 8]))).toBe('gzip');
    expect(sniffCompression(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))).toBe('xz');
    expect(sniffCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))).toBe('zstd');
    expect(sniffCompression(Buffer.from('BZh9'))).toBe('bzip2');
    expect(sniffCompression(Buffer.from('ustar'))).toBe('none');
    expect(sniffCompression(Buffer.from([0x1f]))).toBe('none');
  });
});

describe('compressStream', () => {
  it.each([['gzip'], ['zstd'], ['none']] as const)('%s round-trips through decompress', async (kind) => {
    const c = compressStream(kind);
    const out = buffer(c);
    c.end(archive);
    const packed = await out;
    const { stream, compression } = await decompress(Readable.from([packed]));
    expect(compression).toBe(kind);
    expect((await buffer(stream)).equals(archive)).toBe(true);
  });

  it('gzip output is deterministic', async () => {
    const run = async () => {
      const c = compressStream('gzip');
      const out = buffer(c);
      c.end(archive);
      return out;
    };
    expect((await run()).equals(await run())).toBe(true);
  });
});
