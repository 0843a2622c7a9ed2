/**
 * `cake push`'s use case: an env as a one-layer OCI image (see push.ts), packed under the env's
 * lock into a temporary in the store and sent to a registry or written into an OCI layout. The
 * temporary is removed whatever happens; a killed run's leftovers are swept from the env first, so
 * they never reach the layer.
 */
import type { UseCaseDeps } from '../store/use-case-deps.js';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { engineCacheDir, sweepRuns } from '../run/run-dir.js';
import { withLock } from '../store/lock.js';
import { BlobLocations } from './blob-locations.js';
import { connectRegistry } from './connect.js';
import { buildImage, pushToLayout, pushToRegistry } from './push.js';
import { formatReference } from './reference.js';

export interface PushEnvDeps extends UseCaseDeps {
  insecure?: boolean;
}

/** Where to push: a registry repository or an OCI layout directory, each with a tag. */
export type PushTarget = { kind: 'registry'; registry: string; repository: string; tag: string } | { kind: 'oci-layout'; dir: string; tag: string };

export interface PushEnvResult {
  /** The target as the user writes it: `docker://HOST/REPO:TAG` or `oci:DIR:TAG`. */
  shown: string;
  /** The manifest's digest. */
  digest: string;
  entries: number;
  layerBytes: number;
  /** For a registry: how the layer got there. */
  layer?: 'present' | 'mounted' | 'uploaded';
}

/** Pushes env `name` to `target`; `sourceDateEpoch` fixes every mtime (same tree + epoch → same digests). */
export async function pushEnv(deps: PushEnvDeps, name: string, target: PushTarget, opts: { sourceDateEpoch?: number } = {}): Promise<PushEnvResult> {
  const record = deps.envs.get(name);
  deps.blobs.init();
  sweepRuns(engineCacheDir(deps.paths));
  const layerPath = deps.blobs.tmpPath('push-layer');
  try {
    deps.logger.info(`packing ${name}`);
    const built = await withLock(deps.envs.lockPath(name), { what: `environment ${name}`, signal: deps.signal }, () =>
      buildImage({
        rootfs: deps.envs.rootfs(name),
        ownership: record.ownership ?? {},
        arch: record.arch,
        ...(record.config ? { defaults: record.config } : {}),
        layerPath,
        ...(opts.sourceDateEpoch !== undefined ? { sourceDateEpoch: opts.sourceDateEpoch } : {}),
        signal: deps.signal,
      }),
    );
    const mib = (built.layer.size / 1048576).toFixed(1);
    const base = { entries: built.entries, layerBytes: built.layer.size };
    if (target.kind === 'oci-layout') {
      const shown = `oci:${target.dir}:${target.tag}`;
      const digest = pushToLayout(target.dir, target.tag, built);
      deps.logger.info(`wrote ${name} to ${shown}: ${built.entries} entries, layer ${mib} MiB`);
      return { ...base, shown, digest };
    }
    const { registry, repository, tag } = target;
    const shown = `docker://${formatReference({ registry, repository, tag })}`;
    const client = await connectRegistry({ http: deps.http, logger: deps.logger, signal: deps.signal, env: deps.hostEnv, insecure: deps.insecure ?? false });
    deps.logger.info(`pushing ${name} to ${shown} (layer ${mib} MiB)`);
    const result = await pushToRegistry(client, { registry, repository, what: shown }, tag, built, {
      logger: deps.logger,
      locations: new BlobLocations(join(deps.paths.cache, 'oci')),
    });
    const how = result.blobs[0]?.how;
    const layer = how === 'present' ? 'present' : how === 'mounted' ? 'mounted' : 'uploaded';
    deps.logger.info(`pushed ${name}: ${built.entries} entries, layer ${layer === 'present' ? 'already there' : layer === 'mounted' ? 'mounted from another repository' : 'uploaded'}`);
    return { ...base, shown, digest: result.digest, layer };
  } finally {
    rmSync(layerPath, { force: true });
  }
}
