import { bookwormMainAmd64, INDEX_TIMEOUT_MS } from '../../helpers/bookworm-index.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseStanzas } from '../../../src/debian/deb822.js';
import {
  archMatches,
  formatAlternatives,
  formatRelation,
  parseProvides,
  parseRelations,
} from '../../../src/debian/relations.js';
import { cakeError } from '../../helpers/expect-error.js';

const error = cakeError;

describe('parseRelations', () => {
  it('reads AND groups of OR alternatives with versions', () => {
    expect(parseRelations('libc6 (>= 2.34), debconf (>= 0.5) | debconf-2.0, zlib1g (>= 1:1.1.4)')).toEqual([
      [{ name: 'libc6', op: '>=', version: '2.34' }],
      [{ name: 'debconf', op: '>=', version: '0.5' }, { name: 'debconf-2.0' }],
      [{ name: 'zlib1g', op: '>=', version: '1:1.1.4' }],
    ]);
  });

  it('reads every operator, with or without spaces, and the obsolete < and >', () => {
    expect(parseRelations('a (<< 1), b (<=1), c(= 1), d ( >= 1 ), e (>>1), f (< 1), g (> 1)')).toEqual([
      [{ name: 'a', op: '<<', version: '1' }],
      [{ name: 'b', op: '<=', version: '1' }],
      [{ name: 'c', op: '=', version: '1' }],
      [{ name: 'd', op: '>=', version: '1' }],
      [{ name: 'e', op: '>>', version: '1' }],
      [{ name: 'f', op: '<=', version: '1' }],
      [{ name: 'g', op: '>=', version: '1' }],
    ]);
  });

  it('keeps :any, :native and architecture qualifiers', () => {
    expect(parseRelations('perl:any, python3:any (>= 3.11~), gcc:native, libc6:i386 (= 2.36-9)')).toEqual([
      [{ name: 'perl', arch: 'any' }],
      [{ name: 'python3', arch: 'any', op: '>=', version: '3.11~' }],
      [{ name: 'gcc', arch: 'native' }],
      [{ name: 'libc6', arch: 'i386', op: '=', version: '2.36-9' }],
    ]);
  });

  it('tolerates folded lines, empty groups and a trailing comma', () => {
    expect(parseRelations(' a,\n b |\n\tc ,, ')).toEqual([[{ name: 'a' }], [{ name: 'b' }, { name: 'c' }]]);
    expect(parseRelations('')).toEqual([]);
    expect(parseRelations('  ')).toEqual([]);
  });

  it('drops [arch] restrictions without a host and evaluates them with one', () => {
    const field = 'a [amd64 arm64], b [!amd64], c [linux-any], d [any-i386] | e';
    expect(parseRelations(field)).toEqual([[{ name: 'a' }], [{ name: 'b' }], [{ name: 'c' }], [{ name: 'd' }, { name: 'e' }]]);
    expect(parseRelations(field, { arch: 'amd64' })).toEqual([[{ name: 'a' }], [{ name: 'c' }], [{ name: 'e' }]]);
    expect(parseRelations(field, { arch: 'i386' })).toEqual([[{ name: 'b' }], [{ name: 'c' }], [{ name: 'd' }, { name: 'e' }]]);
    expect(parseRelations(field, { arch: 'hurd-i386' })).toEqual([[{ name: 'b' }], [{ name: 'd' }, { name: 'e' }]]);
  });

  it('evaluates <profile> restrictions against the active profiles (none by default)', () => {
    const field = 'a <!nocheck>, b <nocheck>, c <stage1 cross> <pkg.foo.bar>, d (>= 1) [amd64] <!stage1>';
    expect(parseRelations(field)).toEqual([[{ name: 'a' }], [{ name: 'd', op: '>=', version: '1' }]]);
    expect(parseRelations(field, { profiles: ['nocheck'] })).toEqual([[{ name: 'b' }], [{ name: 'd', op: '>=', version: '1' }]]);
    expect(parseRelations(field, { profiles: ['stage1', 'cross'], arch: 'amd64' })).toEqual([[{ name: 'a' }], [{ name: 'c' }]]);
    expect(parseRelations(field, { profiles: ['pkg.foo.bar'], arch: 'arm64' })).toEqual([[{ name: 'a' }], [{ name: 'c' }]]);
  });

  it.each([
    ['a (>= 1', "missing ')'"],
    ['a (~ 1)', 'operator'],
    ['a (>= )', 'missing version'],
    ['a | | b', 'bad package name'],
    ['a b', "unexpected 'b'"],
    ['a:', 'missing architecture qualifier'],
    ['a [amd64', 'unterminated'],
    ['a [amd64 !i386]', 'mixed'],
    ['a <>', 'empty build profile'],
    ['${shlibs:Depends}', 'bad package name'],
    ['a |', 'missing package name'],
  ])('rejects %j as bad-archive (%s)', (field, why) => {
    const e = error(() => parseRelations(field, { arch: 'amd64' }));
    expect(e.code).toBe('bad-archive');
    expect(e.message).toContain(`'${field}'`);
    expect(e.message).toContain(why);
  });
});

