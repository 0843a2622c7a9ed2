import { linkSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { canonicalSave, formatFakedSave, parseFakedSave, snapshotTable, type FakedEntry } from '../../../src/archive/faked-save.js';
import { applyOwnershipDiff, diffOwnership, isEmptyDiff } from '../../../src/archive/ownership-diff.js';
import type { OwnershipTable } from '../../../src/model/ownership.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('faked save files', () => {
  it('format what they parse (faked --load reads the same lines)', () => {
    const text = 'dev=fe00,ino=2147297,mode=104755,uid=1,gid=42,nlink=1,rdev=0\ndev=10303,ino=5,mode=20644,uid=0,gid=0,nlink=1,rdev=259\n';
    const entries = parseFakedSave(text);
    expect(entries[1]).toEqual({ dev: 0x10303n, ino: 5n, mode: 0o20644, uid: 0, gid: 0, nlink: 1, rdev: 259n });
    expect(formatFakedSave(entries)).toBe(text);
  });

  it('compare by content whatever the order, the last record of an inode winning', () => {
    const e = (ino: bigint, uid: number): FakedEntry => ({ dev: 1n, ino, mode: 0o100644, uid, gid: 0, nlink: 1, rdev: 0n });
    expect(canonicalSave([e(2n, 1), e(1n, 1)])).toBe(canonicalSave([e(1n, 1), e(2n, 1)]));
    expect(canonicalSave([e(1n, 5), e(1n, 1)])).toBe(canonicalSave([e(1n, 1)]));
    expect(canonicalSave([e(1n, 2)])).not.toBe(canonicalSave([e(1n, 1)]));
  });
});

describe('snapshotTable', () => {
  it('gives faked each recorded inode once with the real owner and mode, and the baseline', () => {
    const root = mkdtempSync(join(tmpdir(), 'cake-faked-save-'));
    dirs.push(root);
    writeFileSync(join(root, 'shadow'), 'x', { mode: 0o644 });
    linkSync(join(root, 'shadow'), join(root, 'shadow-link'));
    mkdirSync(join(root, 'mail'));
    symlinkSync('shadow', join(root, 'link'));
    const table: OwnershipTable = {
      shadow: { uid: 0, gid: 42, mode: 0o640 },
      'shadow-link': { uid: 0, gid: 42, mode: 0o640 },
      mail: { uid: 0, gid: 8, mode: 0o2775 },
      'dev/null': { uid: 0, gid: 0, mode: 0o666, kind: 'char', rdev: [1, 3] },
      gone: { uid: 5, gid: 5, mode: 0o600 },
    };
    const snap = snapshotTable(root, table);
    const st = lstatSync(join(root, 'shadow'), { bigint: true });
    expect(snap.entries).toHaveLength(2);
    expect(snap.entries).toContainEqual({ dev: st.dev, ino: st.ino, mode: 0o100640, uid: 0, gid: 42, nlink: 2, rdev: 0n });
    expect(snap.entries.find((e) => e.gid === 8)?.mode).toBe(0o42775);
    expect([...snap.baseline.keys()].sort()).toEqual(['mail', 'shadow', 'shadow-link']);
    expect(snap.baseline.get('shadow')).toBe(snap.baseline.get('shadow-link'));
  });
});

describe('ownership diffs', () => {
  it('carry what changed onto a table that moved on meanwhile', () => {
    const before: OwnershipTable = { a: { uid: 1, gid: 1, mode: 0o644 }, b: { uid: 0, gid: 42, mode: 0o640 }, c: { uid: 0, gid: 8, mode: 0o2775 } };
    const after: OwnershipTable = { a: { uid: 1, gid: 1, mode: 0o644 }, b: { uid: 0, gid: 42, mode: 0o600 }, d: { uid: 65534, gid: 0, mode: 0o644 } };
    const diff = diffOwnership(before, after);
    expect(diff.set.map(([k]) => k).sort()).toEqual(['b', 'd']);
    expect(diff.removed).toEqual(['c']);
    const current: OwnershipTable = { ...before, other: { uid: 7, gid: 7, mode: 0o700 } };
    applyOwnershipDiff(current, diff);
    expect(current).toEqual({ ...after, other: { uid: 7, gid: 7, mode: 0o700 } });
    expect(isEmptyDiff(diffOwnership(after, { ...after }))).toBe(true);
    expect(isEmptyDiff(diffOwnership({ x: { uid: 0, gid: 0, mode: 0, kind: 'char', rdev: [1, 3] } }, { x: { uid: 0, gid: 0, mode: 0, kind: 'char', rdev: [1, 5] } }))).toBe(false);
  });
});
