/**
 * The client of a Debian/Ubuntu archive: verified InRelease files, Packages indices and .deb
 * files, all fetched into the content-addressed blob store so that a rerun with an unchanged
 * archive downloads nothing but the InRelease files (and nothing at all when they are pinned).
 *
 * Trust chain: InRelease is verified against the keyring (inrelease-verify.ts) and must name the
 * suite asked for; every index is checked against the SHA256 list of its verified Release; every
 * .deb against the SHA256 of its (verified) index stanza.
 */
import type { PublicKey } from 'openpgp';
import { CakeError } from '../model/errors.js';
import type { Logger } from '../model/logger.js';
import type { HttpClient } from '../net/http-client.js';
import type { BlobStore } from '../store/blobs.js';
import type { CakePaths } from '../store/paths.js';
import { loadInRelease, type LoadedRelease } from './inrelease-load.js';
import { keyringLabel, loadKeyring, type KeyringSpec } from './keyrings.js';
import { fetchBlob, readIndexBlob, type FetchStats } from './archive-fetch.js';
import { parseStanzas } from './deb822.js';
import { PACKAGE_FIELDS, PackageIndex } from './package-index.js';
import { indexEntry, indexFetchPath } from './release.js';
import { checkFilename, normalizeMirror } from './mirror-url.js';

export interface ArchiveDeps {
  http: HttpClient;
  blobs: BlobStore;
  paths: CakePaths;
  logger: Logger;
  signal?: AbortSignal;
  /** Where the shipped keyrings live; default keyrings.ts defaultKeyringDir(). */
  keyringDir?: string;
  /** The clock, for Valid-Until and key expiry; default `() => new Date()`. */
  now?: () => Date;
}

export interface ArchiveSource {
  /** e.g. http://deb.debian.org/debian */
  mirror: string;
  /** e.g. ['bookworm', 'bookworm-updates'] */
  suites: string[];
  components: string[];
  /** A Debian architecture: amd64, arm64, … */
  arch: string;
  keyring: KeyringSpec;
  /** A snapshot.debian.org timestamp (20250101T000000Z): mirrors become snapshot URLs. */
  snapshot?: string;
  /** An extra suite on its own mirror: { mirror: 'http://deb.debian.org/debian-security', suite: 'bookworm-security' }. */
  security?: { mirror: string; suite: string };
  /**
   * false accepts Releases past their Valid-Until (apt's `check-valid-until=no`): for a mirror
   * known to be frozen. Signatures are still required. Default true.
   */
  checkValidUntil?: boolean;
}

export interface LoadOptions {
  /**
   * suite → sha256 of its InRelease, as recorded by an earlier load (a lock file). A pinned
   * InRelease must hash to it; one already in the store is used without any network access.
   */
  pinnedInRelease?: Record<string, string>;
  /** Use only the cached InRelease files and stored indices; never touch the network. */
  offline?: boolean;
  /**
   * For pinned suites: the archive roots (snapshot URLs, snapshot.ts) to read a suite from when
   * its mirror has moved on; its indices and .debs then come from the root that had the pin.
   */
  alternates?: (mirror: string, suite: string) => string[];
}

export type { LoadedRelease } from './inrelease-load.js';

export interface PackagesText {
  suite: string;
  component: string;
  /** The archive root that the stanzas' Filename fields are relative to: pass it as the index origin. */
  mirror: string;
  text: string;
}

export interface LoadedIndices {
  releases: LoadedRelease[];
  packagesText: PackagesText[];
}

/** What fetchDebs needs of a package: a PackageRecord (package-index.ts) fits. */
export interface DebRequest {
  name: string;
  /** Relative to the archive root. */
  filename: string;
  sha256: string;
  size: number;
  /** The archive root it comes from (PackagesText.mirror); default the source's main mirror. */
  origin?: string;
}

export interface DebProgress {
  name: string;
  done: number;
  total: number;
  bytesDone: number;
  bytesTotal: number;
  /** False when the blob was already in the store. */
  downloaded: boolean;
}

