import { describe, expect, it } from 'vitest';
import { parseStanzas } from '../../../src/debian/deb822.js';
import { PACKAGE_FIELDS, PackageIndex, type PackageRecord, archSatisfied } from '../../../src/debian/package-index.js';
import { CakeError } from '../../../src/model/errors.js';
import { index, stanza } from '../../helpers/debian-index.js';

const versions = (ps: readonly PackageRecord[]): string[] => ps.map((p) => `${p.name}:${p.arch}=${p.version}`);

describe('PackageIndex records', () => {
  it('exposes the stanza fields as a PackageRecord', () => {
    const idx = index(
      stanza('curl', '7.88.1-10', {
        'Multi-Arch': 'foreign',
        'Installed-Size': '500',
        Source: 'curl (7.88.1-10)',
        Depends: 'libc6 (>= 2.34), libcurl4 (= 7.88.1-10) | libcurl-gnutls',
        'Pre-Depends': 'dpkg (>= 1.15)',
        Recommends: 'ca-certificates',
        Conflicts: 'old-curl',
        Breaks: 'foo (<< 2)',
        Replaces: 'foo (<< 2)',
        Provides: 'http-client, curl-abi (= 4)',
        Essential: 'yes',
        Priority: 'important',
      }),
    );
    const [p] = idx.byName('curl');
    expect(p).toMatchObject({
      name: 'curl',
      version: '7.88.1-10',
      arch: 'amd64',
      multiArch: 'foreign',
      essential: true,
      priority: 'important',
      filename: 'pool/main/curl_7.88.1-10.deb',
      size: 1234,
      sha256: 'ab'.repeat(32),
      installedSize: 500,
      source: 'curl',
    });
    expect(p?.depends).toEqual([
      [{ name: 'libc6', op: '>=', version: '2.34' }],
      [{ name: 'libcurl4', op: '=', version: '7.88.1-10' }, { name: 'libcurl-gnutls' }],
    ]);
    expect(p?.preDepends).toEqual([[{ name: 'dpkg', op: '>=', version: '1.15' }]]);
    expect(p?.recommends).toEqual([[{ name: 'ca-certificates' }]]);
    expect(p?.conflicts).toEqual([[{ name: 'old-curl' }]]);
    expect(p?.breaks).toEqual([[{ name: 'foo', op: '<<', version: '2' }]]);
    expect(p?.replaces).toEqual([[{ name: 'foo', op: '<<', version: '2' }]]);
    expect(p?.provides).toEqual([{ name: 'http-client' }, { name: 'curl-abi', op: '=', version: '4' }]);
  });

  it('defaults absent fields', () => {
    const idx = PackageIndex.from(parseStanzas('Package: a\nVersion: 1\nArchitecture: all\n', PACKAGE_FIELDS));
    const [p] = idx.byName('a');
    expect(p).toMatchObject({ essential: false, priority: '', filename: '', size: 0, sha256: '', provides: [] });
    expect(p?.multiArch).toBeUndefined();
    expect(p?.installedSize).toBeUndefined();
    expect(p?.depends).toEqual([]);
  });

  it('rejects a stanza without Package, Version or Architecture', () => {
    expect(() => index('Package: a\nVersion: 1')).toThrow(CakeError);
  });

  it('names the package when a relation field is malformed (parsed on first use)', () => {
    const idx = index(stanza('broken', '1.0', { Depends: 'a (>= ' }));
    const [p] = idx.byName('broken');
    let err: unknown;
    try {
      void p?.depends;
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CakeError);
    expect((err as CakeError).code).toBe('bad-archive');
    expect((err as CakeError).message).toContain('broken 1.0: Depends');
    expect(() => index(stanza('bad', '1', { Provides: 'a | b' }))).toThrow(/bad 1: Provides/);
  });
});

describe('PackageIndex lookups', () => {
  const idx = new PackageIndex();
  // Two "suites": the later one has a newer foo, and an identical bar that must not duplicate.
  idx.add(parseStanzas([stanza('foo', '1.0'), stanza('bar', '1.0'), stanza('foo', '1.0', { Architecture: 'i386' })].join('\n\n'), PACKAGE_FIELDS), 'main');
  idx.add(parseStanzas([stanza('foo', '1.2'), stanza('bar', '1.0'), stanza('foo', '1.1~rc1')].join('\n\n'), PACKAGE_FIELDS), 'updates');

  it('lists all versions of a name, newest first, without duplicates', () => {
    expect(versions(idx.byName('foo'))).toEqual(['foo:amd64=1.2', 'foo:amd64=1.1~rc1', 'foo:amd64=1.0', 'foo:i386=1.0']);
    expect(idx.byName('bar')).toHaveLength(1);
    expect(idx.byName('bar')[0]?.origin).toBe('main');
    expect(idx.byName('nope')).toEqual([]);
    expect(idx.size).toBe(5);
    expect([...idx.names()].sort()).toEqual(['bar', 'foo']);
    expect([...idx.packages()]).toHaveLength(5);
  });

  it('picks the highest version as the candidate per architecture', () => {
    expect(idx.candidate('foo', 'amd64')?.version).toBe('1.2');
    expect(idx.candidate('foo', 'amd64')?.origin).toBe('updates');
    expect(idx.candidate('foo', 'i386')?.version).toBe('1.0');
    expect(idx.candidate('foo', 'arm64')).toBeUndefined();
    const [newest, older] = idx.byName('foo');
    expect(idx.isCandidate(newest as PackageRecord)).toBe(true);
    expect(idx.isCandidate(older as PackageRecord)).toBe(false);
  });

  it('keeps older versions visible to versioned relations', () => {
    const sat = (rel: Parameters<PackageIndex['satisfying']>[0]): string[] =>
      versions(idx.satisfying(rel, { native: 'amd64' }));
    expect(sat({ name: 'foo' })).toEqual(['foo:amd64=1.2', 'foo:amd64=1.1~rc1', 'foo:amd64=1.0']);
    expect(sat({ name: 'foo', op: '<<', version: '1.1' })).toEqual(['foo:amd64=1.1~rc1', 'foo:amd64=1.0']);
    expect(sat({ name: 'foo', op: '=', version: '1.0' })).toEqual(['foo:amd64=1.0']);
    expect(sat({ name: 'foo', arch: 'i386' })).toEqual(['foo:i386=1.0']);
  });
});

