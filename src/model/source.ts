import { parseSha256 } from './digest.js';
import { CakeError } from './errors.js';

/**
 * The SOURCE argument of `cake pull` (the command contract in README.md and cake(1)). Decided from the text
 * alone: model/ does no I/O, so nothing here looks at the filesystem. The rules, in order:
 * 1. `docker://REF` is a registry image; REF is kept raw (the registry layer parses it).
 * 2. `oci:DIR[:TAG]` is a local OCI layout; TAG is what follows the last `:` unless that holds a `/`
 *    (so a DIR with a `:` in its last component needs an explicit TAG).
 * 2b. `oci-archive:PATH[:REF]` and `docker-archive:PATH[:REF]` (skopeo's spelling) are a local image
 *    archive file, as `podman save` writes them (the file's content decides which). REF (everything
 *    after the second `:`) picks one image of an archive that holds several: a reference its
 *    RepoTags (docker-archive) or ref.name (oci-archive) hold, both normalized, or `@N`, the N-th
 *    image (from 0).
 * 3. `http://…` and `https://…` are tarball URLs; a `#sha256=HEX` fragment pins them (and is removed).
 * 4. Text that starts with `/`, `./`, `../` or `~/`, or that contains no `:` and ends with a tarball
 *    extension (.tar, .tar.gz, .tgz, .tar.xz, .txz, .tar.zst, .tzst, .tar.bz2, .tbz2, .tbz, .tar.lz,
 *    .tlz, .tar.lzma, .tar.lzo, .tar.lz4, .tar.Z, .taz, .pax, .pax.Z; the content decides the
 *    compression), is a local
 *    tarball. A path must name a tarball by its extension: `../../etc` is rejected rather than
 *    treated as a root filesystem. `~/` is kept as is; the caller expands it.
 * 5. `NAME` or `NAME:RELEASE` (lowercase letters, digits, `.`, `_`, `-`) is a distro definition.
 * Anything else, and any text that is empty, has control characters, surrounding whitespace, or is
 * over-long, is a `bad-source` usage error (exit 2) whose hint lists the forms.
 */
export type Source =
  | { kind: 'distro'; distro: string; release?: string }
  | { kind: 'registry'; ref: string }
  | { kind: 'oci-layout'; dir: string; tag?: string }
  | { kind: 'url'; url: string; sha256?: string }
  | { kind: 'file'; path: string; sha256?: string; imageRef?: string };

export type SourceKind = Source['kind'];

export const SOURCE_FORMS_HINT =
  'SOURCE is a distro (alpine, alpine:3.22, debian:bookworm), docker://HOST/REPO[:TAG][@sha256:…], ' +
  'oci:DIR[:TAG], docker-archive:FILE[:REF|:@N] or oci-archive:FILE[:REF|:@N] (docker save / podman save), ' +
  'https://…/rootfs.tar.xz[#sha256=HEX], or a local tarball (./rootfs.tar.gz)';

const MAX_SOURCE = 4096;
const MAX_NAME = 63;
const TARBALL_EXT = /\.(tar|tgz|txz|tzst|tbz2?|tlz|taz|tz|pax|(tar|pax)\.(gz|xz|zst|bz2?|lz|lzma|lzo|lz4|z))$/i;
const DISTRO = /^([a-z0-9][a-z0-9._-]*)(?::([a-z0-9][a-z0-9._-]*))?$/i;
const OCI_TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

function bad(text: string, why: string, hint = SOURCE_FORMS_HINT): CakeError {
  const shown = text.length > 80 ? `${JSON.stringify(text.slice(0, 77))}…` : JSON.stringify(text);
  return new CakeError('bad-source', `invalid SOURCE ${shown}: ${why}`, { exitCode: 2, hint });
}

/** True when `name` ends with an extension cake unpacks as a tarball. */
export function hasTarballExtension(name: string): boolean {
  return TARBALL_EXT.test(name);
}

/**
 * Parses a SOURCE. `opts.sha256` is the `--sha256` flag: it pins a URL (and conflicts with a
 * different `#sha256=` fragment) or a local tarball; distros and registry images carry their own
 * pins, so it is refused for them.
 * Throws CakeError('bad-source', exit 2), or 'bad-digest' for a malformed sha256.
 */
export function parseSource(text: string, opts: { sha256?: string } = {}): Source {
  if (text.trim() === '') throw bad(text, 'empty');
  if (CONTROL.test(text)) throw bad(text, 'contains control characters');
  if (text !== text.trim()) throw bad(text, 'has leading or trailing whitespace');
  if (text.length > MAX_SOURCE) throw bad(text, `longer than ${MAX_SOURCE} characters`);
  const flagSha = opts.sha256 === undefined ? undefined : parseSha256(opts.sha256, '--sha256');
  const source = classify(text, flagSha);
  if (flagSha === undefined || source.kind === 'url') return source;
  if (source.kind === 'file') return { ...source, sha256: flagSha };
  throw bad(text, `--sha256 pins a tarball (URL or file), not a ${source.kind} source`,
    source.kind === 'registry' ? 'pin a registry image with @sha256:… in its reference' : 'drop --sha256: distro definitions are pinned already');
}

function classify(text: string, flagSha: string | undefined): Source {
  const lower = text.toLowerCase();
  if (lower.startsWith('docker://')) return parseRegistry(text, text.slice('docker://'.length));
  if (lower.startsWith('oci-archive:') || lower.startsWith('docker-archive:')) return parseImageArchive(text);
  if (lower.startsWith('oci:')) return parseOciLayout(text, text.slice('oci:'.length));
  if (lower.startsWith('http://') || lower.startsWith('https://')) return parseUrl(text, flagSha);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    throw bad(text, `unsupported scheme ${JSON.stringify(text.slice(0, text.indexOf(':')))}`);
  }
  if (/^(\/|\.\/|\.\.\/|~\/)/.test(text) || (!text.includes(':') && hasTarballExtension(text))) {
    return parseFile(text);
  }
  return parseDistro(text);
}