export interface FetchDebsOptions {
  /** Parallel downloads; default 8. */
  concurrency?: number;
  onProgress?: (p: DebProgress) => void;
}

export interface ArchiveStats extends FetchStats {
  inReleaseFetched: number;
}

const SNAPSHOT_TS = /^\d{8}T\d{6}Z$/;

export class ArchiveClient {
  private readonly archives: Array<{ mirror: string; suite: string }>;
  private readonly mainMirror: string;
  private keys: PublicKey[] | undefined;
  private readonly counters: ArchiveStats = { inReleaseFetched: 0, downloads: 0, bytes: 0 };
  /** Mirror → the root its files are fetched from (a snapshot when the mirror moved on). */
  private readonly fetchRoots = new Map<string, string>();

  constructor(
    private readonly deps: ArchiveDeps,
    private readonly source: ArchiveSource,
  ) {
    if (source.snapshot !== undefined && !SNAPSHOT_TS.test(source.snapshot)) {
      throw new CakeError('bad-source', `invalid snapshot timestamp '${source.snapshot}'`, {
        hint: 'use the form 20250101T000000Z (see snapshot.debian.org)',
      });
    }
    const snap = (archive: string): string => `http://snapshot.debian.org/archive/${archive}/${source.snapshot}/`;
    this.mainMirror = source.snapshot !== undefined ? snap('debian') : normalizeMirror(source.mirror);
    this.archives = source.suites.map((suite) => ({ mirror: this.mainMirror, suite }));
    if (source.security !== undefined) {
      const mirror = source.snapshot !== undefined ? snap('debian-security') : normalizeMirror(source.security.mirror);
      this.archives.push({ mirror, suite: source.security.suite });
    }
    if (this.archives.length === 0) throw new CakeError('bad-source', 'an archive source needs at least one suite');
  }

  /** Counters since construction: InRelease fetches, blobs downloaded (indices and .debs), bytes. */
  stats(): ArchiveStats {
    return { ...this.counters };
  }

  /**
   * Fetches and verifies each suite's InRelease, then each component's Packages index (from the
   * store when present), and returns their text in source order (suites, then security).
   * Throws CakeError('signature') for a bad signature, wrong suite or expired Release;
   * 'digest-mismatch' when a pinned InRelease changed; 'not-found' for a missing index.
   */
  async loadIndices(opts: LoadOptions = {}): Promise<LoadedIndices> {
    const releases: LoadedRelease[] = [];
    const packagesText: PackagesText[] = [];
    for (const { mirror, suite } of this.archives) {
      const { release, loaded, root } = await loadInRelease(
        {
          http: this.deps.http,
          blobs: this.deps.blobs,
          paths: this.deps.paths,
          logger: this.deps.logger,
          signal: this.deps.signal,
          now: this.now(),
          keys: () => this.keyring(),
          keyringLabel: keyringLabel(this.source.keyring),
          snapshot: this.source.snapshot !== undefined,
          checkValidUntil: this.source.checkValidUntil !== false,
          stats: this.counters,
        },
        { mirror, suite, pin: opts.pinnedInRelease?.[suite], offline: opts.offline === true, ...(opts.alternates ? { alternates: opts.alternates(mirror, suite) } : {}) },
      );
      if (root !== mirror) this.fetchRoots.set(mirror, root);
      releases.push(loaded);
      const what = `${suite} at ${mirror}`;
      if (release.architectures.length > 0 && !release.architectures.includes(this.source.arch)) {
        throw new CakeError('not-found', `${what} has no architecture ${this.source.arch} (it has ${release.architectures.join(' ')})`);
      }
      for (const component of this.source.components) {
        const base = `${component}/binary-${this.source.arch}/Packages`;
        const entry = indexEntry(release, base);
        if (entry === undefined) {
          throw new CakeError('not-found', `${what} lists no ${base} index (components: ${release.components.join(' ')})`, {
            hint: 'check the component and architecture names',
          });
        }
        const urls = [indexFetchPath(release, entry), entry.path].map((p) => `${root}dists/${suite}/${p}`);
        const plain = release.files.get(base);
        const text = await readIndexBlob(this.fetchCtx(opts.offline), {
          urls: [...new Set(urls)],
          entry,
          plainSha256: plain?.sha256,
          label: `${base} of ${what}`,
        });
        packagesText.push({ suite, component, mirror, text });
      }
    }
    return { releases, packagesText };
  }

