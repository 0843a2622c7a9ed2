import { appendFileSync, chmodSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { baselineOf, changedSince, fingerprint, materialize, scanTree, snapshotTree } from '../../../src/cook/snapshot.js';
import { syncOwnership } from '../../../src/cook/ownership-sync.js';
import { treeHash } from '../../../src/store/tree-hash.js';
import type { OwnershipTable } from '../../../src/model/ownership.js';

const base = mkdtempSync(join(tmpdir(), 'cake-snap-'));
afterAll(() => {
  rmSync(base, { recursive: true, force: true });
});

function seed(root: string): void {
  mkdirSync(join(root, 'etc/sub'), { recursive: true });
  writeFileSync(join(root, 'etc/keep'), 'keep\n');
  writeFileSync(join(root, 'etc/append'), 'one\n');
  writeFileSync(join(root, 'etc/gone'), 'gone\n');
  writeFileSync(join(root, 'etc/sub/deep'), 'deep\n');
  symlinkSync('keep', join(root, 'etc/link'));
  writeFileSync(join(root, 'etc/h1'), 'hard\n');
  linkSync(join(root, 'etc/h1'), join(root, 'etc/h2'));
}

describe('snapshots (hard-link trees, copy-on-write discipline)', () => {
  it('links unchanged files to the parent, copies changed ones, never writes into the parent', async () => {
    const s0 = join(base, 's0');
    mkdirSync(s0);
    seed(s0);
    const hash0 = await treeHash(s0, {});
    const work = join(base, 'work');
    let baseline = materialize(s0, work);
    expect(await treeHash(work, {})).toBe(hash0);
    expect(lstatSync(join(work, 'etc/keep')).ino).not.toBe(lstatSync(join(s0, 'etc/keep')).ino);
    expect(lstatSync(join(work, 'etc/h1')).ino).toBe(lstatSync(join(work, 'etc/h2')).ino);
    expect(changedSince(baseline, scanTree(work))).toBe(false);

    await new Promise((r) => setTimeout(r, 20)); // programs of a step start well after the baseline
    appendFileSync(join(work, 'etc/append'), 'two\n'); // in place: same inode
    rmSync(join(work, 'etc/gone'));
    writeFileSync(join(work, 'etc/new'), 'new\n');
    writeFileSync(join(work, 'etc/tmp'), 'keep\n');
    renameSync(join(work, 'etc/tmp'), join(work, 'etc/link2'));
    const entries = scanTree(work);
    expect(changedSince(baseline, entries)).toBe(true);
    const s1 = join(base, 's1');
    const snap = snapshotTree(work, entries, baseline, s0, s1);
    baseline = snap.baseline;
    expect(readFileSync(join(s0, 'etc/append'), 'utf8')).toBe('one\n');
    expect(await treeHash(s0, {})).toBe(hash0);
    expect(await treeHash(s1, {})).toBe(await treeHash(work, {}));
    expect(lstatSync(join(s1, 'etc/keep')).ino).toBe(lstatSync(join(s0, 'etc/keep')).ino);
    expect(lstatSync(join(s1, 'etc/sub/deep')).ino).toBe(lstatSync(join(s0, 'etc/sub/deep')).ino);
    expect(lstatSync(join(s1, 'etc/link')).ino).toBe(lstatSync(join(s0, 'etc/link')).ino);
    expect(lstatSync(join(s1, 'etc/append')).ino).not.toBe(lstatSync(join(s0, 'etc/append')).ino);
    expect(lstatSync(join(s1, 'etc/h1')).ino).toBe(lstatSync(join(s1, 'etc/h2')).ino);
    expect(snap.stats).toMatchObject({ copied: 3, dirs: 2 });
    expect(snap.stats.linked).toBeGreaterThanOrEqual(4);
    expect(changedSince(baseline, scanTree(work))).toBe(false);

    // a later in-place change to the working tree touches neither snapshot
    await new Promise((r) => setTimeout(r, 20));
    writeFileSync(join(work, 'etc/keep'), 'KEEP\n');
    expect(readFileSync(join(s0, 'etc/keep'), 'utf8')).toBe('keep\n');
    expect(readFileSync(join(s1, 'etc/keep'), 'utf8')).toBe('keep\n');
    expect(changedSince(baseline, scanTree(work))).toBe(true);
  });

  it('sees a chmod and a same-size rewrite as changes', async () => {
    const s0 = join(base, 'c0');
    mkdirSync(s0);
    seed(s0);
    const work = join(base, 'cwork');
    const baseline = materialize(s0, work);
    await new Promise((r) => setTimeout(r, 20));
    writeFileSync(join(work, 'etc/keep'), 'KEEP\n');
    expect(changedSince(baseline, scanTree(work))).toBe(true);
    const b2 = baselineOf(work);
    await new Promise((r) => setTimeout(r, 20));
    chmodSync(join(work, 'etc/sub/deep'), 0o600);
    expect(changedSince(b2, scanTree(work))).toBe(true);
  });

  it('keeps the ownership table true: removed paths, type changes, chmods, dirs without u+rwx', async () => {
    const work = join(base, 'owork');
    mkdirSync(work);
    seed(work);
    const table: OwnershipTable = {
      'etc/gone': { uid: 0, gid: 42, mode: 0o640 },
      'etc/keep': { uid: 0, gid: 42, mode: 0o640 },
      'etc/sub/deep': { uid: 5, gid: 5, mode: 0o644 },
      'etc/sub': { uid: 7, gid: 7, mode: 0o755 },
      'dev/null': { uid: 0, gid: 0, mode: 0o666, kind: 'char', rdev: [1, 3] },
    };
    const baseline = baselineOf(work);
    await new Promise((r) => setTimeout(r, 20));
    rmSync(join(work, 'etc/gone'));
    chmodSync(join(work, 'etc/keep'), 0o600);
    rmSync(join(work, 'etc/sub/deep'));
    mkdirSync(join(work, 'etc/sub/deep'));
    mkdirSync(join(work, 'etc/ro'));
    chmodSync(join(work, 'etc/ro'), 0o555);
    const entries = syncOwnership(work, table, baseline, scanTree(work));
    expect(table).toEqual({
      'etc/keep': { uid: 0, gid: 42, mode: 0o600 },
      'etc/sub': { uid: 7, gid: 7, mode: 0o755 },
      'etc/ro': { uid: 0, gid: 0, mode: 0o555 },
      'dev/null': { uid: 0, gid: 0, mode: 0o666, kind: 'char', rdev: [1, 3] },
    });
    expect(lstatSync(join(work, 'etc/ro')).mode & 0o777).toBe(0o755);
    expect(entries.find((e) => e.key === 'etc/ro')!.st.mode & 0o777).toBe(0o755);
  });

  it('fingerprints a tree without reading it: writes, chmods and new files change it, empty mount points do not', async () => {
    const root = join(base, 'fp');
    mkdirSync(root);
    seed(root);
    const fp = fingerprint(root);
    expect(fingerprint(root)).toBe(fp);
    writeFileSync(join(root, 'etc/resolv.conf'), '');
    mkdirSync(join(root, 'home/someone'), { recursive: true });
    expect(fingerprint(root)).toBe(fp);
    await new Promise((r) => setTimeout(r, 20));
    appendFileSync(join(root, 'etc/keep'), 'more');
    const fp2 = fingerprint(root);
    expect(fp2).not.toBe(fp);
    await new Promise((r) => setTimeout(r, 20));
    chmodSync(join(root, 'etc/sub/deep'), 0o600);
    expect(fingerprint(root)).not.toBe(fp2);
  });
});
