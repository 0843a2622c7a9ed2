/**
 * The lock of an archive pull (`cake pull SOURCE --lock FILE`), what RECIPE.lock is to a recipe:
 * the InRelease digest of every suite, the exact package set (name, version, arch, .deb digest),
 * the SOURCE_DATE_EPOCH and the tree hash. `cake pull --locked FILE` rebuilds exactly that: the
 * InRelease files by digest (from the store, the mirror, or snapshot.debian.org when the mirror
 * moved on, see src/debian/snapshot.ts), the same packages, the same times, and checks the tree
 * hash. JSON, written atomically; `version` is bumped on an incompatible change.
 */
import { writeFileAtomic } from '../store/atomic-write.js';
import type { Variant } from '../model/names.js';
import { readFileSync } from 'node:fs';
import type { DebRef } from '../debian/bootstrap.js';
import { CakeError, isErrno, OptionError } from '../model/errors.js';
import type { EnvRecord } from '../store/env-record.js';

export interface PullLock {
  version: 1;
  /** The SOURCE as typed (debian:trixie). */
  source: string;
  distro: string;
  release: string;
  /** Distro arch (x86_64) and Debian arch (amd64). */
  arch: string;
  debianArch: string;
  keyring: 'debian' | 'ubuntu';
  components: string[];
  variant: Variant;
  /** As requested (--packages). */
  packages: string[];
  recommends: boolean;
  suites: Array<{ mirror: string; suite: string; inReleaseSha256: string; date?: string }>;
  /** ISO time of the pull: where the snapshot search starts. */
  pulledAt: string;
  sourceDateEpoch: number;
  debs: DebRef[];
  treeSha256?: string;
}

interface ArchiveResolved {
  distro?: string;
  release?: string;
  archive?: { suites: PullLock['suites']; components: string[]; arch: string; keyring: PullLock['keyring']; variant: PullLock['variant']; packages: string[]; recommends: boolean; sourceDateEpoch: number };
  packages?: DebRef[];
}

/** The lock of an env built from the archive. OptionError(['lock']) for an env of another kind. */
export function lockOf(record: EnvRecord): PullLock {
  const r = record.resolved as ArchiveResolved;
  const a = r.archive;
  if (a === undefined || r.packages === undefined || r.distro === undefined || r.release === undefined) {
    throw new OptionError(['lock'], `{lock} applies to Debian/Ubuntu archive builds; ${record.source.ref} is a ${record.source.kind} source`, 'pin other sources by digest (a sha256 pin, IMAGE@sha256:…) or by the tree hash `cake pull` prints');
  }
  return {
    version: 1,
    source: record.source.ref,
    distro: r.distro,
    release: r.release,
    arch: record.arch,
    debianArch: a.arch,
    keyring: a.keyring,
    components: a.components,
    variant: a.variant,
    packages: a.packages,
    recommends: a.recommends,
    suites: a.suites.map((s) => ({ mirror: s.mirror, suite: s.suite, inReleaseSha256: s.inReleaseSha256, ...(s.date ? { date: s.date } : {}) })),
    pulledAt: record.created,
    sourceDateEpoch: a.sourceDateEpoch,
    debs: r.packages.map((d) => ({ name: d.name, version: d.version, arch: d.arch, sha256: d.sha256 })),
    ...(record.treeSha256 ? { treeSha256: record.treeSha256 } : {}),
  };
}

/** Writes `lock` to `file` atomically (temp file, rename). */
export function writePullLock(file: string, lock: PullLock): void {
  writeFileAtomic(file, JSON.stringify(lock, null, 1) + '\n');
}

const HEX64 = /^[0-9a-f]{64}$/;

/** Reads and checks a lock file. CakeError('not-found') / ('bad-source') with the file named. */
export function readPullLock(file: string): PullLock {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) throw new CakeError('not-found', `lock file not found: ${file}`, { hint: 'write one with `cake pull SOURCE --lock FILE`' });
    throw err;
  }
  let v: PullLock;
  try {
    v = JSON.parse(text) as PullLock;
  } catch (err) {
    throw new CakeError('bad-source', `${file}: not JSON (${(err as Error).message})`, { hint: 'write it again with `cake pull SOURCE --lock FILE`' });
  }
  const bad = (what: string): never => {
    throw new CakeError('bad-source', `${file}: not a cake pull lock (${what})`, { hint: 'write it again with `cake pull SOURCE --lock FILE`' });
  };
  if (v === null || typeof v !== 'object' || v.version !== 1) bad('version must be 1');
  if (typeof v.source !== 'string' || typeof v.distro !== 'string' || typeof v.release !== 'string' || typeof v.debianArch !== 'string' || typeof v.arch !== 'string') bad('source, distro, release, arch');
  if (v.keyring !== 'debian' && v.keyring !== 'ubuntu') bad('keyring');
  if (!Array.isArray(v.suites) || v.suites.length === 0 || v.suites.some((s) => typeof s?.mirror !== 'string' || typeof s.suite !== 'string' || !HEX64.test(s.inReleaseSha256))) bad('suites');
  if (!Array.isArray(v.debs) || v.debs.length === 0 || v.debs.some((d) => typeof d?.name !== 'string' || typeof d.version !== 'string' || typeof d.arch !== 'string' || !HEX64.test(d.sha256))) bad('debs');
  if (!Number.isInteger(v.sourceDateEpoch) || typeof v.pulledAt !== 'string' || !Array.isArray(v.components) || !Array.isArray(v.packages)) bad('sourceDateEpoch, pulledAt, components, packages');
  if (v.treeSha256 !== undefined && !HEX64.test(v.treeSha256)) bad('treeSha256');
  return v;
}
