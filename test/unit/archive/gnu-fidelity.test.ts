/**
 * Dialects and parser differentials of issue 15 items 18-20, each decided by what GNU tar 1.34 and
 * bsdtar 3.6 do with the same bytes: every case extracts with all three and compares names,
 * contents and mtimes (and the recorded uid where the case is about ids).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CakeError } from '../../../src/model/errors.js';
import { getOwner } from '../../../src/model/ownership.js';
import { dir, entry, file, header, pad, pax, sandbox, tar, type Sandbox } from '../../helpers/tar-build.js';

const boxes: Sandbox[] = [];
afterEach(() => {
  while (boxes.length) boxes.pop()!.cleanup();
});
function box(): Sandbox {
  const b = sandbox();
  boxes.push(b);
  return b;
}

/** "name size mtime" for every regular file and directory under `root`, sorted. */
function tree(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n);
      const st = lstatSync(p);
      const r = rel ? `${rel}/${n}` : n;
      out.push(`${r} ${st.isDirectory() ? 'dir' : st.size} ${Math.floor(st.mtimeMs / 1000)}`);
      if (st.isDirectory()) walk(p, r);
    }
  };
  walk(root, '');
  return out;
}

/** Extracts `data` with cake, GNU tar and bsdtar; returns the three trees. */
async function threeWays(data: Buffer): Promise<{ cake: string[]; gnu: string[]; bsd: string[]; box: Sandbox }> {
  const b = box();
  const f = join(b.parent, 'in.tar');
  writeFileSync(f, data);
  await b.extract(data);
  const g = join(b.parent, 'gnu');
  const d = join(b.parent, 'bsd');
  mkdirSync(g);
  mkdirSync(d);
  spawnSync('tar', ['-x', '-f', f, '-C', g], { stdio: 'ignore' }); // exit 2 on warnings: the tree is what counts
  spawnSync('bsdtar', ['-x', '-f', f, '-C', d], { stdio: 'ignore' });
  return { cake: tree(b.root), gnu: tree(g), bsd: tree(d), box: b };
}

