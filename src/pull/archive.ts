/**
 * The `archive` source kind: a Debian/Ubuntu env bootstrapped by cake from the signed archive
 * (src/debian/bootstrap.ts) into a staged env, with everything needed to rebuild it recorded in
 * env.json: the (mirror, suite) pairs with their InRelease digests, the variant and requested
 * packages, every installed package with its version and .deb digest, the fakeroot kit's packages
 * (`fakeroot`, for recording ownership in `cake exec`) and the finished tree's blob (`tree`), all
 * also listed in `blobs`, so `cake gc` keeps them.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { removeTree } from '../archive/remove-tree.js';
import { bootstrapDebian, type DebRef, type BootstrapDeps, type BootstrapInputs, type BootstrapOptions, type BootstrapResult, type BootstrapVariant } from '../debian/bootstrap.js';
import { planBootstrap, type BootstrapPlan } from '../debian/bootstrap-inputs.js';
import { CakeError } from '../model/errors.js';
import type { SelectedSource } from '../model/distro.js';
import type { EnvRecord } from '../store/env-record.js';
import { TreeCache } from '../store/tree-cache.js';
import { isForeignArch } from '../run/arch.js';
import { requireForeignRunner } from '../run/foreign.js';
import { machine } from 'node:os';
import type { SourceDeps } from './deps.js';

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export type ArchiveSelection = Extract<SelectedSource, { kind: 'archive' }>;

/** SourceDeps (whose hostEnv and engine run the guest's dpkg) plus the engine's cache dir. */
export interface ArchivePullDeps extends SourceDeps {
  /** Where the engine caches self-checks; default `<cache>/engine` (as the CLI's run commands). */
  engineCacheDir?: string;
}

export interface ArchivePullRequest {
  /** The env's name (validated by the caller). */
  name: string;
  /** What env.json records as the source. */
  source: EnvRecord['source'];
  /** The archive source chosen from a distro definition (selectSource). */
  archive: ArchiveSelection;
  /** Recorded in `resolved` (e.g. distro, release). */
  resolved?: Record<string, unknown>;
  /** Extra packages (`--packages`): NAME, NAME=VERSION, NAME:ARCH. */
  packages?: string[];
  /** Default: the definition's variant. */
  variant?: BootstrapVariant;
  /** Install Recommends (`--recommends`); default false. */
  recommends?: boolean;
  /** Accept Releases past their Valid-Until, with one warning each (`--allow-expired`). */
  allowExpired?: boolean;
  /** SOURCE_DATE_EPOCH; default the newest Release Date read (bootstrap-normalise.ts). */
  sourceDateEpoch?: number;
  /** A locked rebuild (pull-lock.ts): InRelease digests by suite and the exact package set. */
  locked?: { inReleaseSha256: Record<string, string>; debs: DebRef[]; pulledAt: string; snapshotBase?: string };
  force?: boolean;
}

export interface ArchivePullOutcome {
  record: EnvRecord;
  /** The env already held this very request; nothing was built. */
  upToDate: boolean;
}

/** The request as recorded, to tell whether an existing env was built from the same one. */
function requestKey(a: ArchiveSelection, variant: string, packages: readonly string[], recommends: boolean, epoch: number | undefined): string {
  return JSON.stringify({ suites: a.suites, components: a.components, arch: a.debianArch, keyring: a.keyring, variant, packages: [...packages].sort(), recommends, ...(epoch === undefined ? {} : { sourceDateEpoch: epoch }) });
}

/**
 * Builds env `req.name` from a Debian/Ubuntu archive, atomically (staged, renamed into place).
 * An existing env built from the same request is kept as it is unless `force` (then it is rebuilt
 * against the archive's current state); one built from anything else is a CakeError('exists')
 * without `force`. A build whose inputs (InRelease digests, .deb digests, request, cake's
 * bootstrap format: the build key) match an earlier one extracts that build's finished tree from
 * the tree cache instead of unpacking and running dpkg (`force` too: the key is the whole input,
 * so the result is the same); a fresh build stores its tree there. Errors: see bootstrapDebian.
 */
