import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { extract as tarExtract, pack as tarPack } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDeb } from '../../../src/debian/deb-file.js';
import { CakeError } from '../../../src/model/errors.js';

let dir = '';

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cake-deb-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Builds a tiny package tree and runs `dpkg-deb --build -Z<comp>` on it. */
function buildDeb(comp: 'gzip' | 'xz' | 'zstd' | 'none'): string {
  const root = join(dir, `pkg-${comp}`);
  mkdirSync(join(root, 'DEBIAN'), { recursive: true });
  mkdirSync(join(root, 'usr/share/hello'), { recursive: true });
  writeFileSync(
    join(root, 'DEBIAN/control'),
    `Package: hello-${comp}\nVersion: 1.0-1\nArchitecture: all\nMaintainer: cake <cake@example.org>\nDescription: test package\n multi-line\n .\n description\n`,
  );
  writeFileSync(join(root, 'DEBIAN/postinst'), '#!/bin/sh\nset -e\necho configured\n');
  chmodSync(join(root, 'DEBIAN/postinst'), 0o755);
  writeFileSync(join(root, 'DEBIAN/conffiles'), '/etc/hello.conf\n');
  writeFileSync(join(root, 'DEBIAN/md5sums'), '0123456789abcdef0123456789abcdef  usr/share/hello/data.txt\n');
  mkdirSync(join(root, 'etc'), { recursive: true });
  writeFileSync(join(root, 'etc/hello.conf'), 'greeting=hi\n');
  writeFileSync(join(root, 'usr/share/hello/data.txt'), 'x'.repeat(10_000));
  const out = join(dir, `hello-${comp}.deb`);
  execFileSync('dpkg-deb', ['--root-owner-group', `-Z${comp}`, '--build', root, out], { stdio: 'pipe' });
  return out;
}

async function tarNames(stream: Readable): Promise<Map<string, number>> {
  const names = new Map<string, number>();
  const ex = tarExtract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (h, body, next) => {
      names.set(h.name, h.size ?? 0);
      body.on('end', next);
      body.resume();
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
    stream.on('error', reject);
  });
  stream.pipe(ex);
  await done;
  return names;
}

/** An ar archive from (name, content) pairs, GNU style names ("name/"), even padding. */
function ar(members: Array<[string, Buffer | string]>): Buffer {
  const parts: Buffer[] = [Buffer.from('!<arch>\n')];
  for (const [name, content] of members) {
    const data = Buffer.from(content);
    const h = `${`${name}/`.padEnd(16)}${'0'.padEnd(12)}${'0'.padEnd(6)}${'0'.padEnd(6)}${'100644'.padEnd(8)}${String(data.length).padEnd(10)}\`\n`;
    parts.push(Buffer.from(h, 'latin1'), data);
    if (data.length % 2) parts.push(Buffer.from('\n'));
  }
  return Buffer.concat(parts);
}

async function tarGz(files: Record<string, string>): Promise<Buffer> {
  const p = tarPack();
  for (const [name, content] of Object.entries(files)) p.entry({ name, mode: 0o644 }, content);
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p) chunks.push(c as Buffer);
  return gzipSync(Buffer.concat(chunks));
}

async function badArchive(bytes: Buffer, name: string): Promise<CakeError> {
  const file = join(dir, name);
  writeFileSync(file, bytes);
  try {
    await openDeb(file);
  } catch (err) {
    expect(err).toBeInstanceOf(CakeError);
    expect((err as CakeError).code).toBe('bad-archive');
    expect((err as CakeError).message).toContain(file);
    return err as CakeError;
  }
  throw new Error(`${name} was accepted`);
}

describe('openDeb on packages built by dpkg-deb', () => {
  for (const comp of ['gzip', 'xz', 'zstd', 'none'] as const) {
    it(`reads a ${comp} .deb: control, control files and the data stream`, async () => {
      const deb = await openDeb(buildDeb(comp));
      expect(deb.control['package']).toBe(`hello-${comp}`);
      expect(deb.control['version']).toBe('1.0-1');
      expect(deb.control['description']).toBe('test package\nmulti-line\n.\ndescription');
      expect([...deb.controlFiles.keys()].sort()).toEqual(['conffiles', 'control', 'md5sums', 'postinst']);
      expect(deb.controlFiles.get('postinst')?.toString()).toContain('echo configured');
      expect(deb.controlFiles.get('md5sums')?.toString()).toContain('usr/share/hello/data.txt');
      expect(deb.dataMember.name).toBe(comp === 'none' ? 'data.tar' : `data.tar.${{ gzip: 'gz', xz: 'xz', zstd: 'zst' }[comp]}`);
      expect(deb.dataMember.compression).toBe(comp);
      const names = await tarNames(await deb.dataStream());
      expect(names.get('./usr/share/hello/data.txt')).toBe(10_000);
      expect(names.has('./etc/hello.conf')).toBe(true);
      // A second stream starts from the beginning again.
      expect((await tarNames(await deb.dataStream())).size).toBe(names.size);
    });
  }

  it('agrees with dpkg-deb --field and --contents', async () => {
    const file = join(dir, 'hello-xz.deb');
    const deb = await openDeb(file);
    expect(execFileSync('dpkg-deb', ['--field', file, 'Package']).toString().trim()).toBe(deb.control['package']);
    const listed = execFileSync('dpkg-deb', ['--contents', file]).toString().trim().split('\n').length;
    expect((await tarNames(await deb.dataStream())).size).toBe(listed);
  });

  it('skips control.tar when asked (data only), still checking the structure', async () => {
    const deb = await openDeb(join(dir, 'hello-xz.deb'), { control: false });
    expect(deb.control).toEqual({});
    expect(deb.controlFiles.size).toBe(0);
    expect(deb.dataMember.compression).toBe('xz');
    expect((await tarNames(await deb.dataStream())).has('./etc/hello.conf')).toBe(true);
    const notDeb = join(dir, 'not-a-deb');
    writeFileSync(notDeb, 'hello');
    await expect(openDeb(notDeb, { control: false })).rejects.toThrow(/no ar magic/);
  });
});

