/**
 * URLs of a Debian archive: a mirror given by the user as an archive root URL, and a package's
 * Filename from an index as a path that stays inside that root.
 */
import { CakeError } from '../model/errors.js';

/** `http://host/debian` → `http://host/debian/`; only http(s) URLs. */
export function normalizeMirror(mirror: string): string {
  let url: URL;
  try {
    url = new URL(mirror);
  } catch {
    throw new CakeError('bad-source', `invalid mirror URL '${mirror}'`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CakeError('bad-source', `mirror '${mirror}' is not an http(s) URL`);
  return url.href.endsWith('/') ? url.href : `${url.href}/`;
}

/** A Filename from an index must stay inside the archive root: returns it, or throws CakeError('bad-archive'). */
export function checkFilename(p: { name: string; filename: string }): string {
  const f = p.filename;
  if (f === '' || f.startsWith('/') || f.includes('\\') || f.includes('?') || f.includes('#') || f.split('/').some((c) => c === '..' || c === '.' || c === '') || /^[a-z][a-z0-9+.-]*:/i.test(f)) {
    throw new CakeError('bad-archive', `package ${p.name}: unsafe Filename '${f}' in the index`);
  }
  return f;
}
