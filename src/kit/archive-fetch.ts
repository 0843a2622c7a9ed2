/**
 * The Debian packages a bake takes from the archive — the kernel, busybox-static for the
 * initramfs, systemd-boot-efi and syslinux-common for the bootloaders — through cake's own
 * archive client: signed InRelease, verified indices, .debs checked by SHA256 into the blob store.
 *
 * Resolving means loading the indices (seconds), so the answer is remembered in the cache for a
 * day: a second bake within that day touches no network at all when the .debs are in the store.
 * When the archive cannot be reached, an older answer is used with a warning.
 */
import { writeFileAtomic } from '../store/atomic-write.js';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { findRelease, selectSource } from '../model/distro.js';
import { loadDistros } from '../store/distros.js';
import { CakeError } from '../model/errors.js';
import type { Logger } from '../model/logger.js';
import type { HttpClient } from '../net/http-client.js';
import type { BlobStore } from '../store/blobs.js';
import type { CakePaths } from '../store/paths.js';
import { ArchiveClient, toPackageIndex, type LoadedIndices } from '../debian/archive-client.js';
import type { PackageIndex, PackageRecord } from '../debian/package-index.js';
import { compareVersions } from '../debian/version.js';
import type { FetchedDeb as KitDeb } from './kit-deb.js';

export interface KitDeps {
  http: () => Promise<HttpClient>;
  blobs: BlobStore;
  paths: CakePaths;
  logger: Logger;
  signal?: AbortSignal;
  distrosDir: string;
  now?: () => Date;
}

export interface KitRequest {
  name: string;
  version?: string;
  /** Follow a kernel metapackage (linux-image-amd64) to the image package it depends on. */
  kernel?: boolean;
}

type Answer = Omit<KitDeb, 'path'> & { resolvedAt: string };

interface CacheFile {
  answers: Record<string, Answer>;
}

const FRESH_MS = 24 * 3600 * 1000;

function requestKey(r: KitRequest): string {
  return `${r.kernel ? 'kernel:' : ''}${r.name}${r.version ? `=${r.version}` : ''}`;
}

/**
 * The .debs for `requests` from the Debian release `release` (a name in distros/debian.yaml) for
 * a `machine` (distro arch name, default x86_64), fetched into the store. Throws
 * CakeError('not-found') for a package or version the archive does not have.
 */
export async function fetchKit(deps: KitDeps, release: string, requests: readonly KitRequest[], machine = 'x86_64'): Promise<Map<string, KitDeb>> {
  const cacheFile = join(deps.paths.cache, 'bake', machine === 'x86_64' ? `archive-${release}.json` : `archive-${release}-${machine}.json`);
  const now = deps.now?.() ?? new Date();
  let answers = readCache(cacheFile)?.answers ?? {};
  const isFresh = (r: KitRequest): boolean => {
    const a = answers[requestKey(r)];
    return a !== undefined && now.getTime() - Date.parse(a.resolvedAt) < FRESH_MS;
  };
  const stale = requests.filter((r) => !isFresh(r));
  if (stale.length > 0) {
    try {
      const fresh = await resolveAll(deps, release, stale, machine);
      answers = { ...(readCache(cacheFile)?.answers ?? answers) };
      for (const [k, v] of Object.entries(fresh)) answers[k] = { ...v, resolvedAt: now.toISOString() };
      writeCache(cacheFile, { answers });
    } catch (err) {
      const offline = err instanceof CakeError && (err.code === 'network' || err.code === 'http');
      if (!offline || stale.some((r) => answers[requestKey(r)] === undefined)) throw err;
      deps.logger.warn(`the Debian archive cannot be reached (${err.message}); using the packages chosen before`);
    }
  }
  const chosen = requests.map((r) => answers[requestKey(r)] as Omit<KitDeb, 'path'>);
  const http = chosen.every((c) => deps.blobs.has(c.sha256)) ? undefined : await deps.http();
  const out = new Map<string, KitDeb>();
  if (http === undefined) {
    requests.forEach((r, i) => out.set(r.name, { ...(chosen[i] as Omit<KitDeb, 'path'>), path: deps.blobs.path((chosen[i] as KitDeb).sha256) }));
    return out;
  }
  const client = new ArchiveClient(archiveDeps(deps, http), { mirror: 'http://deb.debian.org/debian', suites: [release], components: ['main'], arch: chosen[0]?.arch === undefined || chosen[0].arch === 'all' ? 'amd64' : chosen[0].arch, keyring: 'debian' });
  const paths = await client.fetchDebs(chosen.map((c) => ({ name: c.name, filename: c.filename, sha256: c.sha256, size: c.size, ...(c.origin ? { origin: c.origin } : {}) })));
  requests.forEach((r, i) => {
    const c = chosen[i] as Omit<KitDeb, 'path'>;
    out.set(r.name, { ...c, path: paths.get(c.sha256) as string });
  });
  return out;
}

