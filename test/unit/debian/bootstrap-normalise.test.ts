import { lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { clampTimes, epochOfReleases, normaliseContent } from '../../../src/debian/bootstrap-normalise.js';

const roots: string[] = [];
function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'cake-normalise-'));
  roots.push(root);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(join(root, rel, '..'), { recursive: true });
    writeFileSync(join(root, rel), text);
  }
  return root;
}
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

describe('normaliseContent', () => {
  it('removes the logs, aux-cache and debconf backups; resets machine-id; clamps shadow days', () => {
    const epoch = 1783764997; // 2026-07-11
    const day = Math.floor(epoch / 86400);
    const root = tree({
      'var/log/dpkg.log': '2026-12-02 06:00:00 startup\n',
      'var/log/alternatives.log': 'update-alternatives 2026-12-02\n',
      'var/cache/ldconfig/aux-cache': 'x',
      'var/cache/debconf/config.dat': 'Name: a\n',
      'var/cache/debconf/config.dat-old': 'Name: a\n',
      'etc/machine-id': '0123456789abcdef0123456789abcdef\n',
      'etc/shadow': `root:*:${day + 500}:0:99999:7:::\nold:*:100:0:99999:7:::\nnone:*::0:99999:7:::\n`,
      'etc/passwd': 'root:x:0:0:root:/root:/bin/bash\n',
    });
    const removed = normaliseContent(root, epoch);
    expect(removed.sort()).toEqual(['var/cache/debconf/config.dat-old', 'var/cache/ldconfig/aux-cache', 'var/log/alternatives.log', 'var/log/dpkg.log']);
    expect(existsSync(join(root, 'var/cache/debconf/config.dat'))).toBe(true);
    expect(readFileSync(join(root, 'etc/machine-id'), 'utf8')).toBe('uninitialized\n');
    expect(readFileSync(join(root, 'etc/shadow'), 'utf8')).toBe(`root:*:${day}:0:99999:7:::\nold:*:100:0:99999:7:::\nnone:*::0:99999:7:::\n`);
    expect(normaliseContent(root, epoch)).toEqual([]);
  });
});

describe('clampTimes', () => {
  it('clamps later mtimes (symlinks and the root too), keeps older ones, and sets every directory to the epoch', () => {
    const root = tree({ 'new': 'n', 'old': 'o', 'd/f': 'f', 'olddir/x': 'x' });
    symlinkSync('new', join(root, 'link'));
    utimesSync(join(root, 'old'), 1000, 1000);
    utimesSync(join(root, 'olddir/x'), 1000, 1000);
    utimesSync(join(root, 'olddir'), 1000, 1000);
    const epoch = 1_700_000_000;
    expect(clampTimes(root, epoch)).toBe(6); // new, d, d/f, link, olddir, the root
    for (const rel of ['new', 'd', 'd/f', 'link', 'olddir', '.']) expect(lstatSync(join(root, rel)).mtimeMs, rel).toBe(epoch * 1000);
    expect(lstatSync(join(root, 'old')).mtimeMs).toBe(1000 * 1000);
    expect(lstatSync(join(root, 'olddir/x')).mtimeMs).toBe(1000 * 1000);
    expect(clampTimes(root, epoch)).toBe(0);
  });
});

describe('SOURCE_DATE_EPOCH', () => {
  it('derives one from the Release dates', () => {
    expect(epochOfReleases(['2026-07-11T10:16:37.000Z', undefined, '2026-11-30T00:22:33.000Z'])).toBe(Date.parse('2026-11-30T00:22:33Z') / 1000);
    expect(epochOfReleases([undefined])).toBe(0);
  });
});
