import { describe, expect, it } from 'vitest';
import { parseStanzas } from '../../../src/debian/deb822.js';
import { PACKAGE_FIELDS, PackageIndex, type PackageRecord } from '../../../src/debian/package-index.js';
import { resolve } from '../../../src/debian/resolver.js';
import { debFileName, essentialClosure, essentialInstallOrder, groupRuns, recordKey, selectedPreDepends } from '../../../src/debian/bootstrap-plan.js';

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
