import { bookwormMainAmd64, bookwormSuites, INDEX_TIMEOUT_MS } from '../../helpers/bookworm-index.js';
import { toPackageIndex } from '../../../src/debian/archive-client.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseStanzas } from '../../../src/debian/deb822.js';
import { PACKAGE_FIELDS, PackageIndex, type PackageRecord } from '../../../src/debian/package-index.js';
import { type ResolveRequest, type Resolution, parseRequest, resolve } from '../../../src/debian/resolver.js';
import { CakeError } from '../../../src/model/errors.js';
import { index, stanza as pkg } from '../../helpers/debian-index.js';

function run(idx: PackageIndex, install: string[], more: Partial<ResolveRequest> = {}): Resolution {
  return resolve(idx, { install, variant: 'none', recommends: false, arch: 'amd64', ...more });
}

const names = (r: Resolution): string[] => r.packages.map((p) => p.name);

function failure(fn: () => unknown): CakeError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CakeError);
    expect((e as CakeError).code).toBe('resolver');
    return e as CakeError;
  }
  throw new Error('expected the resolver to fail');
}

const batchOf = (r: Resolution, name: string): number => r.order.findIndex((b) => b.some((p) => p.name === name));

describe('requests', () => {
  const idx = index(pkg('foo', '1.0'), pkg('foo', '2.0'), pkg('foo', '1.5', { Architecture: 'i386' }));

  it('installs the candidate (newest) version by default', () => {
    expect(run(idx, ['foo']).packages.map((p) => p.version)).toEqual(['2.0']);
  });

  it('honours name=version and name:arch', () => {
    expect(run(idx, ['foo=1.0']).packages.map((p) => p.version)).toEqual(['1.0']);
    expect(run(idx, ['foo:i386']).packages.map((p) => `${p.arch} ${p.version}`)).toEqual(['i386 1.5']);
    expect(run(idx, ['foo:i386=1.5']).packages).toHaveLength(1);
  });

  it('parses requests and rejects nonsense', () => {
    expect(parseRequest('libc6:i386=2.36-9')).toEqual({ name: 'libc6', arch: 'i386', op: '=', version: '2.36-9' });
    expect(failure(() => run(idx, ['foo bar'])).message).toContain("bad package request 'foo bar'");
  });

  it('fails clearly for an unknown package or version', () => {
    expect(failure(() => run(idx, ['nosuch'])).message).toBe('cannot install nosuch: nosuch is not available');
    expect(failure(() => run(idx, ['foo=3'])).message).toBe(
      'cannot install foo=3: only foo 2.0, foo 1.5, foo 1.0 are available',
    );
  });
});

