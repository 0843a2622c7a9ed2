import { appendFileSync, chmodSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { lookupOwner, type OwnershipTable } from '../../../src/model/ownership.js';
import { CakeError } from '../../../src/model/errors.js';
import { BlobStore } from '../../../src/store/blobs.js';
import { resolvePaths } from '../../../src/store/paths.js';
import { TreeCache } from '../../../src/store/tree-cache.js';

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'cake-tree-cache-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A small tree with what a bootstrap leaves: owners other than root, setgid, a hard link, a symlink, a device only in the table. */
function makeTree(): { root: string; table: OwnershipTable } {
  const root = tmp();
  mkdirSync(join(root, 'etc'));
  writeFileSync(join(root, 'etc/shadow'), 'root:*:1::::::\n', { mode: 0o644 });
  mkdirSync(join(root, 'var/mail'), { recursive: true });
  writeFileSync(join(root, 'chkpwd'), 'ELF', { mode: 0o755 });
  chmodSync(join(root, 'chkpwd'), 0o2755);
  linkSync(join(root, 'chkpwd'), join(root, 'chkpwd.hard'));
  symlinkSync('etc/shadow', join(root, 'shadow-link'));
  mkdirSync(join(root, 'dev'));
  const table: OwnershipTable = {
    'etc/shadow': { uid: 0, gid: 42, mode: 0o640 },
    'var/mail': { uid: 0, gid: 8, mode: 0o2775 },
    chkpwd: { uid: 0, gid: 42, mode: 0o2755 },
    'chkpwd.hard': { uid: 0, gid: 42, mode: 0o2755 },
    'dev/null': { uid: 0, gid: 0, mode: 0o666, kind: 'char', rdev: [1, 3] },
  };
  return { root, table };
}

function setup(): { cache: TreeCache; blobs: BlobStore } {
  const paths = resolvePaths({ CAKE_HOME: tmp() });
  const blobs = new BlobStore(paths);
  blobs.init();
  return { cache: new TreeCache(paths, blobs), blobs };
}

const KEY = 'a'.repeat(64);

describe('the tree cache', () => {
  for (const compression of ['zstd', 'none'] as const) {
    it(`restores a stored tree (${compression}) with its contents and real ownership`, async () => {
      const { root, table } = makeTree();
      const { cache, blobs } = setup();
      expect(cache.lookup(KEY)).toBeUndefined();
      const entry = await cache.store(KEY, root, table, { compression });
      expect(entry).toMatchObject({ key: KEY, compression, entries: 9 });
      expect(blobs.has(entry.sha256)).toBe(true);
      expect(cache.lookup(KEY)).toEqual(entry);

      const out = tmp();
      const { ownership } = await cache.restore(entry, out);
      for (const [k, rec] of Object.entries(table)) {
        const disk = lstatSync(join(out, k), { throwIfNoEntry: false });
        expect(lookupOwner(ownership, k, disk?.mode ?? 0)).toEqual({ uid: rec.uid, gid: rec.gid, mode: rec.mode });
      }
      expect(ownership['dev/null']).toEqual({ uid: 0, gid: 0, mode: 0o666, kind: 'char', rdev: [1, 3] });
      expect(readFileSync(join(out, 'etc/shadow'), 'utf8')).toBe('root:*:1::::::\n');
      expect(lstatSync(join(out, 'chkpwd')).ino).toBe(lstatSync(join(out, 'chkpwd.hard')).ino);
      expect(readlinkSync(join(out, 'shadow-link'))).toBe('etc/shadow');
    });
  }

  it('misses when the blob is gone (cake gc), forgets and prunes entries', async () => {
    const { root, table } = makeTree();
    const { cache, blobs } = setup();
    const entry = await cache.store(KEY, root, table, { compression: 'none' });
    blobs.remove(entry.sha256);
    expect(cache.lookup(KEY)).toBeUndefined();
    const again = await cache.store(KEY, root, table, { compression: 'none' });
    expect(again.sha256).toBe(entry.sha256); // deterministic tar of an unchanged tree
    cache.forget(KEY);
    expect(cache.lookup(KEY)).toBeUndefined();
    const other = 'b'.repeat(64);
    await cache.store(KEY, root, table, { compression: 'none' });
    await cache.store(other, root, table, { compression: 'zstd' });
    blobs.remove(cache.lookup(other)!.sha256);
    expect(cache.prune()).toBe(1);
    expect(cache.lookup(KEY)).toBeDefined();
  });

  it('refuses a damaged blob with digest-mismatch', async () => {
    const { root, table } = makeTree();
    const { cache, blobs } = setup();
    const entry = await cache.store(KEY, root, table, { compression: 'none' });
    appendFileSync(blobs.path(entry.sha256), Buffer.alloc(1024));
    const err = await cache.restore(entry, tmp()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CakeError);
    expect((err as CakeError).code).toBe('digest-mismatch');
  });
});
