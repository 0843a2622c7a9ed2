import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { StepCache, cacheKey, type EntryMeta } from '../../../src/cook/step-cache.js';
import { resolvePaths } from '../../../src/store/paths.js';
import { envHash, treeHash } from '../../../src/store/tree-hash.js';

const home = mkdtempSync(join(tmpdir(), 'cake-stepcache-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));

function meta(key: string, tree = key, parent?: string): EntryMeta {
  return { version: 1, key, tree, step: 'test', created: '', arch: 'x86_64', ownership: {}, ...(parent ? { parent } : {}) };
}

describe('step cache', () => {
  const cache = new StepCache(resolvePaths({ CAKE_HOME: home }));
  const put = (key: string, withTree: boolean, tree = key, parent?: string): EntryMeta => {
    const stage = cache.tmp('t');
    if (withTree) {
      mkdirSync(join(stage, 'rootfs'));
      writeFileSync(join(stage, 'rootfs/f'), key);
    }
    return cache.commit(stage, meta(key, tree, parent), false);
  };

  it('keys are stable and differ by any input', () => {
    expect(cacheKey('step', 'p', { a: 1 })).toBe(cacheKey('step', 'p', { a: 1 }));
    expect(cacheKey('step', 'p', { a: 1 })).not.toBe(cacheKey('step', 'p', { a: 2 }));
    expect(cacheKey('step', 'p', 'run')).not.toBe(cacheKey('step', 'q', 'run'));
  });

  it('commits entries atomically; the first one wins; an entry without a tree uses its parent tree', () => {
    const a = put('a'.repeat(64), true);
    expect(cache.get(a.key)).toEqual(a);
    const again = cache.tmp('t');
    mkdirSync(join(again, 'rootfs'));
    cache.commit(again, { ...meta(a.key), step: 'second' }, false);
    expect(cache.get(a.key)?.step).toBe('test');
    expect(existsSync(again)).toBe(false);
    const b = put('b'.repeat(64), false, a.key, a.key);
    expect(cache.treeDir(cache.get(b.key)!)).toBe(join(cache.entryDir(a.key), 'rootfs'));
    expect(cache.get('c'.repeat(64))).toBeUndefined();
    const replaced = cache.tmp('t');
    mkdirSync(join(replaced, 'rootfs'));
    cache.commit(replaced, { ...meta(a.key), step: 'rebuilt' }, true);
    expect(cache.get(a.key)?.step).toBe('rebuilt');
  });

  it('stages entries: usable (get, treeDir, tree hash) before they are committed, gone when dropped', () => {
    const fill = (key: string, tree = key) => (stage: string) => {
      if (tree === key) {
        mkdirSync(join(stage, 'rootfs'));
        writeFileSync(join(stage, 'rootfs/f'), key);
      }
      return meta(key, tree);
    };
    const d = cache.stage('s', false, fill('d'.repeat(64)));
    const e = cache.stage('s', false, fill('e'.repeat(64), d.key));
    expect(cache.get(d.key)).toEqual(d);
    expect(existsSync(join(cache.treeDir(e), 'f'))).toBe(true);
    expect(cache.treeDir(e)).not.toBe(join(cache.entryDir(d.key), 'rootfs'));
    expect(cache.setTreeHash(e, 'ab'.repeat(32), 'ef'.repeat(32)).treeSha256).toBe('ab'.repeat(32));
    expect(existsSync(cache.entryDir(d.key))).toBe(false);
    cache.dropPending();
    expect(cache.get(d.key)).toBeUndefined();
    expect(cache.get(e.key)).toBeUndefined();
    const f = cache.stage('s', false, fill('f'.repeat(64)));
    const g = cache.stage('s', false, fill('9'.repeat(64), f.key));
    cache.setTreeHash(g, 'cd'.repeat(32), 'ef'.repeat(32));
    cache.commitPending();
    expect(cache.get(g.key)?.treeSha256).toBe('cd'.repeat(32));
    expect(cache.treeDir(cache.get(g.key)!)).toBe(join(cache.entryDir(f.key), 'rootfs'));
    expect(existsSync(join(cache.entryDir(f.key), 'rootfs/f'))).toBe(true);
  });

  it('serves an entry whose seal changed but whose files hash the same, also when its env hash covers settings', async () => {
    const k = '7'.repeat(64);
    const stage = cache.tmp('t');
    mkdirSync(join(stage, 'rootfs'));
    writeFileSync(join(stage, 'rootfs/f'), 'same');
    const m = cache.commit(stage, { ...meta(k), config: { env: ['GREETING=hi'] } }, false);
    const files = await treeHash(cache.treeDir(m), {});
    cache.setTreeHash(m, envHash(files, { config: { env: ['GREETING=hi'] } }), files);
    expect(cache.get(k)!.treeSha256).not.toBe(files);
    utimesSync(join(cache.treeDir(m), 'f'), 1000, 1000); // the seal changes, the content does not
    const warned: string[] = [];
    const served = await cache.verified(k, (w) => warned.push(w));
    expect(warned).toEqual([]);
    expect(served?.filesSha256).toBe(files);
    // content changed by hand: dropped with a warning
    writeFileSync(join(cache.treeDir(m), 'f'), 'other');
    expect(await cache.verified(k, (w) => warned.push(w))).toBeUndefined();
    expect(warned).toHaveLength(1);
  });

  it('gc keeps the chains of recipes that exist (and the trees they use), removes the rest, and waits for no one', async () => {
    const recipe = join(home, 'r.yaml');
    writeFileSync(recipe, 'from: x\n');
    const k1 = put('1'.repeat(64), true);
    const k2 = put('2'.repeat(64), false, k1.key, k1.key);
    const old = put('3'.repeat(64), true);
    const gone = put('4'.repeat(64), true);
    cache.writeRoot(recipe, [k2.key]);
    cache.writeRoot(join(home, 'deleted.yaml'), [gone.key]);
    const r = await cache.gc();
    expect(r.skipped).toBe(false);
    expect(cache.get(k1.key)).toBeDefined();
    expect(cache.get(k2.key)).toBeDefined();
    expect(cache.get(old.key)).toBeUndefined();
    expect(cache.get(gone.key)).toBeUndefined();
    expect(r.entries).toBeGreaterThanOrEqual(2);
    expect(r.bytes).toBeGreaterThan(0);
    // while a cook runs, nothing is removed
    const stray = put('5'.repeat(64), true);
    const during = await cache.active(undefined, () => cache.gc());
    expect(during.skipped).toBe(true);
    expect(cache.get(stray.key)).toBeDefined();
    expect((await cache.gc()).skipped).toBe(false);
    expect(cache.get(stray.key)).toBeUndefined();
  });
});