describe('alternatives', () => {
  it('prefers an alternative that is already selected', () => {
    const idx = index(pkg('a', '1', { Depends: 'x | y' }), pkg('b', '1', { Depends: 'y' }), pkg('x', '1'), pkg('y', '1'));
    expect(names(run(idx, ['b', 'a']))).toEqual(['a', 'b', 'y']);
    expect(names(run(idx, ['a', 'b']))).toEqual(['a', 'b', 'y']);
    expect(names(run(idx, ['a']))).toEqual(['a', 'x']);
  });

  it('prefers an alternative that is explicitly requested', () => {
    const idx = index(pkg('a', '1', { Depends: 'x | y' }), pkg('x', '1'), pkg('y', '1'));
    expect(names(run(idx, ['a', 'y']))).toEqual(['a', 'y']);
  });

  it('takes the first listed alternative otherwise, whatever the priorities', () => {
    const idx = index(pkg('a', '1', { Depends: 'x | y' }), pkg('x', '1'), pkg('y', '1', { Priority: 'required' }));
    expect(names(run(idx, ['a']))).toEqual(['a', 'x']);
  });

  it('picks the provider of a virtual package by priority (awk -> mawk, as apt does)', () => {
    const idx = index(
      pkg('base-files', '12', { 'Pre-Depends': 'awk' }),
      pkg('gawk', '5.2', { Provides: 'awk', Depends: 'libgawk' }),
      pkg('libgawk', '5.2'),
      pkg('original-awk', '2012', { Provides: 'awk' }),
      pkg('mawk', '1.3.4', { Provides: 'awk', Priority: 'required' }),
    );
    const r = run(idx, ['base-files']);
    expect(names(r)).toEqual(['base-files', 'mawk']);
    expect(r.reasons.get('mawk')).toBe('Pre-Depends of base-files 12: awk');
  });

  it("breaks priority ties between providers as apt does: the higher package ID (the name apt's cache met last), not the first name", () => {
    const later = index(pkg('a', '1', { Depends: 'v' }), pkg('zz', '1', { Provides: 'v' }), pkg('bb', '1', { Provides: 'v' }));
    expect(names(run(later, ['a']))).toEqual(['a', 'bb']);
    const earlier = index(pkg('a', '1', { Depends: 'v' }), pkg('bb', '1', { Provides: 'v' }), pkg('zz', '1', { Provides: 'v' }));
    expect(names(run(earlier, ['a']))).toEqual(['a', 'zz']);
    // a name mentioned early (here as a Conflicts target) has a low ID even if its stanza comes last
    const mentioned = index(pkg('a', '1', { Depends: 'v', Conflicts: 'zz (<< 0)' }), pkg('bb', '1', { Provides: 'v' }), pkg('zz', '1', { Provides: 'v' }));
    expect(mentioned.aptId('zz')).toBeLessThan(mentioned.aptId('bb'));
    expect(names(run(mentioned, ['a']))).toEqual(['a', 'bb']);
    // deterministic: the same index gives the same answer
    expect(names(run(earlier, ['a']))).toEqual(['a', 'zz']);
  });

  it('ranks Priority after native architecture, and Essential before both (apt\'s CompareProviders order)', () => {
    const idx = index(
      pkg('a', '1', { Depends: 'v' }),
      pkg('ess', '1', { Provides: 'v', Essential: 'yes', Priority: 'optional' }),
      pkg('req', '1', { Provides: 'v', Priority: 'required' }),
    );
    expect(names(run(idx, ['a']))).toEqual(['a', 'ess']);
  });

  it('a request naming only a virtual package takes the same provider a dependency would', () => {
    const v = index(pkg('lynx', '2.9', { Provides: 'www-browser' }), pkg('w3m', '0.5', { Provides: 'www-browser' }));
    const r = run(v, ['www-browser']);
    expect(names(r)).toEqual(['w3m']);
    expect(r.notes).toEqual(['www-browser is a virtual package: installing w3m; other providers: lynx (name one to choose it)']);
  });

  it('falls back to an older version when a versioned relation needs it', () => {
    const idx = index(pkg('a', '1', { Depends: 'lib (<< 2)' }), pkg('lib', '1.5'), pkg('lib', '2.0'));
    expect(run(idx, ['a']).packages.map((p) => `${p.name} ${p.version}`)).toEqual(['a 1', 'lib 1.5']);
  });
});

describe('versioned Provides', () => {
  it('a versioned Provides satisfies a versioned dependency', () => {
    const idx = index(
      pkg('app', '1', { Depends: 'libfoo-abi (>= 2)' }),
      pkg('libfoo1', '1.0', { Provides: 'libfoo-abi (= 1.0)' }),
      pkg('libfoo2', '2.1', { Provides: 'libfoo-abi (= 2.1)' }),
    );
    expect(names(run(idx, ['app']))).toEqual(['app', 'libfoo2']);
  });

  it('an unversioned Provides does not satisfy a versioned dependency', () => {
    const idx = index(pkg('app', '1', { Depends: 'foo (>= 1)' }), pkg('bar', '1', { Provides: 'foo' }));
    const e = failure(() => run(idx, ['app']));
    expect(e.message).toBe('cannot install app: app 1 needs foo (>= 1), but bar provide foo without a version');
    const withReal = index(pkg('app', '1', { Depends: 'foo (>= 1)' }), pkg('bar', '1', { Provides: 'foo' }), pkg('foo', '1.0'));
    expect(names(run(withReal, ['app']))).toEqual(['app', 'foo']);
  });
});

