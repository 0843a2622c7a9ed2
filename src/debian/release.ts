/**
 * The Release file of a Debian/Ubuntu archive suite (the signed text inside InRelease): its
 * identity (Origin, Suite, Codename, Date), validity (Valid-Until), layout (Acquire-By-Hash,
 * Architectures, Components) and the SHA256 list that anchors every index it names.
 * Pure, no I/O: the text must already be verified (see inrelease-verify.ts).
 */
import { CakeError } from '../model/errors.js';
import { parseStanzas } from './deb822.js';

/** One line of the SHA256 list: "hash size path". */
export interface ReleaseFile {
  /** Lowercase hex. */
  sha256: string;
  size: number;
  /** Relative to `dists/SUITE/`, e.g. `main/binary-amd64/Packages.xz`. */
  path: string;
}

export interface Release {
  origin?: string;
  label?: string;
  suite?: string;
  codename?: string;
  version?: string;
  date?: Date;
  validUntil?: Date;
  /** Indices can be fetched as `DIR/by-hash/SHA256/<hash>` (immune to mirror update races). */
  acquireByHash: boolean;
  architectures: string[];
  components: string[];
  /** The SHA256 list by path. */
  files: Map<string, ReleaseFile>;
  /** Every field, keys lowercased (deb822.ts rules). */
  fields: Record<string, string>;
}

export type IndexCompression = 'xz' | 'gzip' | 'none';

export interface IndexEntry extends ReleaseFile {
  compression: IndexCompression;
}

const SUFFIXES: ReadonlyArray<readonly [string, IndexCompression]> = [
  ['.xz', 'xz'],
  ['.gz', 'gzip'],
  ['', 'none'],
];

/**
 * Parses a Release text. `what` names it in errors ("InRelease of bookworm at http://…").
 * Throws CakeError('bad-archive') when it is not one deb822 stanza, a date does not parse or a
 * SHA256 line is malformed.
 */
export function parseRelease(text: string, what: string): Release {
  let stanzas;
  try {
    stanzas = parseStanzas(text);
  } catch (err) {
    throw new CakeError('bad-archive', `${what}: ${(err as Error).message}`, { cause: err });
  }
  const fields = stanzas[0];
  if (stanzas.length !== 1 || fields === undefined) {
    throw new CakeError('bad-archive', `${what}: expected one Release stanza, found ${stanzas.length}`);
  }
  const files = new Map<string, ReleaseFile>();
  const list = fields['sha256'];
  if (list === undefined) throw new CakeError('bad-archive', `${what}: no SHA256 field`);
  for (const line of list.split('\n')) {
    if (line.trim() === '') continue;
    const m = /^([0-9a-fA-F]{64})\s+(\d+)\s+(\S+)$/.exec(line.trim());
    if (!m) throw new CakeError('bad-archive', `${what}: malformed SHA256 line '${line.slice(0, 120)}'`);
    const path = m[3] as string;
    files.set(path, { sha256: (m[1] as string).toLowerCase(), size: Number(m[2]), path });
  }
  const words = (v: string | undefined): string[] => (v ?? '').split(/\s+/).filter((w) => w !== '');
  const release: Release = {
    acquireByHash: (fields['acquire-by-hash'] ?? '').toLowerCase() === 'yes',
    architectures: words(fields['architectures']),
    components: words(fields['components']),
    files,
    fields,
  };
  for (const [key, prop] of [
    ['origin', 'origin'],
    ['label', 'label'],
    ['suite', 'suite'],
    ['codename', 'codename'],
    ['version', 'version'],
  ] as const) {
    if (fields[key] !== undefined) release[prop] = fields[key];
  }
  if (fields['date'] !== undefined) release.date = parseReleaseDate(fields['date'], 'Date', what);
  if (fields['valid-until'] !== undefined) release.validUntil = parseReleaseDate(fields['valid-until'], 'Valid-Until', what);
  return release;
}

/** RFC 2822 dates as the archive writes them ("Sat, 11 Jul 2026 10:16:37 UTC"). */
export function parseReleaseDate(value: string, field: string, what: string): Date {
  const ms = Date.parse(value.replace(/\bUTC$/, '+0000'));
  if (!Number.isFinite(ms)) throw new CakeError('bad-archive', `${what}: ${field} '${value}' is not a date`);
  return new Date(ms);
}

/**
 * Checks that `release` is the suite that was asked for (its Suite or Codename), so a signed
 * Release of another suite cannot be substituted. Throws CakeError('signature').
 */
export function checkSuite(release: Release, suite: string, what: string): void {
  if (release.suite === suite || release.codename === suite) return;
  throw new CakeError('signature', `${what}: it describes suite '${release.suite ?? '?'}' (codename '${release.codename ?? '?'}'), not '${suite}'`, {
    hint: 'the mirror served the Release file of another suite; check the mirror URL and suite name',
  });
}

export interface FreshnessOptions {
  /** Snapshot archives are old by design: skip the checks. */
  snapshot?: boolean;
  /** false skips the Valid-Until check only (apt's `check-valid-until=no`); default true. */
  validUntil?: boolean;
  /** Tolerated clock skew for a Date in the future; default 10 minutes. */
  skewMs?: number;
}

/**
 * Rejects an expired Release (now > Valid-Until: a mirror that stopped updating, or a replayed
 * old file) and one dated in the future (clock wrong). No-op for snapshots. Throws
 * CakeError('signature') with a hint.
 */
export function checkFreshness(release: Release, now: Date, what: string, opts: FreshnessOptions = {}): void {
  if (opts.snapshot) return;
  if (opts.validUntil !== false && release.validUntil !== undefined && now.getTime() > release.validUntil.getTime()) {
    throw new CakeError('signature', `${what}: expired on ${release.validUntil.toISOString()} (Valid-Until)`, {
      hint: 'the mirror is out of date or replays an old Release file: use another mirror, check the clock, build from a snapshot, or accept it with --allow-expired (signatures are still verified)',
    });
  }
  const skew = opts.skewMs ?? 10 * 60 * 1000;
  if (release.date !== undefined && release.date.getTime() - now.getTime() > skew) {
    throw new CakeError('signature', `${what}: dated ${release.date.toISOString()}, in the future`, {
      hint: "check this machine's clock",
    });
  }
}

/**
 * The best available file for an index base path (`main/binary-amd64/Packages`): `.xz`, then
 * `.gz`, then uncompressed, or the order given by `prefer`. Undefined when the Release lists
 * none of them.
 */
export function indexEntry(
  release: Release,
  basePath: string,
  prefer: readonly IndexCompression[] = ['xz', 'gzip', 'none'],
): IndexEntry | undefined {
  for (const want of prefer) {
    const suffix = SUFFIXES.find(([, c]) => c === want);
    if (suffix === undefined) continue;
    const file = release.files.get(basePath + suffix[0]);
    if (file !== undefined) return { ...file, compression: want };
  }
  return undefined;
}

/** Where an index is fetched from, relative to `dists/SUITE/`: by hash when the archive offers it. */
export function indexFetchPath(release: Release, file: ReleaseFile): string {
  if (!release.acquireByHash) return file.path;
  const slash = file.path.lastIndexOf('/');
  const dir = slash < 0 ? '' : file.path.slice(0, slash + 1);
  return `${dir}by-hash/SHA256/${file.sha256}`;
}
