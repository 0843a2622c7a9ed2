import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ENV_HASH_FORMAT, envHash, envTreeHash, hasSettings, settingsOf, treeHash } from '../../../src/store/tree-hash.js';
import { silentLogger } from '../../../src/model/logger.js';

const base = mkdtempSync(join(tmpdir(), 'cake-treehash-'));
let n = 0;
function tree(build: (root: string) => void, order: 'ab' | 'ba' = 'ab'): string {
  const root = join(base, String(n++));
  mkdirSync(root);
  const parts = [
    () => {
      mkdirSync(join(root, 'etc'));
      writeFileSync(join(root, 'etc/a'), 'alpha\n');
    },
    () => {
      mkdirSync(join(root, 'bin'));
      writeFileSync(join(root, 'bin/x'), 'x');
      chmodSync(join(root, 'bin/x'), 0o755);
      symlinkSync('x', join(root, 'bin/y'));
    },
  ];
  for (const p of order === 'ab' ? parts : parts.reverse()) p();
  build(root);
  return root;
}

describe('tree hash', () => {
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it('is deterministic, independent of creation order and mtimes', async () => {
    const a = tree(() => {});
    const b = tree((r) => utimesSync(join(r, 'etc/a'), 1, 1), 'ba');
    expect(await treeHash(a, {})).toMatch(/^[0-9a-f]{64}$/);
    expect(await treeHash(a, {})).toBe(await treeHash(b, {}));
  });

  it('changes with content, mode, symlink target, names and ownership', async () => {
    const ref = await treeHash(tree(() => {}), {});
    const variants = [
      tree((r) => writeFileSync(join(r, 'etc/a'), 'beta\n')),
      tree((r) => chmodSync(join(r, 'bin/x'), 0o700)),
      tree((r) => {
        rmSync(join(r, 'bin/y'));
        symlinkSync('z', join(r, 'bin/y'));
      }),
      tree((r) => writeFileSync(join(r, 'etc/b'), '')),
    ];
    const hashes: string[] = [];
    for (const v of variants) hashes.push(await treeHash(v, {}));
    for (const h of hashes) expect(h).not.toBe(ref);
    expect(new Set(hashes).size).toBe(hashes.length);
    const plain = tree(() => {});
    expect(await treeHash(plain, { 'etc/a': { uid: 0, gid: 42, mode: 0o640 } })).not.toBe(ref);
    // a record that says what the disk says is no change
    expect(await treeHash(plain, { 'etc/a': { uid: 0, gid: 0, mode: 0o644 } })).toBe(ref);
  });

  it('counts device nodes that exist only in the ownership table', async () => {
    const r = tree(() => {});
    const plain = await treeHash(r, {});
    const withDev = await treeHash(r, { 'dev/null': { uid: 0, gid: 0, mode: 0o666, kind: 'char', rdev: [1, 3] } });
    const otherDev = await treeHash(r, { 'dev/null': { uid: 0, gid: 0, mode: 0o666, kind: 'char', rdev: [1, 5] } });
    expect(new Set([plain, withDev, otherDev]).size).toBe(3);
  });

  it('reads files and directories without owner permissions, and puts their modes back', async () => {
    const r = tree((root) => {
      writeFileSync(join(root, 'etc/secret'), 's');
      chmodSync(join(root, 'etc/secret'), 0o000);
      chmodSync(join(root, 'bin'), 0o000);
    });
    const h = await treeHash(r, {});
    expect(h).toBe(await treeHash(r, {}));
    chmodSync(join(r, 'bin'), 0o755);
  });
});

