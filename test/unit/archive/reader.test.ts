/**
 * The tar parser on shapes where readers disagree (readers that disagree on a size or a name disagree on where the next header starts) and on
 * malformed input. GNU tar is the reference where it is unambiguous.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { CakeError } from '../../../src/model/errors.js';
import { extractTar } from '../../../src/archive/extract.js';
import { TarReader, type TarEntry } from '../../../src/archive/tar-reader.js';
import { dir, entry, file, gnuLong, gnuTar, header, pad, pax, sandbox, symlink, tar, type Sandbox } from '../../helpers/tar-build.js';

const boxes: Sandbox[] = [];
afterEach(() => {
  while (boxes.length) boxes.pop()!.cleanup();
});
function box(): Sandbox {
  const b = sandbox();
  boxes.push(b);
  return b;
}

/** The entries the parser reports, with their data. */
function parse(data: Buffer): Array<TarEntry & { data: string }> {
  const out: Array<TarEntry & { data: string }> = [];
  const reader = new TarReader((e) => {
    const rec = { ...e, data: '' };
    out.push(rec);
    return {
      write(buf, start, end) {
        rec.data += buf.toString('latin1', start, end);
      },
      end() {},
    };
  });
  reader.write(data);
  reader.end();
  return out;
}

/** Names GNU tar lists for `data` (its -t output). */
function gnuList(b: Sandbox, data: Buffer): string[] {
  const f = join(b.parent, 'list.tar');
  writeFileSync(f, data);
  return gnuTar(['-t', '-f', f]).toString().trim().split('\n');
}

async function rejects(p: Promise<unknown>, code: string, text?: RegExp): Promise<void> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(CakeError);
  expect((err as CakeError).code).toBe(code);
  if (text) expect((err as CakeError).message).toMatch(text);
}