describe('parser differentials resolved toward GNU tar and bsdtar (item 19)', () => {
  it('a size field of leading NULs reads as 0, so the next header is where they find it', async () => {
    const nulSize = Buffer.from('\u0000\u0000\u0000\u00000000016\u0000', 'latin1'); // 12 bytes
    const data = tar(entry({ name: 'empty', patch: [[124, nulSize]] }), file('after', 'x'));
    const t = await threeWays(data);
    expect(t.cake).toEqual(t.gnu);
    expect(t.cake).toEqual(t.bsd);
    expect(t.cake).toEqual(['after 1 1700000000', 'empty 0 1700000000']);
  });

  it('consecutive PAX extended headers: the later one wins whole, never merged', async () => {
    const data = tar(pax([['path', 'PAX1/long-path-name'], ['mtime', '5']]), pax([['path', 'bar']]), file('ustar-name', 'x'));
    const t = await threeWays(data);
    expect(t.cake).toEqual(['bar 1 1700000000']);
    expect(t.cake).toEqual(t.gnu);
    expect(t.cake).toEqual(t.bsd);
  });

  it('base-256 uid/gid 0xffffffff (chown: "leave alone") is recorded as root, not 4294967295', async () => {
    const b256 = Buffer.from([0x80, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
    const b = box();
    await b.extract(tar(entry({ name: 'u', patch: [[108, b256], [116, b256]] }, 'x'), entry({ name: 'v', patch: [[108, Buffer.from([0x80, 0, 0, 0, 0, 0, 0x30, 0x39])]] }, 'y')));
    expect(getOwner(b.ownership, 'u') ?? { uid: 0, gid: 0 }).toMatchObject({ uid: 0, gid: 0 });
    expect(getOwner(b.ownership, 'v')).toMatchObject({ uid: 12345 });
  });
});

describe('dialects GNU tar reads (item 18)', () => {
  it('a PAX mtime with a non-decimal tail uses its number; one with none keeps the header time', async () => {
    const t = await threeWays(tar(pax([['mtime', '1234567890.5abc']]), file('f', 'x')));
    expect(t.cake).toEqual(['f 1 1234567890']);
    expect(t.cake).toEqual(t.gnu);
    expect(t.cake).toEqual(t.bsd);
    const u = await threeWays(tar(pax([['mtime', 'abc']]), file('g', 'x')));
    expect(u.cake).toEqual(u.gnu); // bsdtar makes it 0 here; GNU tar keeps the header's
  });

  it('a PAX size with more leading zeros than 16 digits', async () => {
    const t = await threeWays(tar(pax([['size', '000000000000000000000003']]), file('f', 'abc')));
    expect(t.cake).toEqual(['f 3 1700000000']);
    expect(t.cake).toEqual(t.gnu);
    expect(t.cake).toEqual(t.bsd);
  });

  it('a PAX path with an embedded NUL keeps the part before it', async () => {
    const t = await threeWays(tar(pax([['path', Buffer.from('good\u0000/../../bad', 'latin1')]]), file('f', 'abc')));
    expect(t.cake).toEqual(['good 3 1700000000']);
    expect(t.cake).toEqual(t.gnu);
    expect(t.cake).toEqual(t.bsd);
  });

  it('a GNU sparse map that does not add up to the stored size: GNU tar and bsdtar disagree on what follows, so cake refuses, naming the entry and why', async () => {
    const o = (n: number): Buffer => Buffer.from(n.toString(8).padStart(11, '0') + '\u0000', 'latin1');
    const sparse = (map: number[], stored: number, data: string): Buffer =>
      tar(header({ name: 's', type: 'S', format: 'gnu', size: stored, patch: [[386, Buffer.concat(map.map(o))], [483, o(10)]] }), pad(Buffer.from(data)), file('after', 'A'));
    // the map covers less than is stored: GNU tar extracts `after`, bsdtar stops at a damaged archive
    const short = sparse([0, 4], 8, '12345678');
    const long = sparse([0, 4, 6, 4], 4, 'abcd');
    for (const [data, message, gnuAfter, bsdAfter] of [
      [short, 's: sparse map covers 4 bytes but the entry stores 8', true, false],
      [long, 's: sparse map covers 8 bytes but the entry stores 4', false, true],
    ] as const) {
      const b = box();
      const err = await b.extract(data).then(() => null, (e: unknown) => e);
      expect((err as CakeError).message).toBe(message);
      expect((err as CakeError).hint).toMatch(/damaged/);
      const f = join(b.parent, 'in.tar');
      writeFileSync(f, data);
      for (const [tool, after] of [['tar', gnuAfter], ['bsdtar', bsdAfter]] as const) {
        const out = join(b.parent, tool);
        mkdirSync(out);
        spawnSync(tool, ['-x', '-f', f, '-C', out], { stdio: 'ignore' });
        expect(readdirSync(out).includes('after'), `${tool} extracts after`).toBe(after);
      }
    }
  });

  it('absolute names land inside the target, like GNU tar and bsdtar', async () => {
    const t = await threeWays(tar(file('/tmp/moo', 'm'), file('//x', 'x')));
    expect(t.cake.filter((l) => !l.startsWith('tmp ')).sort()).toEqual(t.gnu.filter((l) => !l.startsWith('tmp ')).sort());
    expect(t.cake.map((l) => l.split(' ')[0])).toEqual(t.bsd.map((l) => l.split(' ')[0]));
  });
});

describe('trees like GNU tar makes them (item 20)', () => {
  it('directory mtimes are restored after their contents, pre-epoch and fractional times kept', async () => {
    const t = await threeWays(
      tar(dir('d', { mtime: 1000 }), dir('d/e', { mtime: 2000 }), file('d/e/f', 'x', { mtime: 3000 }), pax([['mtime', '-100.5']]), file('d/old', 'o'), file('d/g', 'y')),
    );
    expect(t.cake).toEqual(t.gnu);
    expect(t.cake).toContain('d dir 1000');
    expect(t.cake).toContain('d/e dir 2000');
    expect(statSync(join(t.box.root, 'd', 'old')).mtimeMs).toBe(-100500);
  });

  it('a global PAX header gives later entries its mtime and uid but never its path', async () => {
    const b = box();
    await b.extract(tar(pax([['mtime', '1000'], ['uid', '42'], ['path', 'gpath']], 'g'), file('a', 'x'), file('b', 'y')));
    expect(readdirSync(b.root).sort()).toEqual(['a', 'b']);
    expect(statSync(join(b.root, 'a')).mtimeMs).toBe(1_000_000);
    expect(getOwner(b.ownership, 'b')).toMatchObject({ uid: 42 });
  });
});

describe('refusals: one line naming the entry and the reason, and a hint (item 14)', () => {
  const cases: Array<[string, Buffer, RegExp]> = [
    ['bad checksum later', tar(file('a', 'a'), entry({ name: 'x', badChecksum: true })), /^invalid tar header at byte 1024: checksum mismatch/],
    ['not a tar', Buffer.alloc(2048, 0x41), /^not a tar archive/],
    ['depth', tar(pax([['path', 'd/'.repeat(1100) + 'x']]), file('x', 'x')), /^unsafe archive entry "d\/d\/.*…": nested deeper than 1024 directories$/],
    ['truncated', tar(file('a', 'a')).subarray(0, 600), /^truncated tar archive/],
    ['traversal', tar(file('../x', 'x')), /^unsafe archive entry "\.\.\/x": '\.\.' component$/],
    ['missing link target', tar(entry({ name: 'l', type: 'hardlink', linkname: 'nowhere' })), /^archive entry "l": hard link target "nowhere" does not exist$/],
    ['malformed number', tar(file('a', 'a'), entry({ name: 'f', patch: [[124, Buffer.from('00000000003x', 'latin1')]] }, 'abc')), /^archive entry "f": field size is not an octal number \("00000000003x"\)$/],
    ['component too long', tar(pax([['path', 'n'.repeat(300)]]), file('x', 'x')), /^archive entry "n+…": its name is longer than this filesystem allows \(ENAMETOOLONG\)$/],
  ];
  it.each(cases)('%s', async (_what, data, message) => {
    const err = await box()
      .extract(data)
      .then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(CakeError);
    const e = err as CakeError;
    expect(e.message).toMatch(message);
    expect(e.message.length).toBeLessThan(400);
    expect(e.message).not.toMatch(/cake-archive-|\/tmp\//); // no staging paths
    expect(e.hint).toBeTruthy();
    if (!/escape|'\.\.'/.test(_what) && _what !== 'traversal') expect(e.hint).not.toMatch(/outside its root/);
    expect(e.hint).not.toMatch(/bug in cake/);
  });
});

it('GNU tar and bsdtar are here (the comparisons above need them)', () => {
  expect(readFileSync('/usr/bin/bsdtar').length).toBeGreaterThan(0);
  expect(execFileSync('tar', ['--version']).toString()).toMatch(/GNU tar/);
});