describe('conflicts and breaks', () => {
  it('backtracks out of an alternative whose consequences conflict later', () => {
    // a needs x|y and m; x (two levels down) conflicts with both choices m offers. A greedy
    // resolver commits to x and fails; this one learns that x cannot work and takes y.
    const idx = index(
      pkg('a', '1', { Depends: 'x | y, m' }),
      pkg('x', '1', { Depends: 'xx' }),
      pkg('xx', '1', { Conflicts: 'n1, n2' }),
      pkg('y', '1'),
      pkg('m', '1', { Depends: 'n1 | n2' }),
      pkg('n1', '1'),
      pkg('n2', '1'),
    );
    expect(names(run(idx, ['a']))).toEqual(['a', 'm', 'n1', 'y']);
  });

  it('takes the other alternative when the first conflicts with a requested package', () => {
    const idx = index(
      pkg('a', '1', { Depends: 'x | y' }),
      pkg('x', '1', { Depends: 'z' }),
      pkg('z', '1', { Conflicts: 'b' }),
      pkg('y', '1'),
      pkg('b', '1'),
    );
    expect(names(run(idx, ['a', 'b']))).toEqual(['a', 'b', 'y']);
  });

  it('honours Breaks, versioned or not, declared on either side', () => {
    const base = [pkg('a', '1', { Depends: 'x | y' }), pkg('y', '1')];
    expect(names(run(index(...base, pkg('x', '1'), pkg('b', '1', { Breaks: 'x (<< 2)' })), ['a', 'b']))).toEqual(['a', 'b', 'y']);
    expect(names(run(index(...base, pkg('x', '2'), pkg('b', '1', { Breaks: 'x (<< 2)' })), ['a', 'b']))).toEqual(['a', 'b', 'x']);
    expect(names(run(index(...base, pkg('x', '1', { Breaks: 'b' }), pkg('b', '1')), ['a', 'b']))).toEqual(['a', 'b', 'y']);
  });

  it('ignores a self-conflict through a provided virtual package, but not between providers', () => {
    const mta = { Provides: 'mail-transport-agent', Conflicts: 'mail-transport-agent', Replaces: 'mail-transport-agent' };
    const idx = index(
      pkg('postfix', '3.7', mta),
      pkg('exim4-daemon-light', '4.96', { ...mta, Priority: 'standard' }),
      pkg('mailer', '1', { Depends: 'mail-transport-agent' }),
    );
    expect(names(run(idx, ['postfix']))).toEqual(['postfix']);
    expect(names(run(idx, ['mailer']))).toEqual(['exim4-daemon-light', 'mailer']);
    expect(names(run(idx, ['mailer', 'postfix']))).toEqual(['mailer', 'postfix']);
    const e = failure(() => run(idx, ['postfix', 'exim4-daemon-light']));
    expect(e.message).toContain('conflicts with');
  });

  it('explains a conflict between two requested closures', () => {
    const idx = index(pkg('a', '1', { Depends: 'x' }), pkg('x', '1', { Conflicts: 'y' }), pkg('b', '1', { Depends: 'y' }), pkg('y', '1'));
    const e = failure(() => run(idx, ['a', 'b']));
    expect(e.message).toMatch(/^cannot install b: b 1 -> y 1, but x 1 \(via a 1\) conflicts with it \(Conflicts: y\)$/);
  });
});

describe('unsatisfiable requests', () => {
  it('explains a missing version in one step', () => {
    const idx = index(pkg('foo', '1.0', { Depends: 'bar (>= 2)' }), pkg('bar', '1.5'));
    expect(failure(() => run(idx, ['foo'])).message).toBe(
      'cannot install foo: foo 1.0 needs bar (>= 2), but only bar 1.5 is available',
    );
  });

  it('explains a deeper chain', () => {
    const idx = index(
      pkg('a', '1.0', { Depends: 'b' }),
      pkg('b', '1.0', { Depends: 'c (>= 2)' }),
      pkg('c', '1.5'),
      pkg('unrelated', '1'),
    );
    const e = failure(() => run(idx, ['unrelated', 'a']));
    expect(e.message).toBe('cannot install a: a 1.0 -> b 1.0 -> c (>= 2), but only c 1.5 is available');
    expect(e.hint).toBeTruthy();
  });

  it('explains every failing alternative', () => {
    const idx = index(pkg('a', '1', { Depends: 'b | c' }), pkg('b', '1', { Depends: 'gone' }), pkg('c', '1', { Depends: 'd' }), pkg('d', '1', { Depends: 'e:any' }), pkg('e', '1'));
    expect(failure(() => run(idx, ['a'])).message).toBe(
      'cannot install a: a 1 needs b | c, but b 1 needs gone, but gone is not available; c 1 -> d 1 -> e:any, but e is not Multi-Arch: allowed',
    );
  });

  it('reports a failing essential package of a variant', () => {
    const idx = index(pkg('dpkg', '1.21', { Essential: 'yes', Priority: 'required', Depends: 'libmissing' }));
    expect(failure(() => run(idx, [], { variant: 'essential' })).message).toBe(
      'cannot install dpkg (Essential: yes): dpkg 1.21 needs libmissing, but libmissing is not available',
    );
  });
});

