import { bookwormMainAmd64, INDEX_TIMEOUT_MS } from '../../helpers/bookworm-index.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { forEachStanza, parseStanzas } from '../../../src/debian/deb822.js';
import { PACKAGE_FIELDS } from '../../../src/debian/package-index.js';
import { cakeError } from '../../helpers/expect-error.js';

const error = cakeError;

describe('parseStanzas', () => {
  it('splits stanzas at blank lines and lowercases field names', () => {
    const text = 'Package: a\nVersion: 1\n\n\nPACKAGE: b\nversion:2\n';
    expect(parseStanzas(text)).toEqual([
      { package: 'a', version: '1' },
      { package: 'b', version: '2' },
    ]);
  });

  it('joins continuation lines, dropping one leading space and trailing blanks', () => {
    const text = ['Package: a', 'Description: short', ' long line  ', ' .', '  indented', 'Tag: x,', '\ty'].join('\n');
    expect(parseStanzas(text)).toEqual([
      { package: 'a', description: 'short\nlong line\n.\n indented', tag: 'x,\ny' },
    ]);
  });

  it('reads a Release SHA256 list whose first line is empty', () => {
    const text = 'Origin: Debian\nSHA256:\n 0123 45 main/binary-amd64/Packages\n abcd 67 main/binary-amd64/Packages.xz\n';
    const [s] = parseStanzas(text);
    expect(s?.['sha256']).toBe('0123 45 main/binary-amd64/Packages\nabcd 67 main/binary-amd64/Packages.xz');
  });

  it('keeps only the requested fields, case-insensitively, including their continuations', () => {
    const text = 'Package: a\nDescription: d\n more\nDEPENDS: b,\n c\nSize: 3\n\nPackage: z\n';
    const fields = new Set(['package', 'depends']);
    expect(parseStanzas(text, fields)).toEqual([{ package: 'a', depends: 'b,\nc' }, { package: 'z' }]);
  });

  it('reports a stanza that keeps no field as an empty object', () => {
    expect(parseStanzas('Foo: 1\n\nPackage: a\n', new Set(['package']))).toEqual([{}, { package: 'a' }]);
  });

  it('tolerates CRLF, whitespace-only separator lines, comments and no final newline', () => {
    const text = '# comment\r\nPackage: a\r\nVersion: 1 \r\n \t\r\nPackage: b';
    expect(parseStanzas(text)).toEqual([{ package: 'a', version: '1' }, { package: 'b' }]);
  });

  it('keeps colons in values and allows an empty value', () => {
    expect(parseStanzas('Version: 1:2.3-4\nEmpty:\n')).toEqual([{ version: '1:2.3-4', empty: '' }]);
  });

  it('returns nothing for empty input', () => {
    expect(parseStanzas('')).toEqual([]);
    expect(parseStanzas('\n\n  \n')).toEqual([]);
  });

  it('rejects a line without a colon, naming the line', () => {
    const e = error(() => parseStanzas('Package: a\nthis is wrong\n'));
    expect(e.code).toBe('bad-archive');
    expect(e.message).toContain('line 2');
    expect(e.message).toContain('this is wrong');
  });

  it('rejects a continuation line at the start of a stanza', () => {
    const e = error(() => parseStanzas('Package: a\n\n continued\n'));
    expect(e.code).toBe('bad-archive');
    expect(e.message).toContain('line 3');
  });

  it('rejects a field name with a space and a line starting with a colon', () => {
    expect(error(() => parseStanzas('Bad Name: x\n')).code).toBe('bad-archive');
    expect(error(() => parseStanzas(': x\n')).code).toBe('bad-archive');
  });

  it('forEachStanza streams the same stanzas', () => {
    const seen: string[] = [];
    forEachStanza('Package: a\n\nPackage: b\n', undefined, (s) => seen.push(s['package'] ?? ''));
    expect(seen).toEqual(['a', 'b']);
  });
});

describe('the real bookworm main amd64 Packages', () => {
  let text = '';
  beforeAll(async () => {
    text = await bookwormMainAmd64();
  }, INDEX_TIMEOUT_MS);

  it('parses every stanza with the index allow-list quickly', () => {
    parseStanzas(text, PACKAGE_FIELDS); // warm up the JIT
    const start = performance.now();
    const stanzas = parseStanzas(text, PACKAGE_FIELDS);
    const ms = performance.now() - start;
    console.log(`deb822: ${stanzas.length} stanzas, ${(text.length / 1e6).toFixed(1)} MB in ${ms.toFixed(0)} ms`);
    expect(stanzas.length).toBeGreaterThan(60000);
    for (const s of stanzas) {
      expect(s['package']).toBeTruthy();
      expect(s['version']).toBeTruthy();
    }
    expect(stanzas.find((s) => s['package'] === 'mawk')?.['provides']).toBe('awk');
    expect(ms).toBeLessThan(5000); // a sanity bound only; the figure is reported above
  });
});