describe('openDeb on hand-made ar files', () => {
  it('ignores _ members and trailing members, accepts 2.x', async () => {
    const control = await tarGz({ './control': 'Package: p\nVersion: 1\n', './postrm': '#!/bin/sh\n' });
    const data = await tarGz({ './a': 'hello' });
    const file = join(dir, 'ok.deb');
    writeFileSync(
      file,
      ar([
        ['debian-binary', '2.1\n'],
        ['_gpgorigin', 'sig'],
        ['control.tar.gz', control],
        ['_extra', 'x'],
        ['data.tar.gz', data],
        ['trailing', 'ignored'],
      ]),
    );
    const deb = await openDeb(file);
    expect(deb.control['package']).toBe('p');
    expect(deb.controlFiles.get('postrm')?.toString()).toBe('#!/bin/sh\n');
    expect([...(await tarNames(await deb.dataStream())).keys()]).toEqual(['./a']);
    expect(deb.dataMember.offset % 2).toBe(0);
  });

  it('rejects bad magic, truncated headers and members past EOF', async () => {
    const good = readFileSync(join(dir, 'hello-gzip.deb'));
    expect((await badArchive(Buffer.from('<arch>!\nrest'), 'magic.deb')).message).toContain('ar magic');
    expect((await badArchive(Buffer.alloc(0), 'empty.deb')).message).toContain('ar magic');
    expect((await badArchive(good.subarray(0, 8 + 30), 'trunc-header.deb')).message).toContain('truncated ar header');
    expect((await badArchive(good.subarray(0, good.length - 100), 'trunc-data.deb')).message).toContain('runs past the end');
    const huge = ar([['debian-binary', '2.0\n']]);
    huge.write('99999999  ', 8 + 48, 'latin1');
    expect((await badArchive(huge, 'huge.deb')).message).toContain('runs past the end');
    const noFmag = Buffer.from(good);
    noFmag[8 + 58] = 0x20;
    expect((await badArchive(noFmag, 'fmag.deb')).message).toContain('bad ar header');
  });

  it('rejects a wrong member order, version or content', async () => {
    const control = await tarGz({ './control': 'Package: p\nVersion: 1\n' });
    const data = await tarGz({ './a': 'x' });
    const cases: Array<[string, Array<[string, Buffer | string]>, string]> = [
      ['order.deb', [['control.tar.gz', control], ['debian-binary', '2.0\n'], ['data.tar.gz', data]], "expected 'debian-binary'"],
      ['v3.deb', [['debian-binary', '3.0\n'], ['control.tar.gz', control], ['data.tar.gz', data]], 'unsupported format version'],
      ['nodata.deb', [['debian-binary', '2.0\n'], ['control.tar.gz', control]], 'expected data.tar'],
      ['noctl.deb', [['debian-binary', '2.0\n'], ['data.tar.gz', data]], 'expected control.tar'],
      ['odd.deb', [['debian-binary', '2.0\n'], ['evil', 'x'], ['data.tar.gz', data]], "unexpected member 'evil'"],
      ['lzma.deb', [['debian-binary', '2.0\n'], ['control.tar.gz', control], ['data.tar.lzma', data]], 'unsupported compression'],
      ['badctl.deb', [['debian-binary', '2.0\n'], ['control.tar.gz', 'not a tar'], ['data.tar.gz', data]], 'control.tar'],
      [
        'nocontrol.deb',
        [['debian-binary', '2.0\n'], ['control.tar.gz', await tarGz({ './postinst': 'x' })], ['data.tar.gz', data]],
        'no control file',
      ],
      [
        'nopkg.deb',
        [['debian-binary', '2.0\n'], ['control.tar.gz', await tarGz({ './control': 'Version: 1\n' })], ['data.tar.gz', data]],
        'Package field',
      ],
    ];
    for (const [name, members, why] of cases) {
      expect((await badArchive(ar(members), name)).message).toContain(why);
    }
  });

  it('reports a corrupt data member as a stream error', async () => {
    const control = await tarGz({ './control': 'Package: p\nVersion: 1\n' });
    const data = await tarGz({ './a': 'x'.repeat(5000) });
    data[data.length - 6] = (data[data.length - 6] ?? 0) ^ 0xff; // break the gzip CRC
    const file = join(dir, 'corrupt-data.deb');
    writeFileSync(file, ar([['debian-binary', '2.0\n'], ['control.tar.gz', control], ['data.tar.gz', data]]));
    const deb = await openDeb(file);
    await expect(tarNames(await deb.dataStream())).rejects.toThrow();
  });
});
