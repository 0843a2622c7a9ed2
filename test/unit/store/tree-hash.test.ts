import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { treeHash } from '../../../src/store/tree-hash.js';

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

  it('is deterministic, independent of creation order and mtimes', () => {
    const a = tree(() => {});
    const b = tree((r) => utimesSync(join(r, 'etc/a'), 1, 1), 'ba');
    expect(treeHash(a, {})).toMatch(/^[0-9a-f]{64}$/);
    expect(treeHash(a, {})).toBe(treeHash(b, {}));
  });

  it('changes with content, mode, symlink target, names and ownership', () => {
    const ref = treeHash(tree(() => {}), {});
    const variants = [
      tree((r) => writeFileSync(join(r, 'etc/a'), 'beta\n')),
      tree((r) => chmodSync(join(r, 'bin/x'), 0o700)),
      tree((r) => {
        rmSync(join(r, 'bin/y'));
        symlinkSync('z', join(r, 'bin/y'));
      }),
      tree((r) => writeFileSync(join(r, 'etc/b'), '')),
    ];
    const hashes = variants.map((v) => treeHash(v, {}));
    for (const h of hashes) expect(h).not.toBe(ref);
    expect(new Set(hashes).size).toBe(hashes.length);
    const plain = tree(() => {});
    expect(treeHash(plain, { 'etc/a': { uid: 0, gid: 42, mode: 0o640 } })).not.toBe(ref);
    // a record that says what the disk says is no change
    expect(treeHash(plain, { 'etc/a': { uid: 0, gid: 0, mode: 0o644 } })).toBe(ref);
  });

  it('counts device nodes that exist only in the ownership table', () => {
    const r = tree(() => {});
    const plain = treeHash(r, {});
    const withDev = treeHash(r, { 'dev/null': { uid: 0, gid: 0, mode: 0o666, kind: 'char', rdev: [1, 3] } });
    const otherDev = treeHash(r, { 'dev/null': { uid: 0, gid: 0, mode: 0o666, kind: 'char', rdev: [1, 5] } });
    expect(new Set([plain, withDev, otherDev]).size).toBe(3);
  });

  it('reads files and directories without owner permissions, and puts their modes back', () => {
    const r = tree((root) => {
      writeFileSync(join(root, 'etc/secret'), 's');
      chmodSync(join(root, 'etc/secret'), 0o000);
      chmodSync(join(root, 'bin'), 0o000);
    });
    const h = treeHash(r, {});
    expect(h).toBe(treeHash(r, {}));
    chmodSync(join(r, 'bin'), 0o755);
  });
});