/** A fixed tree: modes set by chmod, a 3-chunk file, a latin1 name, a dir deeper than the direct-path limit with 70 files. */
function pinnedTree(root: string): string {
  mkdirSync(join(root, 'etc'));
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
  writeFileSync(join(root, 'etc/shadow'), 'root:*:1::::::\n');
  chmodSync(join(root, 'etc/shadow'), 0o640);
  mkdirSync(join(root, 'bin'));
  writeFileSync(join(root, 'bin/sh'), Buffer.alloc(3 << 20, 7));
  chmodSync(join(root, 'bin/sh'), 0o755);
  symlinkSync('sh', join(root, 'bin/ash'));
  writeFileSync(Buffer.concat([Buffer.from(join(root, 'etc') + '/caf'), Buffer.from([0xe9])]), 'latin1 name');
  mkdirSync(join(root, 'tmp'));
  chmodSync(join(root, 'tmp'), 0o1777);
  let d = join(root, 'deep');
  mkdirSync(d);
  for (let i = 0; i < 18; i++) {
    d = join(d, 'd'.repeat(200));
    mkdirSync(d);
    writeFileSync(join(d, 'f'), String(i));
  }
  // more files below the cut than fsJoin keeps anchors for: each path must be made when it is read
  for (let i = 0; i < 70; i++) writeFileSync(join(d, `m${i}`), String(i));
  return root;
}

describe('tree hash: pinned value, interruption', () => {
  it('gives the value cake has always given for a fixed tree (the hash of cake before it was made async)', async () => {
    const root = pinnedTree(mkdtempSync(join(tmpdir(), 'cake-treehash-pin-')));
    const owners = { 'etc/shadow': { uid: 0, gid: 42, mode: 0o640 }, 'dev/null': { uid: 0, gid: 0, mode: 0o666, kind: 'char' as const, rdev: [1, 3] as [number, number] } };
    // (the synchronous hash gave it without the 70 files below the cut; with them its paths went stale: ENOENT)
    expect(await treeHash(root, owners)).toBe('747a295590092b48fc72c662021ba9ef8140d48482a658bc05469aa87d8850f8');
  });

  it('stops within a moment when its signal is aborted, in the middle of a sparse giant', async () => {
    const root = mkdtempSync(join(tmpdir(), 'cake-treehash-giant-'));
    writeFileSync(join(root, 'giant'), '');
    truncateSync(join(root, 'giant'), 2 ** 40);
    const lines: string[] = [];
    const logger = { ...silentLogger, info: (m: string) => lines.push(m) };
    const ac = new AbortController();
    const t0 = Date.now();
    setTimeout(() => ac.abort(), 300);
    await expect(treeHash(root, {}, { signal: ac.signal, logger })).rejects.toMatchObject({ code: 'interrupted' });
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(lines).toEqual(['hashing /giant (1024.0 GiB): Ctrl-C stops']);
    rmSync(root, { recursive: true });
  });
});

describe('env hash (the tree hash with the settings folded in)', () => {
  const root = mkdtempSync(join(tmpdir(), 'cake-envhash-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  writeFileSync(join(root, 'f'), 'x');

  it('is the plain tree hash without settings (tarballs, archive builds keep their hash)', async () => {
    const files = await treeHash(root, {});
    expect(await envTreeHash(root, { ownership: {} })).toBe(files);
    expect(await envTreeHash(root, { ownership: {}, config: { env: [], cmd: [] }, run: { binds: [], env: {} } })).toBe(files);
    expect(hasSettings({ config: { env: [] } })).toBe(false);
  });

  it('differs by every setting, and not by key order (a canonical record)', async () => {
    const files = await treeHash(root, {});
    const variants = [
      { config: { env: ['PATH=/usr/bin'] } },
      { config: { env: ['PATH=/opt/bin:/usr/bin'] } },
      { config: { workingDir: '/srv' } },
      { config: { user: 'app' } },
      { config: { cmd: ['sh'] } },
      { config: { entrypoint: ['sh'] } },
      { run: { binds: [{ src: '/data', dst: '/data' }] } },
      { run: { env: { A: '1' } } },
    ];
    const hashes = await Promise.all(variants.map((v) => envTreeHash(root, { ownership: {}, ...v })));
    expect(new Set([files, ...hashes]).size).toBe(variants.length + 1);
    expect(variants.every((v) => hasSettings(v))).toBe(true);
    expect(envHash(files, settingsOf({ config: { user: 'a', workingDir: '/w' } }))).toBe(envHash(files, settingsOf({ config: { workingDir: '/w', user: 'a' } })));
    // without a recipe dir, a bind source is kept as it is
    expect(settingsOf({ run: { binds: [{ src: '/r/data', dst: '/d' }] } })).toEqual({ run: { binds: [{ src: '/r/data', dst: '/d' }] } });
    expect(ENV_HASH_FORMAT).toBe(2);
  });
});