function parseRegistry(text: string, ref: string): Source {
  if (ref === '') throw bad(text, 'no image reference after docker://');
  if (/\s/.test(ref)) throw bad(text, 'an image reference has no whitespace');
  if (ref.startsWith('/') || ref.startsWith('.') || ref.includes('//')) {
    throw bad(text, 'an image reference is HOST/REPO[:TAG][@sha256:…]');
  }
  return { kind: 'registry', ref };
}

function parseOciLayout(text: string, rest: string): Source {
  // The TAG is what follows the last ':', unless that contains '/' (then the ':' is part of DIR).
  const colon = rest.lastIndexOf(':');
  const tail = colon >= 0 ? rest.slice(colon + 1) : undefined;
  const tag = tail !== undefined && !tail.includes('/') ? tail : undefined;
  const dir = tag !== undefined ? rest.slice(0, colon) : rest;
  if (dir === '') throw bad(text, 'no directory after oci:');
  if (tag === undefined) return { kind: 'oci-layout', dir };
  if (!OCI_TAG.test(tag)) throw bad(text, `invalid tag ${JSON.stringify(tag)}`);
  return { kind: 'oci-layout', dir, tag };
}

function parseUrl(text: string, flagSha: string | undefined): Source {
  if (/\s/.test(text)) throw bad(text, 'a URL has no whitespace (percent-encode it)');
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw bad(text, 'not a valid URL');
  }
  if (url.hostname === '') throw bad(text, 'the URL has no host');
  let sha256: string | undefined;
  if (url.hash !== '') {
    const m = /^#sha256=(.*)$/i.exec(url.hash);
    if (m === null) throw bad(text, `unsupported URL fragment ${JSON.stringify(url.hash)}`, 'pin a URL with #sha256=HEX or --sha256 HEX');
    sha256 = parseSha256(m[1]!, 'sha256 in the URL fragment');
    url.hash = '';
  }
  if (sha256 !== undefined && flagSha !== undefined && sha256 !== flagSha) {
    throw bad(text, `--sha256 ${flagSha} conflicts with #sha256=${sha256} in the URL`, 'give the pin once');
  }
  sha256 ??= flagSha;
  const clean = url.href;
  return sha256 === undefined ? { kind: 'url', url: clean } : { kind: 'url', url: clean, sha256 };
}

/** skopeo's `oci-archive:PATH[:REF]` / `docker-archive:PATH[:REF]`: a local file (its content says which), REF the image in it. */
function parseImageArchive(text: string): Source {
  const rest = text.slice(text.indexOf(':') + 1);
  const colon = rest.indexOf(':');
  const path = colon >= 0 ? rest.slice(0, colon) : rest;
  if (path === '') throw bad(text, `no file after ${text.slice(0, text.indexOf(':') + 1)}`);
  if (colon < 0) return { kind: 'file', path };
  const imageRef = rest.slice(colon + 1);
  if (imageRef === '') throw bad(text, 'no image reference after the second ":"', 'write docker-archive:FILE, docker-archive:FILE:NAME:TAG or docker-archive:FILE:@N');
  if (imageRef.startsWith('@') && !/^@\d{1,6}$/.test(imageRef)) throw bad(text, `invalid image index ${JSON.stringify(imageRef)}`, 'an image index is @N, N from 0 (the N-th image of the archive)');
  return { kind: 'file', path, imageRef };
}

function parseFile(text: string): Source {
  const name = text.slice(text.lastIndexOf('/') + 1);
  if (!hasTarballExtension(name)) {
    throw bad(text, 'a local path must name a tarball (.tar, .tar.gz, .tgz, .tar.xz, .txz, .tar.zst, .tar.bz2, .tar.lz, .tar.lzma, .tar.lzo, .tar.lz4, .tar.Z)');
  }
  return { kind: 'file', path: text };
}

function parseDistro(text: string): Source {
  const m = DISTRO.exec(text);
  if (m === null || text.includes('..')) {
    const hint = text.includes('/') && !text.includes(':/')
      ? `for a registry image write docker://${text}; for a local tarball start the path with ./`
      : SOURCE_FORMS_HINT;
    throw bad(text, 'not a distro name, registry image, OCI layout, URL or tarball', hint);
  }
  const distro = m[1]!.toLowerCase();
  const release = m[2];
  if (distro.length > MAX_NAME || (release !== undefined && release.length > MAX_NAME)) {
    throw bad(text, `distro and release names are at most ${MAX_NAME} characters`);
  }
  return release === undefined ? { kind: 'distro', distro } : { kind: 'distro', distro, release };
}

/** The SOURCE text for a parsed source (what `env.json` records); parseSource(formatSource(s)) equals s, but for a file's sha256. */
export function formatSource(source: Source): string {
  switch (source.kind) {
    case 'distro': return source.release === undefined ? source.distro : `${source.distro}:${source.release}`;
    case 'registry': return `docker://${source.ref}`;
    case 'oci-layout': return source.tag === undefined ? `oci:${source.dir}` : `oci:${source.dir}:${source.tag}`;
    case 'url': return source.sha256 === undefined ? source.url : `${source.url}#sha256=${source.sha256}`;
    case 'file': return source.path; // a file's --sha256 is a flag, not part of the SOURCE text
  }
}