describe('parseProvides', () => {
  it('reads plain and versioned provides', () => {
    expect(parseProvides('awk, libfoo-abi (= 2.1), python3-foo:any')).toEqual([
      { name: 'awk' },
      { name: 'libfoo-abi', op: '=', version: '2.1' },
      { name: 'python3-foo', arch: 'any' },
    ]);
  });

  it('rejects alternatives and operators other than =', () => {
    expect(error(() => parseProvides('a | b')).message).toContain("'|'");
    expect(error(() => parseProvides('a (>= 1)')).message).toContain("only '='");
  });
});

describe('formatting', () => {
  it('renders relations the way Debian writes them', () => {
    expect(formatRelation({ name: 'a' })).toBe('a');
    expect(formatRelation({ name: 'a', arch: 'any', op: '>=', version: '1:2' })).toBe('a:any (>= 1:2)');
    expect(formatAlternatives([{ name: 'a', op: '<<', version: '2' }, { name: 'b' }])).toBe('a (<< 2) | b');
  });

  it('round-trips through the parser', () => {
    const field = 'a:any (>= 1:2~rc1-3), b | c (= 4), d';
    expect(parseRelations(field).map(formatAlternatives).join(', ')).toBe(field);
  });
});

describe('archMatches', () => {
  it.each([
    ['amd64', 'amd64', true],
    ['any', 'arm64', true],
    ['linux-any', 'amd64', true],
    ['linux-any', 'hurd-i386', false],
    ['any-amd64', 'amd64', true],
    ['any-amd64', 'kfreebsd-amd64', true],
    ['any-i386', 'amd64', false],
    ['i386', 'amd64', false],
  ] as const)('%s matches %s: %s', (token, host, want) => {
    expect(archMatches(token, host)).toBe(want);
  });
});

describe('the real bookworm main amd64 Packages', () => {
  let text = '';
  beforeAll(async () => {
    text = await bookwormMainAmd64();
  }, INDEX_TIMEOUT_MS);

  it('parses every relation field without error', () => {
    const fields = ['depends', 'pre-depends', 'recommends', 'conflicts', 'breaks', 'replaces'];
    const stanzas = parseStanzas(text, new Set([...fields, 'provides']));
    let groups = 0;
    let versionedProvides = 0;
    const start = performance.now();
    for (const s of stanzas) {
      for (const f of fields) if (s[f] !== undefined) groups += parseRelations(s[f] as string).length;
      if (s['provides'] !== undefined) versionedProvides += parseProvides(s['provides']).filter((p) => p.op).length;
    }
    console.log(`relations: ${groups} groups in ${(performance.now() - start).toFixed(0)} ms`);
    expect(groups).toBeGreaterThan(300000);
    expect(versionedProvides).toBeGreaterThan(2000);
  });
});