describe('search', () => {
  it('summarises a failure that only a search can find', () => {
    const idx = index(
      pkg('a', '1', { Depends: 'x1 | x2' }),
      pkg('b', '1', { Depends: 'y1 | y2' }),
      pkg('x1', '1', { Conflicts: 'y1, y2' }),
      pkg('x2', '1', { Conflicts: 'y1, y2' }),
      pkg('y1', '1'),
      pkg('y2', '1'),
    );
    const e = failure(() => run(idx, ['a', 'b']));
    expect(e.message).toMatch(/^cannot install a, b: every combination of alternatives runs into a conflict \(among others: x\d 1 conflicts y\d 1/);
  });

  it('jumps back to the choice that caused a conflict instead of trying every combination', () => {
    // 30 two-way choices, then a requirement that only rules out the very first choice made.
    const stanzas = [pkg('w', '1', { Conflicts: 'p1' })];
    const deps: string[] = [];
    for (let i = 1; i <= 30; i++) {
      deps.push(`p${i} | q${i}`);
      stanzas.push(pkg(`p${i}`, '1'), pkg(`q${i}`, '1'));
    }
    // `mid | bad` is only decided after all the p/q choices; mid leads to w, which rules out p1.
    stanzas.push(
      pkg('top', '1', { Depends: `${deps.join(', ')}, mid | bad` }),
      pkg('mid', '1', { Depends: 'w' }),
      pkg('bad', '1', { Conflicts: 'p1, q1' }),
    );
    const r = run(index(...stanzas), ['top']);
    expect(names(r)).toContain('q1');
    expect(names(r)).not.toContain('p1');
    expect(names(r)).toContain('p30');
    expect(r.packages).toHaveLength(33);
  });
});

describe('recommends', () => {
  const idx = index(
    pkg('a', '1', { Recommends: 'r, missing, t, c' }),
    pkg('r', '1'),
    pkg('t', '1', { Depends: 'also-missing' }),
    pkg('c', '1', { Conflicts: 'a' }),
  );

  it('installs the recommends that can be installed and skips the rest', () => {
    const r = run(idx, ['a'], { recommends: true });
    expect(names(r)).toEqual(['a', 'r']);
    expect(r.reasons.get('r')).toBe('Recommends of a 1: r');
  });

  it('ignores recommends when not asked for', () => {
    expect(names(run(idx, ['a']))).toEqual(['a']);
  });

  it('never lets a recommends break a hard dependency', () => {
    const idx2 = index(
      pkg('a', '1', { Recommends: 'r', Depends: 'p | q' }),
      pkg('r', '1', { Depends: 's' }),
      pkg('s', '1', { Conflicts: 'p, q' }),
      pkg('p', '1'),
      pkg('q', '1'),
    );
    expect(names(run(idx2, ['a'], { recommends: true }))).toEqual(['a', 'p']);
  });
});

describe('Multi-Arch', () => {
  const idx = index(
    pkg('python3', '3.11', { 'Multi-Arch': 'allowed' }),
    pkg('perl', '5.36'),
    pkg('make', '4.3', { 'Multi-Arch': 'foreign' }),
    pkg('libc6', '2.36', { 'Multi-Arch': 'same' }),
    pkg('libc6', '2.36', { 'Multi-Arch': 'same', Architecture: 'i386' }),
    pkg('tool', '1', { Architecture: 'i386', Depends: 'python3:any, make, libc6' }),
    pkg('bad', '1', { Depends: 'perl:any' }),
    pkg('py-or-perl', '1', { Depends: 'perl:any | python3:any' }),
  );

  it(':any is satisfied by Multi-Arch: allowed, foreign by any arch, the rest same-arch', () => {
    const r = run(idx, ['tool:i386']);
    expect(r.packages.map((p) => `${p.name}:${p.arch}`)).toEqual(['libc6:i386', 'make:amd64', 'python3:amd64', 'tool:i386']);
  });

  it(':any is not satisfied by a package that is not Multi-Arch: allowed', () => {
    expect(failure(() => run(idx, ['bad'])).message).toBe(
      'cannot install bad: bad 1 needs perl:any, but perl is not Multi-Arch: allowed',
    );
    expect(names(run(idx, ['py-or-perl']))).toEqual(['py-or-perl', 'python3']);
  });

  it('installs Multi-Arch: same packages side by side', () => {
    const r = run(idx, ['libc6', 'libc6:i386']);
    expect(r.packages.map((p) => `${p.name}:${p.arch}`)).toEqual(['libc6:amd64', 'libc6:i386']);
    expect([...r.reasons.keys()].sort()).toEqual(['libc6', 'libc6:i386']);
  });
});

describe('installation order', () => {
  it('puts Pre-Depends (and what they depend on) in earlier batches', () => {
    const idx = index(pkg('a', '1', { 'Pre-Depends': 'b', Depends: 'd' }), pkg('b', '1', { Depends: 'c' }), pkg('c', '1'), pkg('d', '1'));
    const r = run(idx, ['a']);
    expect(batchOf(r, 'b')).toBeLessThan(batchOf(r, 'a'));
    expect(batchOf(r, 'c')).toBeLessThanOrEqual(batchOf(r, 'b'));
    expect(batchOf(r, 'd')).toBeLessThanOrEqual(batchOf(r, 'a'));
    expect(r.order.flat()).toHaveLength(4);
  });

  it('terminates on dependency cycles and still orders them', () => {
    const idx = index(
      pkg('a', '1', { Depends: 'b' }),
      pkg('b', '1', { Depends: 'a', 'Pre-Depends': 'c' }),
      pkg('c', '1', { Depends: 'd' }),
      pkg('d', '1', { Depends: 'c' }),
      pkg('e', '1', { 'Pre-Depends': 'e2' }),
      pkg('e2', '1', { 'Pre-Depends': 'e' }),
    );
    const r = run(idx, ['a', 'e']);
    expect(names(r)).toEqual(['a', 'b', 'c', 'd', 'e', 'e2']);
    expect(batchOf(r, 'a')).toBe(batchOf(r, 'b'));
    expect(batchOf(r, 'c')).toBe(batchOf(r, 'd'));
    expect(batchOf(r, 'c')).toBeLessThan(batchOf(r, 'b'));
    expect(r.order.flat()).toHaveLength(6);
  });

  it('puts the essential set first', () => {
    const idx = index(
      pkg('app', '1'),
      pkg('dpkg', '1', { Essential: 'yes', Priority: 'required', Depends: 'libc6' }),
      pkg('libc6', '1', { Priority: 'required' }),
    );
    const r = run(idx, ['app', 'dpkg']);
    expect(batchOf(r, 'dpkg')).toBe(0);
    expect(batchOf(r, 'libc6')).toBe(0);
    expect(batchOf(r, 'app')).toBe(1);
  });
});

describe('variants', () => {
  const idx = index(
    pkg('base-files', '12', { Essential: 'yes', Priority: 'required', 'Pre-Depends': 'awk' }),
    pkg('mawk', '1.3', { Priority: 'required', Provides: 'awk' }),
    pkg('gawk', '5', { Provides: 'awk' }),
    pkg('dpkg', '1.21', { Essential: 'yes', Priority: 'required', Depends: 'libc6' }),
    pkg('libc6', '2.36', { Priority: 'optional' }),
    pkg('req-tool', '1', { Priority: 'required' }),
    pkg('apt', '2.6', { Priority: 'important', Depends: 'libapt' }),
    pkg('libapt', '2.6', { Priority: 'optional' }),
    pkg('imp', '1', { Priority: 'important' }),
    pkg('std', '1', { Priority: 'standard' }),
    pkg('opt', '1'),
    pkg('req-other-arch', '1', { Priority: 'required', Architecture: 'arm64' }),
  );
  const variant = (v: ResolveRequest['variant']): string[] => names(run(idx, [], { variant: v }));

  it('essential: Essential packages and their dependencies', () => {
    expect(variant('essential')).toEqual(['base-files', 'dpkg', 'libc6', 'mawk']);
  });

  it('minbase: + Priority: required and apt', () => {
    expect(variant('minbase')).toEqual(['apt', 'base-files', 'dpkg', 'libapt', 'libc6', 'mawk', 'req-tool']);
  });

  it('standard: + important and standard', () => {
    expect(variant('standard')).toEqual(['apt', 'base-files', 'dpkg', 'imp', 'libapt', 'libc6', 'mawk', 'req-tool', 'std']);
  });

  it('none: only what is asked', () => {
    expect(variant('none')).toEqual([]);
  });

  it('records why each package is in', () => {
    const r = run(idx, ['opt'], { variant: 'minbase' });
    expect(r.reasons.get('base-files')).toBe('base-files (Essential: yes)');
    expect(r.reasons.get('req-tool')).toBe('req-tool (Priority: required)');
    expect(r.reasons.get('apt')).toBe('apt (minbase)');
    expect(r.reasons.get('opt')).toBe('opt');
    expect(r.reasons.get('libapt')).toBe('Depends of apt 2.6: libapt');
  });
});

/** Every Depends/Pre-Depends group of every selected package has a satisfier in the selection. */
function unsatisfied(idx: PackageIndex, selected: readonly PackageRecord[]): string[] {
  const chosen = new Set(selected);
  const out: string[] = [];
  for (const p of selected) {
    for (const group of [...p.preDepends, ...p.depends]) {
      const ok = group.some((rel) => idx.satisfying(rel, { native: 'amd64', fromArch: p.arch }).some((q) => chosen.has(q)));
      if (!ok) out.push(`${p.name}: ${JSON.stringify(group)}`);
    }
  }
  return out;
}

function conflicting(idx: PackageIndex, selected: readonly PackageRecord[]): string[] {
  const chosen = new Set(selected);
  const out: string[] = [];
  for (const p of selected) {
    for (const group of [...p.conflicts, ...p.breaks]) {
      for (const rel of group) {
        for (const q of idx.satisfying(rel, { native: 'amd64', fromArch: p.arch, kind: 'conflicts' })) {
          if (q !== p && q.name !== p.name && chosen.has(q)) out.push(`${p.name} x ${q.name}`);
        }
      }
    }
  }
  return out;
}

/** Pre-Depends must be in an earlier batch, Depends in the same or an earlier one. */
function orderViolations(idx: PackageIndex, r: Resolution): string[] {
  const batch = new Map<PackageRecord, number>();
  r.order.forEach((b, i) => b.forEach((p) => batch.set(p, i)));
  const out: string[] = [];
  for (const p of r.packages) {
    const at = batch.get(p) as number;
    for (const [groups, pre] of [[p.preDepends, true], [p.depends, false]] as const) {
      for (const rel of groups.flat()) {
        for (const q of idx.satisfying(rel, { native: 'amd64', fromArch: p.arch })) {
          const qa = batch.get(q);
          if (qa !== undefined && (pre ? qa >= at : qa > at)) out.push(`${p.name} -> ${q.name}`);
        }
      }
    }
  }
  return out;
}

describe('version pins, NAME/SUITE and virtual requests', () => {
  // bookworm's openssh: the point release has u9, the security suite u10; each binary needs its own client version
  const ssh = (v: string): string[] => [
    pkg('openssh-server', `1:9.2p1-2+deb12${v}`, { Depends: `openssh-client (= 1:9.2p1-2+deb12${v}), openssh-sftp-server, libc6` }),
    pkg('openssh-sftp-server', `1:9.2p1-2+deb12${v}`, { Depends: `openssh-client (= 1:9.2p1-2+deb12${v})` }),
    pkg('openssh-client', `1:9.2p1-2+deb12${v}`, { Depends: 'libc6' }),
  ];
  const idx = index(...ssh('u9'), ...ssh('u10'), pkg('libc6', '2.36-9'));

  it('a pin pulls matching older versions through unversioned dependencies', () => {
    const r = run(idx, ['openssh-server=1:9.2p1-2+deb12u9']);
    expect(r.packages.map((p) => `${p.name} ${p.version}`)).toEqual([
      'libc6 2.36-9',
      'openssh-client 1:9.2p1-2+deb12u9',
      'openssh-server 1:9.2p1-2+deb12u9',
      'openssh-sftp-server 1:9.2p1-2+deb12u9',
    ]);
    // unpinned: the candidates
    expect(run(idx, ['openssh-server']).packages.filter((p) => p.name.startsWith('openssh')).map((p) => p.version)).toEqual(Array(3).fill('1:9.2p1-2+deb12u10'));
  });

  it('NAME/SUITE takes the version of that suite; a NotAutomatic suite is used only when asked', () => {
    const bp = new PackageIndex();
    bp.add(parseStanzas([pkg('nginx', '1.22.1-9'), pkg('libc6', '2.36-9')].join('\n\n'), PACKAGE_FIELDS), undefined, { suite: 'bookworm' });
    bp.add(parseStanzas([pkg('nginx', '1.26.0-1~bpo12+1', { Depends: 'libc6 (>= 2.36)' }), pkg('only-bp', '1.0')].join('\n\n'), PACKAGE_FIELDS), undefined, { suite: 'bookworm-backports', notAutomatic: true });
    expect(bp.candidate('nginx', 'amd64')?.version).toBe('1.22.1-9');
    expect(bp.candidate('only-bp', 'amd64')?.version).toBe('1.0');
    expect(run(bp, ['nginx']).packages.map((p) => p.version)).toEqual(['1.22.1-9']);
    expect(run(bp, ['nginx/bookworm-backports']).packages.map((p) => `${p.name} ${p.version}`)).toEqual(['libc6 2.36-9', 'nginx 1.26.0-1~bpo12+1']);
    expect(parseRequest('nginx/bookworm-backports')).toEqual({ name: 'nginx', release: 'bookworm-backports' });
    // a version listed in two suites (a point release's, in bookworm and bookworm-updates) is found under either
    bp.add(parseStanzas([pkg('nginx', '1.22.1-9'), pkg('tzdata', '2024a')].join('\n\n'), PACKAGE_FIELDS), undefined, { suite: 'bookworm-updates' });
    expect(run(bp, ['nginx/bookworm-updates']).packages.map((p) => `${p.name} ${p.version}`)).toEqual(['nginx 1.22.1-9']);
    expect(failure(() => run(bp, ['only-bp/bookworm-updates'])).hint).toBe('only-bp is in bookworm-backports (1.0)');
    const err = failure(() => run(bp, ['nginx/trixie']));
    expect(err.message).toBe('nginx/trixie: nginx is not in trixie');
    expect(err.hint).toBe('nginx is in bookworm-backports (1.26.0-1~bpo12+1), bookworm (1.22.1-9), bookworm-updates (1.22.1-9)');
  });

  it('a request naming only a virtual package says which provider it picked and lists the others', () => {
    const v = index(pkg('w3m', '0.5', { Provides: 'www-browser' }), pkg('lynx', '2.9', { Provides: 'www-browser' }), pkg('chromium', '120', { Provides: 'www-browser' }));
    const r = run(v, ['www-browser']);
    expect(names(r)).toEqual(['chromium']);
    expect(r.notes).toEqual(['www-browser is a virtual package: installing chromium; other providers: lynx, w3m (name one to choose it)']);
    expect(run(v, ['lynx']).notes).toEqual([]);
  });
});

describe('the real bookworm main amd64 index', () => {
  let text = '';
  let idx: PackageIndex;
  beforeAll(async () => {
    text = await bookwormMainAmd64();
  }, INDEX_TIMEOUT_MS);

  it('parses and indexes', () => {
    const start = performance.now();
    idx = PackageIndex.from(parseStanzas(text, PACKAGE_FIELDS));
    console.log(`bookworm: parsed and indexed ${idx.size} packages in ${(performance.now() - start).toFixed(0)} ms`);
    expect(idx.size).toBeGreaterThan(60000);
  });

  it("picks the providers bookworm's apt picks where only the package ID breaks the tie", () => {
    // apt-get -s on bookworm: zutty for x-terminal-emulator (not alacritty, the first by name),
    // php8.2-phpdbg for phpapi-20220829 (not libapache2-mod-php8.2 with Apache)
    const first = (v: string): string | undefined => /installing ([^,;]+)/.exec(resolve(idx, { variant: 'none', install: [v], recommends: false, arch: 'amd64' }).notes[0] ?? '')?.[1];
    expect(first('x-terminal-emulator')).toBe('zutty');
    expect(first('phpapi-20220829')).toBe('php8.2-phpdbg');
  });

  it.each([
    ['essential', [], false],
    ['minbase', [], false],
    ['minbase', ['openssh-server', 'curl', 'systemd', 'python3'], false],
    ['minbase', ['openssh-server', 'curl', 'systemd', 'python3'], true],
    ['standard', [], false],
  ] as const)('resolves %s + %j (recommends: %s) consistently', (variant, install, recommends) => {
    const start = performance.now();
    const r = resolve(idx, { variant, install, recommends, arch: 'amd64' });
    const ms = performance.now() - start;
    console.log(`bookworm ${variant} + [${install.join(',')}] recommends=${recommends}: ${r.packages.length} packages, ${r.order.length} batches, ${ms.toFixed(0)} ms`);
    expect(r.packages.some((p) => p.name === 'mawk')).toBe(true);
    expect(r.packages.some((p) => p.name === 'gawk')).toBe(false);
    expect(conflicting(idx, r.packages)).toEqual([]);
    expect(unsatisfied(idx, r.packages)).toEqual([]);
    expect(r.order.flat()).toHaveLength(r.packages.length);
    expect(orderViolations(idx, r)).toEqual([]);
    for (const p of install) expect(r.packages.some((q) => q.name === p)).toBe(true);
    expect(ms).toBeLessThan(5000); // sanity bound only: the time is reported above
    if (variant === 'essential') expect(r.packages).toHaveLength(69); // mmdebstrap --variant=essential
    if (variant === 'minbase' && install.length === 0) expect(r.packages).toHaveLength(96); // apt-get, main only
  });
});

describe('the real bookworm + bookworm-updates + bookworm-security amd64 indices', () => {
  // What this mirror holds (checked when written): bookworm has openssh 1:9.2p1-2+deb12u10,
  // bookworm-security u9, bookworm-updates u7; each binary needs its own openssh-client version.
  let idx: PackageIndex;
  beforeAll(async () => {
    idx = toPackageIndex(
      await bookwormSuites([
        { mirror: 'http://deb.debian.org/debian', suites: ['bookworm', 'bookworm-updates'] },
        { mirror: 'http://deb.debian.org/debian-security', suites: ['bookworm-security'] },
      ]),
    );
  }, INDEX_TIMEOUT_MS);

  it('a pin on an older openssh-server pulls the matching client and sftp-server, as apt does', () => {
    const versions = (p: string): string[] => idx.byName(p).map((r) => r.version);
    const older = versions('openssh-server').filter((v) => v !== idx.candidate('openssh-server', 'amd64')?.version);
    expect(older.length, `the archive holds only ${versions('openssh-server').join(', ')}`).toBeGreaterThan(0);
    for (const v of older) {
      // only pins whose exact client version the archive still has (every older one here)
      expect(versions('openssh-client')).toContain(v);
      const r = resolve(idx, { variant: 'minbase', install: [`openssh-server=${v}`], recommends: false, arch: 'amd64' });
      const got = Object.fromEntries(r.packages.filter((p) => p.name.startsWith('openssh-')).map((p) => [p.name, p.version]));
      expect(got).toEqual({ 'openssh-client': v, 'openssh-server': v, 'openssh-sftp-server': v });
      expect(unsatisfied(idx, r.packages)).toEqual([]);
      expect(conflicting(idx, r.packages)).toEqual([]);
    }
    expect(older).toContain('1:9.2p1-2+deb12u9');
  });
});
