/**
 * Hostile archives (path traversal, link escapes, bombs). Each test extracts into a root that sits next to an "outside"
 * directory and a secret file, and checks both the verdict and that nothing outside changed: with
 * the protection removed, each would either resolve instead of rejecting or write outside.
 */
import { existsSync, lstatSync, readFileSync, readdirSync, readlinkSync, symlinkSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { CakeError } from '../../../src/model/errors.js';
import { SafeRoot } from '../../../src/archive/safe-path.js';
import { extractTar } from '../../../src/archive/extract.js';
import { dir, entry, file, gnuLong, hardlink, pax, sandbox, symlink, tar, type Sandbox } from '../../helpers/tar-build.js';

const boxes: Sandbox[] = [];
afterEach(() => {
  while (boxes.length) boxes.pop()!.cleanup();
});
function box(): Sandbox {
  const b = sandbox();
  boxes.push(b);
  return b;
}

/** Extracts `layers` in order into a fresh sandbox; the last must fail with `code`, naming `name`; nothing outside changes. */
type Layers = Buffer | Buffer[] | ((b: Sandbox) => Buffer | Buffer[]);

async function expectRejected(
  layers: Layers,
  opts: { code?: string; name?: string; whiteouts?: boolean; strip?: number; setup?: (b: Sandbox) => void } = {},
): Promise<Sandbox> {
  const b = box();
  opts.setup?.(b);
  const before = b.snapshotOutside();
  const built = typeof layers === 'function' ? layers(b) : layers;
  const all = Array.isArray(built) ? built : [built];
  for (const layer of all.slice(0, -1)) await b.extract(layer, { whiteouts: opts.whiteouts ?? false });
  const err = await b
    .extract(all[all.length - 1]!, { whiteouts: opts.whiteouts ?? false, ...(opts.strip ? { stripComponents: opts.strip } : {}) })
    .then(() => null, (e: unknown) => e);
  expect(err, 'extraction should have been refused').toBeInstanceOf(CakeError);
  expect((err as CakeError).code).toBe(opts.code ?? 'unsafe-archive');
  if (opts.name !== undefined) expect((err as CakeError).message).toContain(opts.name);
  expect(b.snapshotOutside()).toBe(before);
  return b;
}

/** Extracts successfully; nothing outside changes. */
async function expectSafe(layers: Layers, opts: { whiteouts?: boolean; onNote?: (m: string) => void } = {}): Promise<Sandbox> {
  const b = box();
  const before = b.snapshotOutside();
  const built = typeof layers === 'function' ? layers(b) : layers;
  for (const layer of Array.isArray(built) ? built : [built]) await b.extract(layer, { whiteouts: opts.whiteouts ?? false, ...(opts.onNote ? { onNote: opts.onNote } : {}) });
  expect(b.snapshotOutside()).toBe(before);
  return b;
}

describe('traversal in names', () => {
  it.each([
    ['../x'],
    ['a/../../x'],
    ['./../x'],
    ['a/b/../../../x'],
    ['..'],
  ])('refuses %s', async (name) => {
    await expectRejected(tar(file(name, 'pwned')), { name });
  });

  // Issue 15 item 17: GNU tar and bsdtar strip the leading slashes and extract inside the target.
  it.each([['/etc/x'], ['////etc/x'], ['//etc//x']])('extracts the absolute name %s inside the root, with one note', async (name) => {
    const notes: string[] = [];
    const b = await expectSafe(tar(file(name, 'inside'), file('/etc/y', 'y')), { onNote: (m) => notes.push(m) });
    expect(readFileSync(join(b.root, 'etc', 'x'), 'utf8')).toBe('inside');
    expect(readFileSync(join(b.root, 'etc', 'y'), 'utf8')).toBe('y');
    expect(notes).toEqual([`the archive names ${JSON.stringify(name)}: absolute names are extracted inside the env (leading '/' removed, as GNU tar does)`]);
  });

  it('refuses a symlink named / or // (it would replace the root)', async () => {
    await expectRejected(tar(symlink('/', '/etc')), { name: 'root entry is a symlink' });
    await expectRejected(tar(symlink('//', '/etc'), file('passwd', 'pwned')), { name: 'root entry is a symlink' });
  });

  it('refuses an absolute name that climbs with ..', async () => {
    await expectRejected(tar(file('/../x', 'pwned')), { name: "'..' component" });
  });

  it('treats C:../x as the Linux name it is (a directory "C:.." inside the root)', async () => {
    const b = await expectSafe(tar(file('C:../x', 'data')));
    expect(readFileSync(join(b.root, 'C:..', 'x'), 'utf8')).toBe('data');
  });

  it('refuses traversal hidden in a GNU long name, a PAX path and a ustar prefix', async () => {
    const deep = 'd/'.repeat(60) + '../'.repeat(62) + 'x';
    await expectRejected(tar(gnuLong('L', deep), file('innocent', 'pwned', { format: 'gnu' })));
    await expectRejected(tar(pax([['path', '../x']]), file('innocent', 'pwned')), { name: '../x' });
    await expectRejected(tar(file('x', 'pwned', { prefix: '..' })), { name: '../x' });
  });

  it('refuses a directory entry named ../d and a hard link named ../l', async () => {
    await expectRejected(tar(dir('../d')));
    await expectRejected(tar(file('t', 'x'), hardlink('../l', 't')));
  });

  it('checks the name after --strip-components', async () => {
    await expectRejected(tar(file('top/../x', 'pwned')), { strip: 1 });
    const b = box();
    await b.extract(tar(file('../keep/x', 'ok')), { stripComponents: 1 }); // the '..' is stripped away, as GNU tar does
    expect(readFileSync(join(b.root, 'keep', 'x'), 'utf8')).toBe('ok');
  });

  it('a NUL byte in a PAX path ends the name there, as in GNU tar and bsdtar', async () => {
    const b = await expectSafe(tar(pax([['path', 'a\u0000/../../b']]), file('innocent', 'data')));
    expect(readdirSync(b.root)).toEqual(['a']);
    expect(readFileSync(join(b.root, 'a'), 'utf8')).toBe('data');
    // a hard link whose PAX linkpath is cut to a missing name: refused, nothing written
    await expectRejected(tar(pax([['linkpath', 'x\u0000/../secret']]), hardlink('l', 'y')), { code: 'bad-archive', name: 'does not exist' });
  });
});

describe('symlinks: never written through', () => {
  it('dir d, then symlink d -> outside, then d/f (stale directory cache, CVE-2021-32803)', async () => {
    await expectRejected(
      (b) => tar(dir('d'), file('d/a', 'ok'), symlink('d', b.outside), file('d/f', 'pwned')),
      { name: 'd/f' },
    );
  });

  it('relative escape: l -> ../.. then l/x', async () => {
    await expectRejected(tar(symlink('l', '../..'), file('l/x', 'pwned')), { name: 'l/x' });
  });

  it('symlink chain a -> b, b -> ../outside, then a/x', async () => {
    await expectRejected(tar(symlink('a', 'b'), symlink('b', '../outside'), file('a/x', 'pwned')), { name: 'a/x' });
  });

  it('absolute symlink x -> / then x/<outside>/pwned', async () => {
    await expectRejected((b) => tar(symlink('x', '/'), file(`x${b.outside}/pwned`, 'pwned')), { name: 'pwned' });
  });

  it('a symlink to /etc is fine as long as nothing goes through it', async () => {
    const b = await expectSafe(tar(symlink('etc-link', '/etc'), symlink('up', '../../..')));
    expect(readlinkSync(join(b.root, 'etc-link'))).toBe('/etc');
    expect(readlinkSync(join(b.root, 'up'))).toBe('../../..');
  });

  it('directory replaced by a symlink before a later entry (deep parent)', async () => {
    await expectRejected(
      (b) => tar(dir('a'), dir('a/b'), file('a/b/c', 'ok'), symlink('a', b.outside), file('a/b/d', 'pwned')),
      { name: 'a/b/d' },
    );
  });

  it('a regular file over a symlink replaces the symlink, never writes its target', async () => {
    const b = await expectSafe(tar(symlink('l', '../outside/sentinel'), file('l', 'pwned')));
    expect(lstatSync(join(b.root, 'l')).isFile()).toBe(true);
    expect(readFileSync(join(b.root, 'l'), 'utf8')).toBe('pwned');
  });

  it('a directory over a symlink replaces it, never chmods its target (CVE-2021-32760)', async () => {
    const b = box();
    const modeBefore = lstatSync(b.outside).mode;
    await b.extract(tar(symlink('d', b.outside), dir('d', { mode: 0o777 }), entry({ name: 'f', type: 'fifo' }), symlink('f2', b.secret), entry({ name: 'f2', type: 'fifo' })));
    expect(lstatSync(join(b.root, 'd')).isDirectory()).toBe(true);
    expect(lstatSync(b.outside).mode).toBe(modeBefore);
    expect(readFileSync(b.secret, 'utf8')).toBe('secret');
  });

  it('across layers: layer 1 x -> outside, layer 2 x/passwd', async () => {
    await expectRejected([tar(symlink('x', '../outside')), tar(file('x/passwd', 'pwned'))], { whiteouts: true, name: 'x/passwd' });
  });

  it('across layers: lib -> ../../.. then lib/x', async () => {
    await expectRejected([tar(dir('usr'), symlink('usr/lib', '../../..')), tar(file('usr/lib/x', 'pwned'))], { whiteouts: true });
  });

  it('NFC and NFD names are different files: a symlink under one never lets the other through', async () => {
    const nfc = 'caf\u00e9';
    const nfd = 'cafe\u0301';
    await expectRejected((b) => tar(dir(nfc), file(`${nfc}/a`, 'ok'), symlink(nfd, b.outside), file(`${nfd}/x`, 'pwned')));
    await expectRejected((b) => tar(dir(nfd), file(`${nfd}/a`, 'ok'), symlink(nfc, b.outside), file(`${nfc}/x`, 'pwned')));
    const b = await expectSafe(tar(dir(nfc), dir(nfd), file(`${nfc}/x`, '1'), file(`${nfd}/x`, '2')));
    expect(readFileSync(join(b.root, nfc, 'x'), 'utf8')).toBe('1');
    expect(readFileSync(join(b.root, nfd, 'x'), 'utf8')).toBe('2');
  });

  it('the verified-directory cache is keyed by exact bytes and forgets replaced directories', () => {
    const b = box();
    const nfc = Buffer.from('caf\u00e9').toString('latin1');
    const nfd = Buffer.from('cafe\u0301').toString('latin1');
    const fs = new SafeRoot(b.root);
    fs.walk([nfc, 'x'], 1, true, 'x');
    symlinkSync(b.outside, join(b.root, 'cafe\u0301'));
    expect(() => fs.walk([nfd, 'x'], 1, true, 'x')).toThrow(/symlink/);
    mkdirSync(join(b.root, 'd'));
    fs.walk(['d', 'x'], 1, true, 'x');
    fs.clear('d');
    symlinkSync(b.outside, join(b.root, 'd'));
    expect(() => fs.walk(['d', 'x'], 1, true, 'x')).toThrow(/symlink/);
    fs.close();
  });

  it('concurrent extractions into one root: a directory one replaces by a symlink is not trusted by the other', async () => {
    const b = box();
    const before = b.snapshotOutside();
    const step = () => {
      let release!: () => void;
      const p = new Promise<void>((r) => (release = r));
      return { p, release };
    };
    const aDidDir = step();
    const bDidFile = step();
    const aGo = step();
    const bGo = step();
    const aDone = step();
    async function* layerA() {
      yield dir('x');
      aDidDir.release();
      await aGo.p;
      yield tar(symlink('x', b.outside));
    }
    async function* layerB() {
      await aDidDir.p;
      yield file('x/a', 'ok');
      bDidFile.release();
      await bGo.p;
      yield tar(file('x/b', 'pwned'));
    }
    const a = extractTar(Readable.from(layerA()), { root: b.root, ownership: {} }).finally(() => aDone.release());
    const c = extractTar(Readable.from(layerB()), { root: b.root, ownership: {} }).then(() => null, (e: unknown) => e);
    await bDidFile.p; // b has verified (and cached) x as a directory
    aGo.release();
    await a; // a replaced x by a symlink to outside
    await aDone.p;
    bGo.release();
    const err = await c;
    expect(err).toBeInstanceOf(CakeError);
    expect((err as CakeError).code).toBe('unsafe-archive');
    expect(b.snapshotOutside()).toBe(before);
  });
});

describe('the root entry', () => {
  it('refuses a symlink named "." (CVE-2021-29136)', async () => {
    await expectRejected((b) => tar(symlink('.', b.outside), file('x', 'pwned')), { name: 'root entry' });
    await expectRejected((b) => tar(symlink('./', b.outside)));
  });

  it('refuses a root entry that is a file or a hard link', async () => {
    await expectRejected(tar(file('.', 'x')), { name: 'root entry' });
    await expectRejected(tar(file('t', 'x'), hardlink('.', 't')));
  });

  it('accepts "./" as a directory without touching the root', async () => {
    const b = box();
    const before = lstatSync(b.root).mode;
    await b.extract(tar(dir('./', { mode: 0o700 }), file('./x', 'ok')));
    expect(lstatSync(b.root).mode).toBe(before);
    expect(readFileSync(join(b.root, 'x'), 'utf8')).toBe('ok');
  });
});

describe('deep nesting', () => {
  it('refuses 10,000 components without blowing the stack', async () => {
    const name = 'a/'.repeat(10_000) + 'x';
    await expectRejected(tar(pax([['path', name]]), file('innocent', 'x')), { name: 'deeper than 1024' });
  });

  it('extracts 300 levels and removes them again', async () => {
    const members: Buffer[] = [];
    let p = '';
    for (let i = 0; i < 300; i++) {
      p += (i ? '/' : '') + 'd';
      members.push(pax([['path', p]]), dir('x'));
    }
    members.push(pax([['path', p + '/f']]), file('x', 'deep'));
    const b = await expectSafe(tar(...members));
    expect(readFileSync(join(b.root, p, 'f'), 'utf8')).toBe('deep');
  });
});

describe('hard links', () => {
  it('to /etc/passwd (absolute target): inside the root, as GNU tar reads it', async () => {
    // no etc/passwd in the root: refused as a missing target, never the host's
    await expectRejected(tar(hardlink('x', '/etc/passwd')), { code: 'bad-archive', name: 'does not exist' });
    const b = await expectSafe(tar(file('etc/passwd', 'guest'), hardlink('x', '/etc/passwd')));
    expect(lstatSync(join(b.root, 'x')).ino).toBe(lstatSync(join(b.root, 'etc', 'passwd')).ino);
  });

  it('to ../secret', async () => {
    await expectRejected(tar(hardlink('x', '../secret')), { name: 'x' });
  });

  it('from deep inside to ../../../../etc/passwd (resolved from the wrong base, CVE-2026-24842)', async () => {
    await expectRejected(tar(dir('a/b/c/d'), hardlink('a/b/c/d/x', '../../../../secret')));
  });

  it('through an existing symlink: s -> .., then link target s/secret', async () => {
    const b = await expectRejected(tar(symlink('s', '..'), hardlink('x', 's/secret')), { name: 'symlink' });
    expect(existsSync(join(b.root, 'x'))).toBe(false);
    expect(lstatSync(b.secret).nlink).toBe(1);
  });

  it('to a symlink, to a directory, to something missing', async () => {
    await expectRejected((b) => tar(symlink('s', b.secret), hardlink('x', 's')), { name: 'symlink' });
    await expectRejected(tar(dir('d'), hardlink('x', 'd')), { name: 'not a regular file' });
    await expectRejected(tar(hardlink('x', 'nope')), { code: 'bad-archive', name: 'does not exist' });
  });

  it('a hard link then a regular file of the same name does not write into the target (CVE-2018-20834)', async () => {
    const b = await expectSafe(tar(file('target', 'original'), hardlink('l', 'target'), file('l', 'pwned')));
    expect(readFileSync(join(b.root, 'target'), 'utf8')).toBe('original');
    expect(readFileSync(join(b.root, 'l'), 'utf8')).toBe('pwned');
    expect(lstatSync(join(b.root, 'target')).nlink).toBe(1);
  });

  it('a hard-link entry carrying data never writes it into its target (libarchive secure746)', async () => {
    // read as GNU tar and Go do: no data after a hard link, so the "data" is the next header
    const smuggled = file('smuggled', 'ok');
    const b = await expectSafe(tar(file('target', 'original'), entry({ name: 'l', type: 'hardlink', linkname: 'target', size: smuggled.length }), smuggled));
    expect(readFileSync(join(b.root, 'target'), 'utf8')).toBe('original');
    expect(readFileSync(join(b.root, 'smuggled'), 'utf8')).toBe('ok');
    // plain bytes after the link are not a header: refused, target intact
    const c = await expectRejected(
      Buffer.concat([file('target', 'original'), entry({ name: 'l', type: 'hardlink', linkname: 'target' }, 'pwned-pwned')]),
      { code: 'bad-archive' },
    );
    expect(readFileSync(join(c.root, 'target'), 'utf8')).toBe('original');
  });

  it('a legal hard link shares the inode', async () => {
    const b = await expectSafe(tar(dir('a'), file('a/t', 'data'), hardlink('b', 'a/t')));
    expect(lstatSync(join(b.root, 'b')).ino).toBe(lstatSync(join(b.root, 'a/t')).ino);
  });
});

describe('OCI whiteouts', () => {
  const lower = tar(dir('etc'), file('etc/passwd', 'root'), file('etc/group', 'g'), dir('etc/sub'), file('etc/sub/x', 'x'));

  it('refuses an empty whiteout name (etc/.wh. would delete etc)', async () => {
    const b = await expectRejected([lower, tar(file('etc/.wh.'))], { whiteouts: true });
    expect(readFileSync(join(b.root, 'etc/passwd'), 'utf8')).toBe('root');
  });

  it('refuses .wh.../../x and whiteouts of . and ..', async () => {
    await expectRejected([lower, tar(file('.wh.../../x'))], { whiteouts: true });
    const b = await expectRejected([lower, tar(file('etc/sub/.wh...'))], { whiteouts: true });
    expect(existsSync(join(b.root, 'etc/passwd'))).toBe(true);
    await expectRejected([lower, tar(file('etc/.wh..'))], { whiteouts: true });
  });

  it('refuses a whiteout through a symlinked parent', async () => {
    const b = await expectRejected([tar(symlink('l', '../outside')), tar(file('l/.wh.sentinel'))], { whiteouts: true, name: 'symlink' });
    expect(existsSync(join(b.outside, 'sentinel'))).toBe(true);
  });

  it('.wh.NAME removes a lower-layer file or directory, with its ownership records', async () => {
    const b = box();
    await b.extract(lower, { whiteouts: true });
    await b.extract(tar(entry({ name: 'etc/sub/y', uid: 5 })), { whiteouts: true });
    expect(b.ownership['etc/sub/y']).toBeDefined();
    const stats = await b.extract(tar(file('etc/.wh.passwd'), file('etc/.wh.sub')), { whiteouts: true });
    expect(stats.whiteouts).toBe(2);
    expect(readdirSync(join(b.root, 'etc'))).toEqual(['group']);
    expect(b.ownership['etc/sub/y']).toBeUndefined();
  });

  it('.wh..wh..opq hides lower children only, wherever it appears in the layer', async () => {
    const b = box();
    await b.extract(lower, { whiteouts: true });
    await b.extract(
      tar(dir('etc'), file('etc/new', 'n'), file('etc/.wh..wh..opq'), dir('etc/sub'), file('etc/sub/y', 'y')),
      { whiteouts: true },
    );
    expect(readdirSync(join(b.root, 'etc')).sort()).toEqual(['new', 'sub']);
    expect(readdirSync(join(b.root, 'etc/sub'))).toEqual(['y']);
  });

  it('a whiteout does not remove what the same layer created', async () => {
    const b = box();
    await b.extract(tar(file('a', '1'), file('.wh.a')), { whiteouts: true });
    expect(readFileSync(join(b.root, 'a'), 'utf8')).toBe('1');
  });

  it('whiteouts off: .wh. files are ordinary files', async () => {
    const b = box();
    await b.extract(tar(file('a', '1'), file('.wh.a', 'w')));
    expect(readdirSync(b.root).sort()).toEqual(['.wh.a', 'a']);
  });
});

describe('ownership table keys', () => {
  it('a file named __proto__ is an ordinary key', async () => {
    const b = box();
    await b.extract(tar(file('__proto__', 'x', { uid: 7 }), file('constructor', 'y')));
    expect(Object.getPrototypeOf(b.ownership)).toBe(Object.prototype);
    expect(Object.hasOwn(b.ownership, '__proto__')).toBe(true);
    expect(Object.hasOwn(b.ownership, 'constructor')).toBe(false);
  });
});
