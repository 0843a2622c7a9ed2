import { describe, expect, it } from 'vitest';
import { parseStanzas } from '../../../src/debian/deb822.js';
import { PACKAGE_FIELDS, PackageIndex, type PackageRecord } from '../../../src/debian/package-index.js';
import { resolve } from '../../../src/debian/resolver.js';
import { buildKey, debFileName, essentialClosure, essentialInstallOrder, groupRuns, recordKey, selectedPreDepends, type BuildInputs } from '../../../src/debian/bootstrap-plan.js';

function pkg(name: string, fields: Record<string, string> = {}): string {
  const all: Record<string, string> = {
    Package: name,
    Version: '1.0',
    Architecture: 'amd64',
    Priority: 'optional',
    Filename: `pool/${name}.deb`,
    Size: '1',
    SHA256: 'ab'.repeat(32),
    ...fields,
  };
  return Object.entries(all)
    .map(([k, v]) => `${k}: ${v}`)
    .join('\n');
}

const idx = PackageIndex.from(
  parseStanzas(
    [
      pkg('base-passwd', { Essential: 'yes', 'Pre-Depends': 'libc6' }),
      pkg('dash', { Essential: 'yes', Depends: 'libc6' }),
      pkg('libc6', { Depends: 'libgcc-s1' }),
      pkg('libgcc-s1'),
      pkg('apt', { Depends: 'libapt, gpgv | gpgv2' }),
      pkg('libapt', { Depends: 'libc6' }),
      pkg('gpgv'),
      pkg('e2fsprogs', { 'Pre-Depends': 'libext2fs' }),
      pkg('libext2fs', { Depends: 'libc6' }),
    ].join('\n\n'),
    PACKAGE_FIELDS,
  ),
);

describe('bootstrap plan', () => {
  const r = resolve(idx, { install: ['apt', 'e2fsprogs'], variant: 'essential', recommends: false, arch: 'amd64' });
  const names = (ps: readonly PackageRecord[]): string[] => ps.map((p) => p.name);

  it('finds the essential closure through Depends and Pre-Depends', () => {
    expect(names(essentialClosure(r.packages, idx, 'amd64')).sort()).toEqual(['base-passwd', 'dash', 'libc6', 'libgcc-s1']);
  });

  it('installs base-passwd first, then in the batches\' order', () => {
    const order = names(essentialInstallOrder(essentialClosure(r.packages, idx, 'amd64'), r.order));
    const batchOrder = r.order.flat().map((p) => p.name).filter((n) => ['dash', 'libc6', 'libgcc-s1'].includes(n));
    expect(order).toEqual(['base-passwd', ...batchOrder]);
  });

  it('merges batches into as few dpkg runs as Pre-Depends allow', () => {
    const ess = new Set(essentialClosure(r.packages, idx, 'amd64').map(recordKey));
    const selected = new Map(r.packages.map((p) => [recordKey(p), p]));
    const rest = r.order.map((b) => b.filter((p) => !ess.has(recordKey(p))));
    const runs = groupRuns(rest, (p) => selectedPreDepends(p, selected, idx, 'amd64'));
    expect(runs).toHaveLength(2);
    expect(names(runs[1]!)).toEqual(['e2fsprogs']);
    expect(names(runs[0]!).sort()).toEqual(['apt', 'gpgv', 'libapt', 'libext2fs']);
  });

  it('keeps one run when nothing Pre-Depends inside it', () => {
    const a = r.packages.find((p) => p.name === 'apt')!;
    const g = r.packages.find((p) => p.name === 'gpgv')!;
    expect(groupRuns([[g], [], [a]], () => [])).toEqual([[g, a]]);
    expect(groupRuns([], () => [])).toEqual([]);
  });

  it('names archives as apt does', () => {
    expect(debFileName({ name: 'passwd', version: '1:4.13+dfsg1-1', arch: 'amd64' })).toBe('passwd_1%3a4.13+dfsg1-1_amd64.deb');
  });
});

describe('buildKey', () => {
  const base: BuildInputs = {
    format: 1,
    sources: [{ mirror: 'http://deb.debian.org/debian', suite: 'bookworm', inReleaseSha256: 'a'.repeat(64) }],
    components: ['main'],
    arch: 'amd64',
    keyring: 'debian',
    variant: 'minbase',
    packages: ['less'],
    recommends: false,
    debs: ['1'.repeat(64), '2'.repeat(64)],
    fakeroot: ['3'.repeat(64)],
    sourceDateEpoch: 1783764997,
  };

  it('changes with every input and ignores the order of the .deb digests and a trailing slash', () => {
    const key = buildKey(base);
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(buildKey({ ...base, debs: [...base.debs].reverse() })).toBe(key);
    expect(buildKey({ ...base, sources: [{ ...base.sources[0]!, mirror: 'http://deb.debian.org/debian/' }] })).toBe(key);
    const changed: Partial<BuildInputs>[] = [
      { format: 2 },
      { sources: [{ ...base.sources[0]!, inReleaseSha256: 'b'.repeat(64) }] },
      { sources: [{ ...base.sources[0]!, mirror: 'http://mirror.example/debian' }] },
      { components: ['main', 'contrib'] },
      { arch: 'arm64' },
      { keyring: { file: '/k.gpg' } },
      { variant: 'essential' },
      { packages: ['less', 'curl'] },
      { recommends: true },
      { debs: ['1'.repeat(64)] },
      { fakeroot: ['4'.repeat(64)] },
      { sourceDateEpoch: 1783764998 },
    ];
    for (const c of changed) expect(buildKey({ ...base, ...c }), JSON.stringify(c)).not.toBe(key);
  });
});
