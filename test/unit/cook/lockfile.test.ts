import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LockState, lockPathOf, readLock, writeLock } from '../../../src/cook/lockfile.js';
import { CakeError } from '../../../src/model/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'cake-lock-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('lock files', () => {
  it('sit next to the recipe and round-trip, written only when they change', () => {
    expect(lockPathOf('/r/web.yaml')).toBe('/r/web.lock');
    expect(lockPathOf('/r/web.yml')).toBe('/r/web.lock');
    const file = join(dir, 'a.lock');
    expect(readLock(file)).toBeUndefined();
    const lock = { version: 1 as const, from: { ref: 'debian:bookworm', kind: 'source' as const, resolved: { sha256: 'ab'.repeat(32) } }, nix: { 'nixpkgs#hello': ['/nix/store/x-hello'] } };
    expect(writeLock(file, lock)).toBe(true);
    expect(writeLock(file, lock)).toBe(false);
    expect(readFileSync(file, 'utf8')).toMatch(/^# Written by `cake cook`/);
    expect(readLock(file)).toEqual(lock);
    writeFileSync(file, 'version: 7\n');
    expect(() => readLock(file)).toThrow(/not a cake lock file/);
  });

  it('reuses pins without --locked and records what was resolved', () => {
    const old = { version: 1 as const, from: { ref: 'alpine', kind: 'source' as const, resolved: { sha256: '1' } }, nix: { 'nixpkgs#jq': ['/nix/store/a-jq'] } };
    const s = new LockState('x.lock', old, false);
    expect(s.pinnedSource('alpine')).toEqual({ sha256: '1' });
    expect(s.pinnedSource('debian')).toBeUndefined();
    expect(s.pinnedNix('nixpkgs#jq')).toEqual(['/nix/store/a-jq']);
    s.setAdd('deb:/usr/bin/jq', { '/usr/bin/jq': 'h1 755' });
    expect(s.next.add).toEqual({ 'deb:/usr/bin/jq': { '/usr/bin/jq': 'h1 755' } });
    expect(() => new LockState('x.lock', undefined, false)).not.toThrow();
  });

  it('pins a Debian base with the pull options it was built with: other options are not pinned', () => {
    const options = { packages: ['nginx-light'], variant: 'minbase' as const };
    const old = { version: 1 as const, from: { ref: 'debian:bookworm', kind: 'source' as const, options, resolved: { request: 'r1' } } };
    expect(new LockState('x.lock', old, false).pinnedSource('debian:bookworm', options)).toEqual({ request: 'r1' });
    expect(new LockState('x.lock', old, false).pinnedSource('debian:bookworm', { packages: ['nginx-light', 'cron'], variant: 'minbase' })).toBeUndefined();
    expect(new LockState('x.lock', old, false).pinnedSource('debian:bookworm')).toBeUndefined();
    expect(() => new LockState('x.lock', old, true).pinnedSource('debian:bookworm', { packages: ['cron'] })).toThrow(/--locked: debian:bookworm with \{"packages":\["cron"\]\} is not pinned in x\.lock/);
  });

  it('with --locked refuses a missing lock, missing pins and changed digests', () => {
    expect(() => new LockState('x.lock', undefined, true)).toThrow(/--locked: there is no lock file x\.lock/);
    const old = {
      version: 1 as const,
      from: { ref: 'env:base', kind: 'env' as const, tree: 'sha256:1' },
      add: { 'deb:/usr/bin/jq': { '/usr/bin/jq': 'h1 755' } },
      nix: { '/nix/store/p-x': ['/nix/store/p-x', '/nix/store/q-y'] },
      recipes: { 'tools.yaml': 'sha256:9' },
    };
    const s = new LockState('x.lock', old, true);
    const err = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        expect(e).toBeInstanceOf(CakeError);
        return (e as Error).message;
      }
      return 'no error';
    };
    expect(err(() => s.pinnedSource('alpine'))).toBe('--locked: alpine is not pinned in x.lock');
    expect(err(() => s.setFrom({ ref: 'env:base', kind: 'env', tree: 'sha256:2' }))).toBe('--locked: the base env:base has tree sha256:2, and x.lock pins sha256:1');
    expect(err(() => s.setAdd('deb:/usr/bin/jq', { '/usr/bin/jq': 'h2 755' }))).toBe('--locked: deb:/usr/bin/jq: /usr/bin/jq is h2 755, and x.lock pins h1 755');
    expect(err(() => s.setAdd('host:/bin/x', {}))).toBe('--locked: host:/bin/x is not in x.lock');
    expect(err(() => s.pinnedNix('nixpkgs#hello'))).toBe('--locked: nixpkgs#hello is not pinned in x.lock');
    expect(err(() => s.setNix('/nix/store/p-x', ['/nix/store/p-x'], true))).toBe('--locked: the closure of /nix/store/p-x differs from x.lock');
    expect(err(() => s.setRecipe('tools.yaml', 'sha256:8'))).toBe('--locked: recipe tools.yaml now gives tree sha256:8, and x.lock pins sha256:9');
    expect(err(() => s.setAdd('deb:/usr/bin/jq', { '/usr/bin/jq': 'h1 755' }))).toBe('no error');
  });
});