function archiveDeps(deps: KitDeps, http: HttpClient) {
  return { http, blobs: deps.blobs, paths: deps.paths, logger: deps.logger, ...(deps.signal ? { signal: deps.signal } : {}), ...(deps.now ? { now: deps.now } : {}) };
}

async function resolveAll(deps: KitDeps, release: string, requests: readonly KitRequest[], machine: string): Promise<Record<string, Omit<KitDeb, 'path'>>> {
  const defs = await loadDistros(deps.distrosDir);
  const rel = findRelease(defs, 'debian', release).release;
  const src = selectSource(rel, machine, ['archive']);
  if (src.kind !== 'archive') throw new CakeError('internal', 'no archive source');
  const byMirror = new Map<string, string[]>();
  for (const s of src.suites) byMirror.set(s.mirror, [...(byMirror.get(s.mirror) ?? []), s.suite]);
  const http = await deps.http();
  deps.logger.info(`reading the Debian ${release} archive index`);
  const merged: LoadedIndices = { releases: [], packagesText: [] };
  for (const [mirror, suites] of byMirror) {
    const client = new ArchiveClient(archiveDeps(deps, http), { mirror, suites, components: ['main'], arch: src.debianArch, keyring: src.keyring });
    const loaded = await client.loadIndices();
    merged.releases.push(...loaded.releases);
    merged.packagesText.push(...loaded.packagesText);
  }
  const index = toPackageIndex(merged);
  const out: Record<string, Omit<KitDeb, 'path'>> = {};
  for (const r of requests) {
    const rec = r.kernel ? followKernel(index, pick(index, r.name, r.version, release, src.debianArch), release, src.debianArch) : pick(index, r.name, r.version, release, src.debianArch);
    out[requestKey(r)] = { name: rec.name, version: rec.version, arch: rec.arch, filename: rec.filename, sha256: rec.sha256, size: rec.size, origin: rec.origin ?? '' };
  }
  return out;
}

function pick(index: PackageIndex, name: string, version: string | undefined, release: string, arch: string): PackageRecord {
  const records = index.byName(name).filter((p) => p.arch === arch || p.arch === 'all');
  const rec = version === undefined ? records[0] : records.find((p) => p.version === version);
  if (rec === undefined) {
    const known = records.map((p) => p.version).sort(compareVersions).reverse().slice(0, 5);
    throw new CakeError('not-found', `Debian ${release} has no package ${name}${version ? ` version ${version}` : ''}`, {
      hint: known.length > 0 ? `versions there: ${known.join(', ')}` : 'check the package name (e.g. linux-image-amd64, linux-image-cloud-amd64)',
    });
  }
  return rec;
}

/** linux-image-amd64 → linux-image-6.1.0-NN-amd64: follows Depends while the package is a metapackage. */
function followKernel(index: PackageIndex, rec: PackageRecord, release: string, arch: string): PackageRecord {
  let cur = rec;
  for (let hops = 0; hops < 4; hops++) {
    if (/^linux-image-\d/.test(cur.name)) return cur;
    const dep = cur.depends.flatMap((alt) => alt).find((d) => d.name.startsWith('linux-image-') && d.name !== cur.name);
    if (dep === undefined) return cur;
    cur = pick(index, dep.name, dep.op === '=' ? dep.version : undefined, release, arch);
  }
  return cur;
}

function readCache(file: string): CacheFile | undefined {
  try {
    const c = JSON.parse(readFileSync(file, 'utf8')) as CacheFile;
    return typeof c.answers === 'object' && c.answers !== null ? c : undefined;
  } catch {
    return undefined;
  }
}

function writeCache(file: string, c: CacheFile): void {
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileAtomic(file, JSON.stringify(c, null, 1) + '\n');
}