export async function pullFromArchive(deps: ArchivePullDeps, req: ArchivePullRequest): Promise<ArchivePullOutcome> {
  const a = req.archive;
  const variant = req.variant ?? a.variant;
  const packages = req.packages ?? [];
  const recommends = req.recommends ?? false;
  const key = requestKey(a, variant, packages, recommends, req.sourceDateEpoch);
  let reused = false;
  const reuse = req.force ? undefined : (existing: EnvRecord): boolean => (reused = existing.source.ref === req.source.ref && (existing.resolved as { request?: string }).request === key);
  // a foreign build runs the guest's dpkg: say so before anything is downloaded when it cannot
  if (isForeignArch(a.arch, machine())) await requireForeignRunner(a.arch, machine(), deps.hostEnv ?? { PATH: DEFAULT_PATH });
  // what cake and the guest create must not depend on the user's umask (a reproducible tree)
  const umask = process.umask(0o022);
  try {
    return await createFromArchive(deps, req, { variant, packages, recommends, key, reuse, wasReused: () => reused });
  } finally {
    process.umask(umask);
  }
}

async function createFromArchive(
  deps: ArchivePullDeps,
  req: ArchivePullRequest,
  r: { variant: BootstrapVariant; packages: string[]; recommends: boolean; key: string; reuse: ((e: EnvRecord) => boolean) | undefined; wasReused: () => boolean },
): Promise<ArchivePullOutcome> {
  const a = req.archive;
  const { variant, packages, recommends, key, reuse } = r;
  const [first] = a.suites;
  const record = await deps.envs.create(
    req.name,
    async ({ rootfs }) => {
      deps.logger.info(`building ${req.name} from ${first?.mirror ?? 'the archive'} (${a.suites.map((s) => s.suite).join(', ')}; ${variant}${packages.length ? ` + ${packages.join(' ')}` : ''})`);
      const started = Date.now();
      const http = await deps.http();
      const bdeps: BootstrapDeps = {
        http,
        blobs: deps.blobs,
        paths: deps.paths,
        logger: deps.logger,
        signal: deps.signal,
        engine: {
          ...(deps.engine ? { name: deps.engine } : {}),
          hostEnv: deps.hostEnv ?? { PATH: DEFAULT_PATH },
          cacheDir: deps.engineCacheDir ?? join(deps.paths.cache, 'engine'),
          ...(deps.kits ? { kits: deps.kits } : {}),
        },
      };
      const bopts: BootstrapOptions = {
        rootfs,
        mirror: first?.mirror ?? '',
        suites: a.suites,
        components: a.components,
        arch: a.debianArch,
        guestArch: a.arch,
        keyring: a.keyring,
        variant,
        packages,
        recommends,
        ...(req.allowExpired ? { allowExpired: true } : {}),
        ...(req.sourceDateEpoch !== undefined ? { sourceDateEpoch: req.sourceDateEpoch } : {}),
        ...(req.locked ? { pinnedInRelease: req.locked.inReleaseSha256, locked: { debs: req.locked.debs, pulledAt: req.locked.pulledAt, ...(req.locked.snapshotBase ? { snapshotBase: req.locked.snapshotBase } : {}) } } : {}),
        logFile: join(deps.paths.cache, 'logs', `bootstrap-${req.name}.log`),
        label: req.name,
      };
      const plan = await planBootstrap(bdeps, bopts);
      const trees = new TreeCache(deps.paths, deps.blobs);
      const built = (await fromTreeCache(deps, trees, plan.inputs, rootfs)) ?? (await buildAndStore(deps, trees, bdeps, bopts, plan));
      const { result, tree } = built;
      deps.logger.info(`${tree.reused ? 'restored' : 'built'} ${req.name}: ${result.packages} packages in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      return {
        version: 1,
        name: req.name,
        created: new Date().toISOString(),
        source: req.source,
        resolved: {
          ...req.resolved,
          request: key,
          archive: {
            suites: result.sources.map((s) => ({ ...s, inReleaseSha256: result.inReleaseSha256[s.suite] })),
            components: a.components,
            arch: a.debianArch,
            keyring: a.keyring,
            variant,
            packages,
            recommends,
            sourceDateEpoch: result.sourceDateEpoch,
          },
          packages: result.debs,
          fakeroot: { debs: result.fakerootKit },
          tree,
          blobs: [...new Set([...result.debs.map((d) => d.sha256), ...result.fakerootKit.map((d) => d.sha256), ...Object.values(result.inReleaseSha256), ...(tree.sha256 ? [tree.sha256] : [])])],
        },
        arch: a.arch,
        stats: { entries: result.stats.entries, packages: result.packages, dpkgRuns: result.stats.dpkgRuns, devicesSkipped: result.stats.devices, downloadBytes: result.downloadBytes },
        ownership: result.ownership,
      } satisfies EnvRecord;
    },
    { ...(req.force ? { force: true } : {}), ...(reuse ? { reuse } : {}), signal: deps.signal, onWait: () => deps.logger.info(`waiting for another cake process working on ${req.name}`) },
  );
  return { record, upToDate: r.wasReused() };
}

interface Built {
  result: BootstrapResult;
  /** The finished tree's build key and blob (absent when it could not be stored), and whether it was reused. */
  tree: { key: string; sha256?: string; reused: boolean };
}

/** The finished tree of an identical earlier build, extracted into `rootfs`; undefined on a miss. */
async function fromTreeCache(deps: ArchivePullDeps, trees: TreeCache, inputs: BootstrapInputs, rootfs: string): Promise<Built | undefined> {
  const entry = trees.lookup(inputs.buildKey);
  if (entry === undefined) return undefined;
  deps.logger.info(`restoring the finished tree of an identical build (${(entry.size / 1024 / 1024).toFixed(1)} MiB)`);
  try {
    const { ownership, stats } = await trees.restore(entry, rootfs, deps.signal);
    const devices = Object.values(ownership).filter((r) => r.kind === 'char' || r.kind === 'block').length;
    return {
      result: { ...inputs, ownership, stats: { entries: stats.entries, unpacked: stats.entries, fakedPaths: 0, devices, dpkgRuns: 0 } },
      tree: { key: inputs.buildKey, sha256: entry.sha256, reused: true },
    };
  } catch (err) {
    if (deps.signal.aborted || (err instanceof CakeError && err.code === 'interrupted')) throw err;
    deps.logger.warn(`the cached tree could not be restored (${(err as Error).message}); building instead`);
    trees.forget(inputs.buildKey);
    await removeTree(rootfs);
    mkdirSync(rootfs, { recursive: true, mode: 0o755 });
    return undefined;
  }
}

/** A bootstrap, its finished tree stored under the build key (a failure to store is a warning). */
async function buildAndStore(deps: ArchivePullDeps, trees: TreeCache, bdeps: BootstrapDeps, bopts: BootstrapOptions, plan: BootstrapPlan): Promise<Built> {
  const result = await bootstrapDebian(bdeps, bopts, plan);
  const started = Date.now();
  try {
    const entry = await trees.store(result.buildKey, bopts.rootfs, result.ownership, { signal: deps.signal });
    deps.logger.debug(`stored the finished tree (${entry.entries} entries, ${(entry.size / 1024 / 1024).toFixed(1)} MiB ${entry.compression}) in ${Date.now() - started} ms`);
    return { result, tree: { key: result.buildKey, sha256: entry.sha256, reused: false } };
  } catch (err) {
    if (deps.signal.aborted) throw err;
    deps.logger.warn(`the finished tree could not be cached: ${(err as Error).message}`);
    return { result, tree: { key: result.buildKey, reused: false } };
  }
}