describe('differentials with other readers', () => {
  it('a PAX global path is ignored (it would rename every later entry)', async () => {
    const data = tar(pax([['path', 'global-evil'], ['uid', '7']], 'g'), pax([['mtime', '1']]), file('innocent', 'x'));
    const [e] = parse(data);
    expect(e!.path).toBe('innocent');
    expect(e!.uid).toBe(7); // other global records still apply
    expect(e!.mtime).toBe(1);
  });

  it('hard links and directories carry no data whatever their size says (as GNU tar and Go)', () => {
    const b = box();
    const smuggled = file('smuggled', 'bad');
    for (const type of ['hardlink', 'dir'] as const) {
      const data = tar(file('target', 'ok'), entry({ name: 'x', type, linkname: 'target', size: 512 }), smuggled);
      const names = parse(data).map((e) => e.path);
      expect(names).toEqual(['target', 'x', 'smuggled']);
      expect(gnuList(b, data).map((n) => n.replace(/\/$/, ''))).toEqual(names);
    }
  });

  it.each([['symlink'], ['char'], ['block'], ['fifo']])('a %s with a non-zero size carries no data either (GNU tar, bsdtar, Go)', async (type) => {
    const b = box();
    const data = tar(entry({ name: 'x', type, linkname: 't', size: 1024 }), file('smuggled', 'bad'), file('after', 'ok'));
    const names = parse(data).map((e) => e.path);
    expect(names).toEqual(['x', 'smuggled', 'after']);
    // GNU tar -x and bsdtar (-t and -x) read the next header right after it (GNU tar -t alone skips `size` bytes)
    const f = join(b.parent, 'sized.tar');
    writeFileSync(f, data);
    const out = join(b.parent, 'gnu-x');
    execFileSync('mkdir', [out]);
    gnuTar(['-x', '-f', f, '-C', out]);
    expect(readdirSync(out).sort()).toEqual([...names].sort());
    expect(execFileSync('bsdtar', ['-t', '-f', f]).toString().trim().split('\n')).toEqual(names);
  });

  it('names are bytes: invalid UTF-8 names never collide (ustar, GNU long name, PAX)', async () => {
    const b = box();
    const a = Buffer.from([0x61, 0xe9]);
    const c = Buffer.from([0x61, 0xe8]);
    const l = Buffer.concat([Buffer.from('l'.repeat(110)), Buffer.from([0xff])]);
    const p = Buffer.from([0x70, 0xc3]); // a truncated UTF-8 sequence
    await b.extract(tar(file(a, '1'), file(c, '2'), gnuLong('L', l), file('ignored', '3', { format: 'gnu' }), pax([['hdrcharset', 'BINARY'], ['path', p]]), file('ignored', '4')));
    const names = readdirSync(b.root, { encoding: 'buffer' }).map((n) => n.toString('hex')).sort();
    expect(names).toEqual([a, c, l, p].map((n) => n.toString('hex')).sort());
  });

  it('PAX overrides header fields: size, uid, gid, mtime (fractional), long linkpath', async () => {
    const b = box();
    const target = 't'.repeat(300);
    await b.extract(
      tar(
        pax([['size', '5'], ['uid', '3000000'], ['gid', '4000000'], ['mtime', '1234567890.5']]),
        Buffer.concat([header({ name: 'f', size: 999 }), pad(Buffer.from('hello'))]),
        pax([['linkpath', target]]),
        symlink('s', 'short'),
      ),
    );
    expect(readFileSync(join(b.root, 'f'), 'utf8')).toBe('hello');
    expect(b.ownership['f']).toEqual({ uid: 3000000, gid: 4000000, mode: 0o644 });
    expect(lstatSync(join(b.root, 'f')).mtimeMs).toBe(1234567890500);
    expect(readlinkSync(join(b.root, 's'))).toBe(target);
  });

  it('base-256 numbers (GNU): uid, gid and size', () => {
    const big = (n: number, len: number) => {
      const buf = Buffer.alloc(len);
      buf[0] = 0x80;
      let v = n;
      for (let i = len - 1; i > 0 && v > 0; i--, v = Math.floor(v / 256)) buf[i] = v % 256;
      return buf;
    };
    const h = header({ name: 'f', format: 'gnu', patch: [[108, big(5_000_000, 8)], [116, big(6_000_000, 8)], [124, big(3, 12)]] });
    const [e] = parse(tar(h, pad(Buffer.from('abc'))));
    expect(e).toMatchObject({ uid: 5_000_000, gid: 6_000_000, size: 3, data: 'abc' });
  });

  it('star (131-byte prefix + "tar\\0" trailer) and v7 (no magic, trailing slash = directory)', () => {
    const star = header({ name: 'name', prefix: 'pre', patch: [[508, Buffer.from('tar\u0000', 'latin1')], [476, Buffer.from('12345670123')]] });
    const v7 = header({ name: 'olddir/', format: 'v7', type: '\u0000' });
    const got = parse(tar(star, v7));
    expect(got.map((e) => [e.path, e.type])).toEqual([
      ['pre/name', 'file'],
      ['olddir/', 'dir'],
    ]);
  });

  it('vendor types (A-Z) are skipped with their data; other unknown types are regular files', () => {
    const got = parse(tar(entry({ name: 'acl', type: 'A' }, 'x'.repeat(600)), entry({ name: 'eight', type: '8' }, 'data'), file('last', 'z')));
    expect(got.map((e) => [e.path, e.type, e.data])).toEqual([
      ['eight', 'file', 'data'],
      ['last', 'file', 'z'],
    ]);
  });
});

