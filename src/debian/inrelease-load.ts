/**
 * Getting one suite's InRelease to a verified, checked Release: from the blob store when pinned
 * (no network), from the per-mirror+suite cache when offline, else from the mirror. Every
 * verified InRelease is kept in the store (so a pin recorded today loads tomorrow) and as the
 * latest one for its mirror and suite (so offline use works).
 */
import { writeFileAtomic } from '../store/atomic-write.js';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { PublicKey } from 'openpgp';
import { CakeError, isErrno } from '../model/errors.js';
import type { Logger } from '../model/logger.js';
import type { HttpClient } from '../net/http-client.js';
import type { BlobStore } from '../store/blobs.js';
import type { CakePaths } from '../store/paths.js';
import { verifyInRelease } from './inrelease-verify.js';
import { checkFreshness, checkSuite, parseRelease, parseReleaseDate, type Release } from './release.js';

export interface LoadedRelease {
  suite: string;
  /** The archive root the suite was read from (with a trailing slash). */
  mirror: string;
  /** What to record as the pin for a reproducible rebuild (LoadOptions.pinnedInRelease). */
  inReleaseSha256: string;
  /** The Release's Date, ISO 8601 (undefined when absent). */
  date: string | undefined;
  codename: string | undefined;
  /** The Release's Version (13.2, 24.04; undefined for testing and unstable). */
  version?: string | undefined;
  /** NotAutomatic: yes (backports, experimental): apt installs from it only when asked. */
  notAutomatic?: boolean;
  /** Key ids of the signatures that verified. */
  signers: string[];
}

export interface InReleaseLoadContext {
  http: HttpClient;
  blobs: BlobStore;
  paths: CakePaths;
  logger: Logger;
  signal?: AbortSignal | undefined;
  now: Date;
  keys: () => Promise<PublicKey[]>;
  keyringLabel: string;
  /** Snapshot archives are old by design: no Valid-Until or key-expiry checks. */
  snapshot: boolean;
  /** false: accept a Release past its Valid-Until (apt's check-valid-until=no). */
  checkValidUntil: boolean;
  /** With checkValidUntil false: warn when the Release is past its Valid-Until; default true. */
  warnExpired?: boolean;
  stats: { inReleaseFetched: number; bytes: number };
}

export interface InReleaseRequest {
  /** With a trailing slash. */
  mirror: string;
  suite: string;
  /** sha256 (hex or sha256:hex) the InRelease must have. */
  pin?: string | undefined;
  offline: boolean;
  /**
   * With `pin`: other archive roots serving the same layout (snapshot URLs, with a trailing
   * slash), tried in order when the mirror's InRelease is not the pinned one.
   */
  alternates?: readonly string[];
}

/**
 * Loads, verifies and checks the InRelease of `req.suite`. Throws CakeError('signature') for a
 * bad signature, another suite or an expired Release; 'digest-mismatch' for a pin that does not
 * match; 'not-found' offline without a cached copy; network errors from the client.
 */
