import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../../model/errors.js';
import { parseSource } from '../../model/source.js';
import { BlobLocations } from '../../oci/blob-locations.js';
import { buildImage, pushToLayout, pushToRegistry, type BuiltImage } from '../../oci/push.js';
import { formatReference, parseReference } from '../../oci/reference.js';
import { registryClient } from '../../pull/registry.js';
import { withLock } from '../../store/lock.js';
import type { CliContext } from '../context.js';
import { sourceDeps } from './pull.js';

function sourceDateEpoch(ctx: CliContext): number | undefined {
  const v = ctx.env.SOURCE_DATE_EPOCH;
  if (v === undefined || v === '') return undefined;
  if (!/^\d{1,12}$/.test(v)) throw new UsageError(`SOURCE_DATE_EPOCH must be a number of seconds, not ${JSON.stringify(v)}`);
  return Number(v);
}

/**
 * `cake push NAME docker://HOST/REPO[:TAG]` (or `oci:DIR[:TAG]`): the env as a one-layer OCI image
 * with its real ownership. stdout: the pushed reference with its manifest digest.
 */
export async function pushCommand(ctx: CliContext, args: string[], _opts: Record<string, unknown>): Promise<number> {
  const [name, targetText] = args;
  if (!name || !targetText) throw new UsageError('push needs an environment and a target', 'cake push NAME docker://HOST/REPO:TAG');
  const target = parseSource(targetText);
  if (target.kind !== 'registry' && target.kind !== 'oci-layout') {
    throw new UsageError(`cannot push to ${JSON.stringify(targetText)}`, 'push to docker://HOST/REPO:TAG or oci:DIR:TAG');
  }
  const ref = target.kind === 'registry' ? parseReference(target.ref) : undefined;
  if (ref?.digest) throw new UsageError(`push to a tag, not a digest: ${targetText}`, 'the digest is computed from the image; cake prints it after the push');
  const record = ctx.envs.get(name);
  const deps = sourceDeps(ctx);
  ctx.blobs.init();
  const layerPath = ctx.blobs.tmpPath('push-layer');
  let built: BuiltImage;
  try {
    const epoch = sourceDateEpoch(ctx);
    ctx.logger.info(`packing ${name}`);
    built = await withLock(ctx.envs.lockPath(name), { what: `environment ${name}`, signal: ctx.signal }, () =>
      buildImage({
        rootfs: ctx.envs.rootfs(name),
        ownership: record.ownership ?? {},
        arch: record.arch,
        ...(record.config ? { defaults: record.config } : {}),
        layerPath,
        ...(epoch !== undefined ? { sourceDateEpoch: epoch } : {}),
        signal: ctx.signal,
      }),
    );
    const mib = (built.layer.size / 1048576).toFixed(1);
    let shown: string;
    let digest: string;
    if (target.kind === 'oci-layout') {
      const tag = target.tag ?? 'latest';
      digest = pushToLayout(target.dir, tag, built);
      shown = `oci:${target.dir}:${tag}`;
      ctx.logger.info(`wrote ${name} to ${shown}: ${built.entries} entries, layer ${mib} MiB`);
    } else {
      const r = ref!;
      const tag = r.tag ?? 'latest';
      shown = `docker://${formatReference({ registry: r.registry, repository: r.repository, tag })}`;
      const client = await registryClient(deps, { env: ctx.env, insecure: ctx.insecure });
      ctx.logger.info(`pushing ${name} to ${shown} (layer ${mib} MiB)`);
      const result = await pushToRegistry(client, { registry: r.registry, repository: r.repository, what: shown }, tag, built, {
        logger: ctx.logger,
        locations: new BlobLocations(join(ctx.paths.cache, 'oci')),
      });
      digest = result.digest;
      const how = result.blobs[0]?.how === 'present' ? 'already there' : result.blobs[0]?.how === 'mounted' ? 'mounted from another repository' : 'uploaded';
      ctx.logger.info(`pushed ${name}: ${built.entries} entries, layer ${how}`);
    }
    ctx.stdout.write(`${shown}@${digest}\n`);
    return 0;
  } finally {
    rmSync(layerPath, { force: true });
  }
}
