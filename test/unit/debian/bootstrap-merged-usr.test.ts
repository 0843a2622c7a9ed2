import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { mergedUsrDirs, mergedUsrPath, mergeUsr } from '../../../src/debian/bootstrap-merged-usr.js';
import type { OwnershipTable } from '../../../src/model/ownership.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'cake-usrmerge-'));
  dirs.push(d);
  return d;
}

describe('mergedUsrPath', () => {
  const d = mergedUsrDirs('amd64');
  it('rewrites paths under the aliased dirs', () => {
    expect(mergedUsrPath('bin/ls', d)).toBe('usr/bin/ls');
    expect(mergedUsrPath('sbin', d)).toBe('usr/sbin');
    expect(mergedUsrPath('lib/x86_64-linux-gnu/libc.so.6', d)).toBe('usr/lib/x86_64-linux-gnu/libc.so.6');
    expect(mergedUsrPath('lib64/ld-linux-x86-64.so.2', d)).toBe('usr/lib64/ld-linux-x86-64.so.2');
  });
  it('leaves everything else alone', () => {
    expect(mergedUsrPath('usr/bin/ls', d)).toBe('usr/bin/ls');
    expect(mergedUsrPath('binaries/x', d)).toBe('binaries/x');
    expect(mergedUsrPath('etc/bin/x', d)).toBe('etc/bin/x');
    expect(mergedUsrPath('lib64/x', mergedUsrDirs('arm64'))).toBe('lib64/x');
  });
  it('knows the multilib dirs per architecture', () => {
    expect(mergedUsrDirs('arm64')).toEqual(['bin', 'sbin', 'lib']);
    expect(mergedUsrDirs('amd64')).toContain('lib64');
    expect(mergedUsrDirs('ppc64el')).toEqual(['bin', 'sbin', 'lib', 'lib64']);
  });
});

describe('mergeUsr', () => {
  it('moves /bin, /lib content into /usr and leaves symlinks, with ownership records', () => {
    const root = tmp();
    mkdirSync(join(root, 'bin'));
    mkdirSync(join(root, 'lib/x86_64-linux-gnu'), { recursive: true });
    mkdirSync(join(root, 'lib64'));
    mkdirSync(join(root, 'usr/lib/x86_64-linux-gnu'), { recursive: true });
    writeFileSync(join(root, 'bin/bash'), 'bash');
    symlinkSync('bash', join(root, 'bin/sh'));
    writeFileSync(join(root, 'lib/x86_64-linux-gnu/libc.so.6'), 'libc');
    writeFileSync(join(root, 'usr/lib/x86_64-linux-gnu/libz.so'), 'z');
    symlinkSync('/lib/x86_64-linux-gnu/ld.so', join(root, 'lib64/ld-linux-x86-64.so.2'));
    const table: OwnershipTable = { 'bin/bash': { uid: 0, gid: 42, mode: 0o2755 }, bin: { uid: 0, gid: 0, mode: 0o700 } };
    const r = mergeUsr(root, mergedUsrDirs('amd64'), table);
    expect(r.linked).toEqual(['bin', 'sbin', 'lib', 'lib64']);
    for (const d of r.linked) expect(readlinkSync(join(root, d))).toBe(`usr/${d}`);
    expect(lstatSync(join(root, 'lib32'), { throwIfNoEntry: false })).toBeUndefined();
    expect(lstatSync(join(root, 'usr/lib32'), { throwIfNoEntry: false })).toBeUndefined();
    expect(readFileSync(join(root, 'usr/bin/bash'), 'utf8')).toBe('bash');
    expect(readlinkSync(join(root, 'usr/bin/sh'))).toBe('bash');
    expect(readFileSync(join(root, 'usr/lib/x86_64-linux-gnu/libc.so.6'), 'utf8')).toBe('libc');
    expect(readFileSync(join(root, 'usr/lib/x86_64-linux-gnu/libz.so'), 'utf8')).toBe('z');
    expect(lstatSync(join(root, 'usr/sbin')).isDirectory()).toBe(true);
    expect(table).toEqual({ 'usr/bin/bash': { uid: 0, gid: 42, mode: 0o2755 } });
    expect(r.conflicts).toEqual([]);
  });

  it('keeps the /usr copy on a clash and is idempotent', () => {
    const root = tmp();
    mkdirSync(join(root, 'bin'));
    mkdirSync(join(root, 'usr/bin'), { recursive: true });
    writeFileSync(join(root, 'bin/x'), 'old');
    writeFileSync(join(root, 'usr/bin/x'), 'usr');
    const table: OwnershipTable = {};
    const r = mergeUsr(root, ['bin', 'sbin', 'lib'], table);
    expect(r.conflicts).toEqual(['bin/x']);
    expect(readFileSync(join(root, 'bin/x'), 'utf8')).toBe('usr');
    const again = mergeUsr(root, ['bin', 'sbin', 'lib'], table);
    expect(again).toEqual({ linked: ['bin', 'sbin', 'lib'], moved: 0, conflicts: [] });
  });

  it('never follows a symlink in the tree', () => {
    const root = tmp();
    const outside = tmp();
    mkdirSync(join(root, 'bin'));
    mkdirSync(join(root, 'usr'));
    symlinkSync(outside, join(root, 'usr/bin'));
    writeFileSync(join(root, 'bin/x'), 'x');
    mergeUsr(root, ['bin'], {});
    expect(lstatSync(join(root, 'usr/bin')).isDirectory()).toBe(true);
    expect(readFileSync(join(root, 'usr/bin/x'), 'utf8')).toBe('x');
    expect(lstatSync(join(outside, 'x'), { throwIfNoEntry: false })).toBeUndefined();
  });
});