describe('providers and versioned Provides', () => {
  const idx = index(
    stanza('mawk', '1.3.4', { Provides: 'awk', Priority: 'required' }),
    stanza('gawk', '5.2', { Provides: 'awk' }),
    stanza('libfoo2', '2.1-1', { Provides: 'libfoo-abi (= 2.1)' }),
    stanza('libfoo1', '1.0-1', { Provides: 'libfoo-abi (= 1.0)' }),
    stanza('awk', '0.1', { Architecture: 'all' }),
  );
  const sat = (rel: Parameters<PackageIndex['satisfying']>[0]): string[] =>
    idx.satisfying(rel, { native: 'amd64' }).map((p) => p.name);

  it('lists providers with the provided version', () => {
    expect(idx.providers('awk').map((p) => p.pkg.name)).toEqual(['mawk', 'gawk']);
    expect(idx.providers('libfoo-abi').map((p) => [p.pkg.name, p.version])).toEqual([
      ['libfoo2', '2.1'],
      ['libfoo1', '1.0'],
    ]);
  });

  it('satisfies an unversioned relation by the real package and every provider', () => {
    expect(sat({ name: 'awk' })).toEqual(['awk', 'mawk', 'gawk']);
  });

  it('satisfies a versioned relation only by versioned Provides that fit', () => {
    expect(sat({ name: 'libfoo-abi', op: '>=', version: '2' })).toEqual(['libfoo2']);
    expect(sat({ name: 'libfoo-abi' })).toEqual(['libfoo2', 'libfoo1']);
    expect(sat({ name: 'awk', op: '>=', version: '0' })).toEqual(['awk']);
  });
});

describe('Multi-Arch (dpkg rules)', () => {
  const idx = index(
    stanza('python3', '3.11', { 'Multi-Arch': 'allowed' }),
    stanza('python3', '3.11', { 'Multi-Arch': 'allowed', Architecture: 'i386' }),
    stanza('make', '4.3', { 'Multi-Arch': 'foreign' }),
    stanza('perl', '5.36'),
    stanza('libc6', '2.36', { 'Multi-Arch': 'same' }),
    stanza('libc6', '2.36', { 'Multi-Arch': 'same', Architecture: 'i386' }),
    stanza('data', '1', { Architecture: 'all' }),
    stanza('tool', '1', { Architecture: 'i386' }),
  );
  const sat = (rel: Parameters<PackageIndex['satisfying']>[0], fromArch: string, kind: 'depends' | 'conflicts' = 'depends'): string[] =>
    idx.satisfying(rel, { native: 'amd64', fromArch, kind }).map((p) => `${p.name}:${p.arch}`);

  it('same architecture only for an unqualified relation, "all" counting as native', () => {
    expect(sat({ name: 'libc6' }, 'i386')).toEqual(['libc6:i386']);
    expect(sat({ name: 'libc6' }, 'amd64')).toEqual(['libc6:amd64']);
    expect(sat({ name: 'libc6' }, 'all')).toEqual(['libc6:amd64']);
    expect(sat({ name: 'data' }, 'amd64')).toEqual(['data:all']);
    expect(sat({ name: 'data' }, 'i386')).toEqual([]);
    expect(sat({ name: 'perl' }, 'i386')).toEqual([]);
  });

  it('Multi-Arch: foreign satisfies unqualified relations from any architecture', () => {
    expect(sat({ name: 'make' }, 'i386')).toEqual(['make:amd64']);
  });

  it(':any needs Multi-Arch: allowed', () => {
    expect(sat({ name: 'python3', arch: 'any' }, 'i386')).toEqual(['python3:amd64', 'python3:i386']);
    expect(sat({ name: 'perl', arch: 'any' }, 'amd64')).toEqual([]);
    expect(sat({ name: 'make', arch: 'any' }, 'amd64')).toEqual([]);
  });

  it('explicit architectures and :native', () => {
    expect(sat({ name: 'libc6', arch: 'i386' }, 'amd64')).toEqual(['libc6:i386']);
    expect(sat({ name: 'libc6', arch: 'native' }, 'i386')).toEqual(['libc6:amd64']);
    expect(sat({ name: 'tool' }, 'amd64')).toEqual([]);
  });

  it('unqualified Conflicts apply to every architecture', () => {
    expect(sat({ name: 'perl' }, 'i386', 'conflicts')).toEqual(['perl:amd64']);
    expect(sat({ name: 'libc6', arch: 'i386' }, 'amd64', 'conflicts')).toEqual(['libc6:i386']);
  });

  it('archSatisfied is exported for callers that check a single package', () => {
    const [py] = idx.byName('python3');
    expect(archSatisfied(py as PackageRecord, { name: 'python3', arch: 'any' }, 'arm64', 'amd64', 'depends')).toBe(true);
  });
});
