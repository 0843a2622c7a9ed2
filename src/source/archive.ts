/**
 * The `archive` source kind: a Debian/Ubuntu env bootstrapped by cake from the signed archive
 * (src/debian/bootstrap.ts) into a staged env, with everything needed to rebuild it recorded in
 * env.json: the (mirror, suite) pairs with their InRelease digests, the variant and requested
 * packages, and every installed package with its version and .deb digest (also listed in `blobs`,
 * so `cake gc` keeps them).
 */
import { join } from 'node:path';
import { bootstrapDebian, type BootstrapVariant } from '../debian/bootstrap.js';
import type { SelectedSource } from '../model/distro.js';
import type { EngineName } from '../run/run-options.js';
import type { EnvRecord } from '../store/env-record.js';
import type { SourceDeps } from './deps.js';

export type ArchiveSelection = Extract<SelectedSource, { kind: 'archive' }>;

/** SourceDeps plus what running the guest's dpkg needs (the CLI passes its environment). */
export interface ArchivePullDeps extends SourceDeps {
  /** The host environment the engine looks up tools in (PATH, HOME); default a standard PATH. */
  hostEnv?: Record<string, string | undefined>;
  /** Default auto. */
  engine?: EngineName;
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
  force?: boolean;
}

export interface ArchivePullOutcome {
  record: EnvRecord;
  /** The env already held this very request; nothing was built. */
  upToDate: boolean;
}

/** The request as recorded, to tell whether an existing env was built from the same one. */
function requestKey(a: ArchiveSelection, variant: string, packages: readonly string[], recommends: boolean): string {
  return JSON.stringify({ suites: a.suites, components: a.components, arch: a.debianArch, keyring: a.keyring, variant, packages: [...packages].sort(), recommends });
}

/**
 * Builds env `req.name` from a Debian/Ubuntu archive, atomically (staged, renamed into place).
 * An existing env built from the same request is kept as it is unless `force` (then it is rebuilt
 * against the archive's current state); one built from anything else is a CakeError('exists')
 * without `force`. Errors: see bootstrapDebian.
 */
export async function pullFromArchive(deps: ArchivePullDeps, req: ArchivePullRequest): Promise<ArchivePullOutcome> {
  const a = req.archive;
  const variant = req.variant ?? a.variant;
  const packages = req.packages ?? [];
  const recommends = req.recommends ?? false;
  const key = requestKey(a, variant, packages, recommends);
  let reused = false;
  const reuse = req.force ? undefined : (existing: EnvRecord): boolean => (reused = existing.source.ref === req.source.ref && (existing.resolved as { request?: string }).request === key);
  const [first] = a.suites;
  const record = await deps.envs.create(
    req.name,
    async ({ rootfs }) => {
      deps.logger.info(`building ${req.name} from ${first?.mirror ?? 'the archive'} (${a.suites.map((s) => s.suite).join(', ')}; ${variant}${packages.length ? ` + ${packages.join(' ')}` : ''})`);
      const started = Date.now();
      const http = await deps.http();
      const result = await bootstrapDebian(
        {
          http,
          blobs: deps.blobs,
          paths: deps.paths,
          logger: deps.logger,
          signal: deps.signal,
          engine: {
            ...(deps.engine ? { name: deps.engine } : {}),
            hostEnv: deps.hostEnv ?? { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' },
            cacheDir: deps.engineCacheDir ?? join(deps.paths.cache, 'engine'),
          },
        },
        {
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
          logFile: join(deps.paths.cache, 'logs', `bootstrap-${req.name}.log`),
          label: req.name,
        },
      );
      deps.logger.info(`built ${req.name}: ${result.packages} packages in ${((Date.now() - started) / 1000).toFixed(1)} s`);
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
          },
          packages: result.debs,
          blobs: [...new Set([...result.debs.map((d) => d.sha256), ...Object.values(result.inReleaseSha256)])],
        },
        arch: a.arch,
        stats: { entries: result.stats.entries, packages: result.packages, dpkgRuns: result.stats.dpkgRuns, devicesSkipped: result.stats.devices, downloadBytes: result.downloadBytes },
        ownership: result.ownership,
      } satisfies EnvRecord;
    },
    { ...(req.force ? { force: true } : {}), ...(reuse ? { reuse } : {}), signal: deps.signal, onWait: () => deps.logger.info(`waiting for another cake process working on ${req.name}`) },
  );
  return { record, upToDate: reused };
}
