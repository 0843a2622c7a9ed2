import { parseStanzas } from '../../src/debian/deb822.js';
import { PACKAGE_FIELDS, PackageIndex } from '../../src/debian/package-index.js';

/** A Packages stanza with the fields every test needs; `fields` override the defaults (amd64, Priority: optional). */
export function stanza(name: string, version: string, fields: Record<string, string> = {}): string {
  const all: Record<string, string> = {
    Package: name,
    Version: version,
    Architecture: 'amd64',
    Priority: 'optional',
    Filename: `pool/main/${name}_${version}.deb`,
    Size: '1234',
    SHA256: 'ab'.repeat(32),
    ...fields,
  };
  return Object.entries(all)
    .map(([k, v]) => `${k}: ${v}`)
    .join('\n');
}

/** An index of the given stanzas. */
export function index(...stanzas: string[]): PackageIndex {
  return PackageIndex.from(parseStanzas(stanzas.join('\n\n'), PACKAGE_FIELDS));
}