describe('malformed archives', () => {
  it('a bad checksum: "not a tar archive" first, "checksum mismatch" later', async () => {
    await rejects(box().extract(tar(entry({ name: 'x', badChecksum: true }))), 'bad-archive', /not a tar archive/);
    await rejects(box().extract(tar(file('a', 'a'), entry({ name: 'x', badChecksum: true }))), 'bad-archive', /checksum mismatch/);
    await rejects(box().extract(Buffer.from('just some text that is not a tar archive'.repeat(20))), 'bad-archive');
  });

  it('truncated in data or in a header; extended headers with no member after them are an empty archive (GNU tar)', async () => {
    const whole = tar(file('a', 'x'.repeat(2000)));
    await rejects(box().extract(whole.subarray(0, 1000)), 'bad-archive', /truncated/);
    await rejects(box().extract(whole.subarray(0, 300)), 'bad-archive', /truncated/);
    // GNU tar 1.34 lists these as empty with exit 0 (Go's pax-path-hdr.tar is such a file); bsdtar calls them damaged
    const b = box();
    await b.extract(gnuLong('L', 'long'));
    await b.extract(pax([['path', 'x']]));
    expect(readdirSync(b.root)).toEqual([]);
    await rejects(box().extract(gnuLong('L', 'long').subarray(0, 700)), 'bad-archive', /truncated/);
  });

  it('a missing end-of-archive marker is accepted at an entry boundary', async () => {
    const b = box();
    await b.extract(file('a', 'x'));
    expect(readFileSync(join(b.root, 'a'), 'utf8')).toBe('x');
  });

  it('consumes the whole stream: data after the end marker is drained, not parsed', async () => {
    const b = box();
    let consumed = 0;
    const data = [tar(file('a', 'x')), Buffer.from('garbage after the end'), Buffer.alloc(100_000, 0x41), file('hidden', 'h')];
    async function* gen() {
      for (const d of data) {
        consumed += d.length;
        yield d;
      }
    }
    await extractTar(Readable.from(gen()), { root: b.root, ownership: b.ownership });
    expect(consumed).toBe(data.reduce((n, d) => n + d.length, 0));
    expect(existsSync(join(b.root, 'hidden'))).toBe(false);
  });

  it('refuses oversized extended headers, negative sizes, multi-volume entries, bad sparse maps', async () => {
    await rejects(box().extract(Buffer.concat([header({ name: 'x', type: 'x', size: 64 * 1024 * 1024 })])), 'bad-archive', /too large/);
    const neg = Buffer.alloc(12, 0xff);
    await rejects(box().extract(tar(header({ name: 'x', format: 'gnu', patch: [[124, neg]] }))), 'bad-archive', /negative/);
    await rejects(box().extract(tar(entry({ name: 'x', type: 'M' }))), 'bad-archive', /multi-volume/);
    // old GNU sparse: one segment past the real size
    const seg = Buffer.from('00000000100\u000000000000010\u0000', 'latin1');
    const real = Buffer.from('00000000010\u0000', 'latin1');
    const sparse = header({ name: 's', type: 'S', format: 'gnu', size: 8, patch: [[386, seg], [483, real]] });
    await rejects(box().extract(tar(sparse, pad(Buffer.from('12345678')))), 'bad-archive', /sparse map/);
    await rejects(box().extract(tar(pax([['uid', '12abc']]), file('x'))), 'bad-archive', /not a valid number/);
    await rejects(box().extract(tar(pax([['path', 'a']]).fill(0x41, 512, 514), file('x'))), 'bad-archive', /malformed PAX/);
  });

  it('a symlink with an empty target is refused', async () => {
    await rejects(box().extract(tar(symlink('s', ''))), 'bad-archive', /empty target/);
  });

  it('a file in place of a parent directory is refused', async () => {
    await rejects(box().extract(tar(file('a', 'x'), file('a/b', 'y'))), 'bad-archive', /not a directory/);
  });

  it('an aborted signal stops the extraction with "interrupted"', async () => {
    const b = box();
    const ac = new AbortController();
    async function* slow() {
      yield dir('d');
      ac.abort();
      await new Promise((r) => setTimeout(r, 10));
      yield file('d/f', 'x');
    }
    await rejects(extractTar(Readable.from(slow()), { root: b.root, ownership: {}, signal: ac.signal }), 'interrupted');
  });

  it('reports progress after each entry', async () => {
    const b = box();
    const seen: number[] = [];
    await b.extract(tar(file('a', 'x'), file('b', 'y')), { onEntry: (n) => seen.push(n) });
    expect(seen).toEqual([512, 1536]); // bytes up to and including each entry's header
  });
});
