/**
 * Builds a Debian/Ubuntu root filesystem straight from the archive, rootless:
 * 1. verified InRelease and Packages indices (archive-client.ts), the resolver's answer for the
 *    variant plus the requested packages, the .debs fetched in parallel into the blob store
 *    (bootstrap-inputs.ts);
 * 2. the essential set extracted by cake's safe extractor, /usr merged, a minimal dpkg database,
 *    policy-rc.d, diverted start-stop-daemon and ischroot stubs, sources.list (bootstrap-tree.ts);
 * 3. the guest's own dpkg, run through the engine: `dpkg --install --force-depends` of the essential
 *    set, then the rest in as few `dpkg --install` runs as Pre-Depends allow;
 * 4. all of it under the guest's fakeroot (bootstrap-fakeroot.ts): what dpkg and the maintainer
 *    scripts chown'ed becomes the env's ownership table.
 * The tree is left without cake's build files, stubs or policy-rc.d.
 */
import type { Variant } from '../model/names.js';
import { existsSync, lstatSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { recordOwner, type OwnershipTable } from '../model/ownership.js';
import { removeTree } from '../archive/remove-tree.js';
import { CakeError } from '../model/errors.js';
import type { Logger } from '../model/logger.js';
import type { HttpClient } from '../net/http-client.js';
import type { EngineDeps } from '../run/engine.js';
import { ownerShimElf } from '../run/owner-shim.js';
import type { EngineName } from '../model/run-options.js';
import type { BlobStore } from '../store/blobs.js';
import type { CakePaths } from '../store/paths.js';
import { applyFakedOwnership, snapshotInodes } from '../archive/faked-apply.js';
import { parseFakedSave } from '../archive/faked-save.js';
import { BUILD_DIR, FAKED_SAVE, installFakeroot, runGuestScript, shWord, stageDebs, type GuestRunContext } from './bootstrap-guest.js';
import { mergedUsrDirs } from './bootstrap-merged-usr.js';
import { essentialInstallOrder, groupRuns, recordKey, selectedPreDepends } from './bootstrap-plan.js';
import { planBootstrap, type BootstrapPlan } from './bootstrap-inputs.js';
import { buildDiversions, finishTree, prepareTree, writeSourcesList } from './bootstrap-tree.js';
import { unpackEssential } from './bootstrap-unpack.js';
import { clampTimes, normaliseContent } from './bootstrap-normalise.js';
import type { KeyringSpec } from './keyrings.js';
import type { PackageRecord } from './package-index.js';

/** The package set a bootstrap starts from (model/names.ts). */
export type BootstrapVariant = Variant;

export interface BootstrapDeps {
  http: HttpClient;
  blobs: BlobStore;
  paths: CakePaths;
  logger: Logger;
  signal?: AbortSignal;
  keyringDir?: string;
  /** How guest programs run: the engine (default auto) and its deps (host env, cache dir). */
  engine: { name?: EngineName; hostEnv: EngineDeps['hostEnv']; cacheDir: string; kits?: EngineDeps['kits'] };
}

export interface BootstrapOptions {
  /** An empty directory: the env's root filesystem (usually a staging dir). */
  rootfs: string;
  /** The mirror of suites given by name, e.g. http://deb.debian.org/debian. */
  mirror: string;
  /** Suites, the release's own first: a name (on `mirror`) or a suite on another mirror. */
  suites: ReadonlyArray<string | { mirror: string; suite: string }>;
  components: string[];
  /** Debian architecture (amd64, arm64, …). */
  arch: string;
  /** Distro arch of the guest (x86_64, …) for the engine; default derived by the engine as native. */
  guestArch?: string;
  keyring: KeyringSpec;
  /** essential, minbase (required + apt), standard (+ important, standard), buildd (minbase + build-essential). */
  variant: BootstrapVariant;
  /** Extra packages: NAME, NAME=VERSION, NAME:ARCH. */
  packages: readonly string[];
  recommends: boolean;
  /** suite → InRelease sha256 from an earlier build: a rebuild against the same archive state. */
  pinnedInRelease?: Record<string, string>;
  /** Accept Releases past their Valid-Until, with a warning (apt's Acquire::Check-Valid-Until=false). */
  allowExpired?: boolean;
  /**
   * A locked rebuild (`cake pull --locked`): exactly these packages (each must be in the pinned
   * indices with its digest), indices from the snapshot archive when the mirror moved on.
   */
  locked?: { debs: readonly DebRef[]; pulledAt: string; snapshotBase?: string };
  /** SOURCE_DATE_EPOCH (seconds): every time in the tree is clamped to it; default the newest Release Date read. */
  sourceDateEpoch?: number;
  /** Host file collecting the guest programs' output; default `<dirname(rootfs)>/bootstrap.log`. */
  logFile?: string;
  /** For messages. */
  label?: string;
}

/** A package as env.json records it. */
export interface DebRef {
  name: string;
  version: string;
  arch: string;
  sha256: string;
}

/** What a build is made of, known before anything is unpacked (see planBootstrap). */
export interface BootstrapInputs {
  /** Number of packages installed. */
  packages: number;
  /** Bytes downloaded so far (indices and .debs; 0 when everything was cached). */
  downloadBytes: number;
  /** suite → sha256 of its verified InRelease (the pin for a reproducible rebuild). */
  inReleaseSha256: Record<string, string>;
  /** (mirror, suite) pairs read, in order, with their Release Date (ISO). */
  sources: Array<{ mirror: string; suite: string; date?: string }>;
  debs: DebRef[];
  /**
   * The fakeroot kit: this archive's libc6, libfakeroot and fakeroot, with which the build
   * recorded ownership and with which `cake exec` records it later (src/kit/fakeroot.ts).
   */
  fakerootKit: DebRef[];
  /** The build key: sha256 of every input (bootstrap-plan.ts buildKey); equal keys, equal trees. */
  buildKey: string;
  /** The SOURCE_DATE_EPOCH the tree's times are clamped to (bootstrap-normalise.ts). */
  sourceDateEpoch: number;
}

export interface BootstrapResult extends BootstrapInputs {
  ownership: OwnershipTable;
  /** entries: paths in the finished tree; unpacked: entries of the essential set cake extracted. */
  stats: { entries: number; unpacked: number; fakedPaths: number; devices: number; dpkgRuns: number };
}

/**
 * Bootstraps a Debian/Ubuntu tree into `o.rootfs`, carrying on from `planned` (planBootstrap
 * with the same options) when given, else planning first. Network: the archive (InRelease every time,
 * indices and .debs only when not in the blob store). Runs the guest's dpkg through the engine.
 * Throws CakeError: 'signature'/'not-found'/'network' from the archive, 'resolver' for an
 * unsatisfiable request, 'engine' when dpkg fails (the hint quotes the log). On failure the
 * rootfs is left as it is: the caller removes its staging dir.
 */
export async function bootstrapDebian(deps: BootstrapDeps, o: BootstrapOptions, planned?: BootstrapPlan): Promise<BootstrapResult> {
  const plan = planned ?? (await planBootstrap(deps, o));
  const root = o.rootfs;

  // 2. the essential set, by cake's extractor; the tree dpkg needs
  const table: OwnershipTable = {};
  deps.logger.info(`unpacking ${plan.essential.length} essential packages`);
  const unpacked = await unpackEssential(
    root,
    plan.essential.map((p) => ({ name: p.name, path: plan.blobOf(p) })),
    { table, mergedDirs: mergedUsrDirs(o.arch), logger: deps.logger, ...(deps.signal ? { signal: deps.signal } : {}) },
  );
  deps.logger.debug(`unpacked ${unpacked.stats.entries} entries (${unpacked.merge.moved} moved into /usr)`);
  const baseline = snapshotInodes(root, table);
  const treeOpts = { debianArch: o.arch, mergedDirs: unpacked.merge.linked, diversions: buildDiversions(unpacked.programs) };
  prepareTree(root, treeOpts);
  mkdirSync(join(root, BUILD_DIR), { recursive: true, mode: 0o755 });
  // what maintainer scripts create as another user (su, runuser, initdb as postgres) is that user's
  await installFakeroot(root, plan.fakeroot.map(plan.blobOf), deps.signal, ownerShimElf(o.arch === 'amd64' ? 'x64' : o.arch));
  const staged = stageDebs(root, plan.resolution.packages, plan.blobOf);

  // 3. the guest's dpkg, under the guest's fakeroot
  const logFile = o.logFile ?? join(dirname(root), 'bootstrap.log');
  mkdirSync(dirname(logFile), { recursive: true });
  rmSync(logFile, { force: true });
  const ctx: GuestRunContext = {
    env: { name: o.label ?? 'the env', rootfs: root, ...(o.guestArch ? { arch: o.guestArch } : {}) },
    engine: deps.engine.name ?? 'auto',
    engineDeps: { logger: deps.logger, hostEnv: deps.engine.hostEnv, cacheDir: deps.engine.cacheDir, ...(deps.engine.kits ? { kits: deps.engine.kits } : {}), ...(deps.signal ? { signal: deps.signal } : {}) },
    logFile,
    vars: { SOURCE_DATE_EPOCH: String(plan.inputs.sourceDateEpoch) },
  };
  const hadResolvConf = lstatSync(join(root, 'etc/resolv.conf'), { throwIfNoEntry: false }) !== undefined;
  const files = (ps: readonly PackageRecord[]): string => ps.map((p) => shWord(staged.get(recordKey(p))!)).join(' ');
  const ordered = essentialInstallOrder(plan.essential, plan.resolution.order);
  deps.logger.info(`installing the essential set (${ordered.length} packages)`);
  await runGuestScript(ctx, 'dpkg --install of the essential set', `dpkg --install --force-depends --force-unsafe-io ${files(ordered)}\n`, true, { label: 'configuring', count: ordered.length });
  const runs = restRuns(plan, o.arch);
  if (runs.length > 0) {
    const n = runs.reduce((k, r) => k + r.length, 0);
    deps.logger.info(`installing ${n} more packages (${runs.length} dpkg run${runs.length === 1 ? '' : 's'})`);
    const script = runs.map((r) => `dpkg --install --force-unsafe-io ${files(r)}\n`).join('');
    await runGuestScript(ctx, 'dpkg --install of the other packages', script, true, { label: 'configuring', count: n });
  }

  // 4. ownership, clean-up
  finishTree(root, treeOpts);
  writeSourcesList(root, plan.sources, o.components, typeof o.keyring === 'string' ? o.keyring : undefined);
  const saveFile = join(root, FAKED_SAVE);
  const saved = existsSync(saveFile) ? parseFakedSave(readFileSync(saveFile, 'utf8')) : [];
  const normalised = normaliseContent(root, plan.inputs.sourceDateEpoch);
  if (saved.length === 0) throw new CakeError('internal', 'fakeroot recorded nothing during the build', { hint: `see ${logFile}` });
  const applied = applyFakedOwnership(root, saved, table, { skip: [BUILD_DIR], baseline });
  // What cake wrote after the guest's runs is root's with the mode cake gave it: a new inode may be
  // one the filesystem reused from a file the guest chmod'ed and deleted, and faked's stale record
  // of it must not become this file's (which inode is reused differs between machines and homes)
  for (const rel of HOST_WRITTEN) {
    const st = lstatSync(join(root, rel), { throwIfNoEntry: false });
    if (st?.isFile()) recordOwner(table, rel, { uid: 0, gid: 0, mode: st.mode & 0o7777 }, st.mode);
  }
  await removeTree(join(root, BUILD_DIR));
  removeEmptyMountPoint(root, 'etc/resolv.conf', hadResolvConf);
  const clamped = clampTimes(root, plan.inputs.sourceDateEpoch);
  deps.logger.debug(`normalised: removed ${normalised.join(' ') || 'nothing'}; ${clamped} times clamped to SOURCE_DATE_EPOCH=${plan.inputs.sourceDateEpoch}`);
  deps.logger.debug(`ownership: ${applied.faked} paths from fakeroot, ${applied.devices} device nodes, ${Object.keys(table).length} table entries`);

  return {
    ...plan.inputs,
    ownership: table,
    stats: { entries: applied.paths, unpacked: unpacked.stats.entries, fakedPaths: applied.faked, devices: applied.devices, dpkgRuns: 1 + runs.length },
  };
}

/** Files cake writes into the tree after the guest's dpkg runs (sources.list, finishTree's diversions). */
const HOST_WRITTEN = ['etc/apt/sources.list', 'var/lib/dpkg/diversions'];

/** The dpkg runs after the essential set: its batches without the essential packages, merged. */
function restRuns(plan: BootstrapPlan, arch: string): PackageRecord[][] {
  const essentialKeys = new Set(plan.essential.map(recordKey));
  const selected = new Map(plan.resolution.packages.map((p) => [recordKey(p), p]));
  const batches = plan.resolution.order.map((b) => b.filter((p) => !essentialKeys.has(recordKey(p))));
  return groupRuns(batches, (p) => selectedPreDepends(p, selected, plan.index, arch));
}

/** The userns engine leaves an empty file where it bound the host's resolv.conf: not part of the env. */
function removeEmptyMountPoint(root: string, rel: string, existedBefore: boolean): void {
  if (existedBefore) return;
  const st = lstatSync(join(root, rel), { throwIfNoEntry: false });
  if (st?.isFile() && st.size === 0) rmSync(join(root, rel));
}