  /**
   * Downloads the .deb files into the store, verified by SHA256 and size, `concurrency` at a time,
   * skipping those already stored. Idempotent. On the first failure the other downloads are
   * aborted and that failure is thrown. Returns sha256 → blob path for every request.
   */
  async fetchDebs(pkgs: DebRequest[], opts: FetchDebsOptions = {}): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const unique = [...new Map(pkgs.map((p) => [p.sha256, p])).values()];
    const total = unique.length;
    const bytesTotal = unique.reduce((n, p) => n + p.size, 0);
    let done = 0;
    let bytesDone = 0;
    const inner = new AbortController();
    const onOuterAbort = (): void => inner.abort();
    this.deps.signal?.addEventListener('abort', onOuterAbort, { once: true });
    if (this.deps.signal?.aborted) inner.abort();
    const bar = this.deps.logger.progress('fetching packages', bytesTotal, 'bytes');
    const ctx = { ...this.fetchCtx(false), signal: inner.signal };
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < unique.length && !inner.signal.aborted) {
        const p = unique[next++] as DebRequest;
        const origin = p.origin === undefined ? this.mainMirror : normalizeMirror(p.origin);
        const url = `${this.fetchRoots.get(origin) ?? origin}${checkFilename(p)}`;
        const { path, downloaded } = await fetchBlob(ctx, { urls: [url], sha256: p.sha256, size: p.size, label: `${p.name} (${p.filename})` });
        out.set(p.sha256, path);
        done++;
        bytesDone += p.size;
        bar.update(bytesDone);
        opts.onProgress?.({ name: p.name, done, total, bytesDone, bytesTotal, downloaded });
      }
    };
    try {
      const n = Math.max(1, Math.min(opts.concurrency ?? 8, unique.length));
      const results = await Promise.allSettled(
        Array.from({ length: n }, () =>
          worker().catch((err: unknown) => {
            inner.abort();
            throw err;
          }),
        ),
      );
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
      if (this.deps.signal?.aborted) throw new CakeError('interrupted', 'interrupted');
      return out;
    } finally {
      bar.stop();
      this.deps.signal?.removeEventListener('abort', onOuterAbort);
    }
  }

  private fetchCtx(offline: boolean | undefined) {
    return { http: this.deps.http, blobs: this.deps.blobs, paths: this.deps.paths, logger: this.deps.logger, signal: this.deps.signal, offline: offline === true, stats: this.counters };
  }

  private async keyring(): Promise<PublicKey[]> {
    this.keys ??= await loadKeyring(this.source.keyring, this.deps.keyringDir);
    return this.keys;
  }

  private now(): Date {
    return this.deps.now?.() ?? new Date();
  }
}

/**
 * A PackageIndex of loaded indices, in their order (the first record of a name/version/arch
 * wins); each record's origin is the archive root its Filename is relative to, so records can
 * be passed to {@link ArchiveClient.fetchDebs} as they are.
 */
export function toPackageIndex(indices: LoadedIndices): PackageIndex {
  const index = new PackageIndex();
  for (const p of indices.packagesText) {
    const notAutomatic = indices.releases.find((r) => r.suite === p.suite && r.mirror === p.mirror)?.notAutomatic === true;
    index.add(parseStanzas(p.text, PACKAGE_FIELDS), p.mirror, { suite: p.suite, notAutomatic });
  }
  return index;
}