export async function loadInRelease(ctx: InReleaseLoadContext, req: InReleaseRequest): Promise<{ release: Release; loaded: LoadedRelease; root: string }> {
  const { mirror, suite } = req;
  const what = `InRelease of ${suite} at ${mirror}`;
  const pin = req.pin?.trim().toLowerCase().replace(/^sha256:/, '');
  const cacheFile = inReleaseCachePath(ctx.paths, mirror, suite);
  const cached = readOptional(cacheFile);
  let bytes: Buffer;
  let root = mirror;
  if (pin !== undefined && ctx.blobs.has(pin)) {
    bytes = readFileSync(ctx.blobs.path(pin));
  } else if (req.offline) {
    if (cached === undefined) {
      throw new CakeError('not-found', `${what} is not cached and offline mode is on`, { hint: 'run once with network access first' });
    }
    bytes = cached;
  } else {
    ({ bytes, root } = await fetchPinned(ctx, req, pin, what));
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (pin !== undefined && sha256 !== pin) {
    throw new CakeError('digest-mismatch', `${what} changed since it was pinned: expected sha256 ${pin}, got ${sha256}`, {
      hint: 'the archive moved on: build from a snapshot (snapshot.debian.org) or update the lock file',
    });
  }
  // A pinned file is trusted by its hash and old by design: judge neither key expiry nor Valid-Until now.
  const timeless = pin !== undefined || ctx.snapshot;
  const verified = await verifyInRelease(bytes, await ctx.keys(), { suite, mirror, keyringLabel: ctx.keyringLabel, date: timeless ? null : ctx.now });
  const release = parseRelease(verified.text, what);
  checkSuite(release, suite, what);
  checkFreshness(release, ctx.now, what, { snapshot: timeless, validUntil: ctx.checkValidUntil });
  if (!timeless && !ctx.checkValidUntil && ctx.warnExpired !== false && release.validUntil !== undefined && ctx.now.getTime() > release.validUntil.getTime()) {
    ctx.logger.warn(`${what} expired on ${release.validUntil.toISOString()} (Valid-Until); using it anyway (--allow-expired: signatures are still verified)`);
  }
  remember(ctx, bytes, sha256, cacheFile, cached, release, what);
  return {
    release,
    root,
    loaded: { suite, mirror, inReleaseSha256: sha256, date: release.date?.toISOString(), codename: release.codename, version: release.version, ...((release.fields['notautomatic'] ?? '').toLowerCase() === 'yes' ? { notAutomatic: true } : {}), signers: verified.signers },
  };
}

/** The InRelease from the mirror, or (pinned, the mirror moved on) from the first alternate root that has the pinned one. */
async function fetchPinned(ctx: InReleaseLoadContext, req: InReleaseRequest, pin: string | undefined, what: string): Promise<{ bytes: Buffer; root: string }> {
  const tried: string[] = [];
  let first: Buffer | undefined;
  for (const root of [req.mirror, ...(pin === undefined ? [] : (req.alternates ?? []))]) {
    let body: Buffer;
    try {
      body = (await ctx.http.request(`${root}dists/${req.suite}/InRelease`, { signal: ctx.signal, maxBytes: 16 * 1024 * 1024 })).body;
    } catch (err) {
      if (root === req.mirror && (req.alternates ?? []).length === 0) throw err;
      if (ctx.signal?.aborted) throw err;
      tried.push(`${root}: ${(err as Error).message}`);
      continue;
    }
    ctx.stats.inReleaseFetched++;
    ctx.stats.bytes += body.length;
    first ??= body;
    const got = createHash('sha256').update(body).digest('hex');
    if (pin === undefined || got === pin) return { bytes: body, root };
    tried.push(`${root}: sha256 ${got}`);
    if (root === req.mirror) ctx.logger.info(`${what} moved on since it was pinned; looking for the pinned one in the snapshot archive`);
  }
  if (first !== undefined && tried.length === 1) return { bytes: first, root: req.mirror }; // the mismatch is reported by the caller
  throw new CakeError('digest-mismatch', `${what}: the pinned InRelease (sha256 ${pin ?? '?'}) is not on the mirror or any snapshot tried`, {
    hint: `tried:\n  ${tried.join('\n  ')}\nupdate the lock, or check the snapshot service (CAKE_SNAPSHOT_URL)`,
  });
}

/** Keeps a verified InRelease in the store and, unless it is older than the cached one, in the cache. */
function remember(ctx: InReleaseLoadContext, bytes: Buffer, sha256: string, cacheFile: string, cached: Buffer | undefined, release: Release, what: string): void {
  if (!ctx.blobs.has(sha256)) {
    const tmp = ctx.blobs.tmpPath('inrelease');
    writeFileSync(tmp, bytes);
    ctx.blobs.adopt(tmp, sha256);
  }
  if (cached !== undefined && cached.equals(bytes)) return;
  if (cached !== undefined && release.date !== undefined) {
    const m = /^Date:\s*(.+)$/m.exec(cached.toString('utf8'));
    let old: Date | undefined;
    try {
      old = m ? parseReleaseDate(m[1] as string, 'Date', what) : undefined;
    } catch {
      old = undefined;
    }
    if (old !== undefined && old.getTime() > release.date.getTime()) {
      ctx.logger.warn(`${what} is older than the one seen before (${release.date.toISOString()} < ${old.toISOString()}): the mirror may be stale`);
      return;
    }
  }
  mkdirSync(dirname(cacheFile), { recursive: true });
  writeFileAtomic(cacheFile, bytes);
}

/** `<cache>/debian/inrelease/<suite>-<hash of mirror and suite>`. */
export function inReleaseCachePath(paths: CakePaths, mirror: string, suite: string): string {
  const key = createHash('sha256').update(`${mirror}\0${suite}`).digest('hex').slice(0, 16);
  return join(paths.cache, 'debian', 'inrelease', `${suite.replace(/[^A-Za-z0-9._-]/g, '_')}-${key}`);
}

function readOptional(file: string): Buffer | undefined {
  try {
    return readFileSync(file);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
}
