import { UsageError } from '../../model/errors.js';
import { parseSource } from '../../model/source.js';
import { parseSourceDateEpoch } from '../../model/source-date-epoch.js';
import { pushEnv, type PushTarget } from '../../oci/push-env.js';
import { parseReference } from '../../oci/reference.js';
import type { CliContext } from '../context.js';

/** `docker://HOST/REPO[:TAG]` or `oci:DIR[:TAG]` → a push target (tag default latest); anything else is a usage error. */
function pushTarget(targetText: string): PushTarget {
  const target = parseSource(targetText);
  if (target.kind === 'oci-layout') return { kind: 'oci-layout', dir: target.dir, tag: target.tag ?? 'latest' };
  if (target.kind !== 'registry') throw new UsageError(`cannot push to ${JSON.stringify(targetText)}`, 'push to docker://HOST/REPO:TAG or oci:DIR:TAG');
  const ref = parseReference(target.ref);
  if (ref.digest) throw new UsageError(`push to a tag, not a digest: ${targetText}`, 'the digest is computed from the image; cake prints it after the push');
  return { kind: 'registry', registry: ref.registry, repository: ref.repository, tag: ref.tag ?? 'latest' };
}

/**
 * `cake push NAME docker://HOST/REPO[:TAG]` (or `oci:DIR[:TAG]`): the env as a one-layer OCI image
 * with its real ownership. stdout: the pushed reference with its manifest digest.
 */
export async function pushCommand(ctx: CliContext, args: string[]): Promise<number> {
  const [name, targetText] = args;
  if (!name || !targetText) throw new UsageError('push needs an environment and a target', 'cake push NAME docker://HOST/REPO:TAG');
  const target = pushTarget(targetText);
  const epoch = parseSourceDateEpoch(ctx.env.SOURCE_DATE_EPOCH);
  const deps = { paths: ctx.paths, blobs: ctx.blobs, envs: ctx.envs, logger: ctx.logger, signal: ctx.signal, http: () => ctx.http(), hostEnv: ctx.env, insecure: ctx.insecure };
  const r = await pushEnv(deps, name, target, epoch !== undefined ? { sourceDateEpoch: epoch } : {});
  ctx.stdout.write(`${r.shown}@${r.digest}\n`);
  return 0;
}
