import { parseSource } from '../../model/source.js';
import { parsePlatform } from '../../model/platform.js';
import { CakeError, UsageError } from '../../model/errors.js';
import { pull, type PullOutcome, type PullRequest } from '../../pull/pull.js';
import type { SourceDeps } from '../../pull/deps.js';
import { archiveKits } from '../../kit/provider.js';
import type { CliContext } from '../context.js';
import { join } from 'node:path';
import { loadDistros } from '../../store/distros.js';
import { configList, configString } from '../config.js';
import { parseRegistryMirrors } from '../../oci/mirrors.js';
import { requireEnv } from '../env-names.js';
import { envTreeHash } from '../../store/tree-hash.js';
import { parseSourceDateEpoch } from '../../model/source-date-epoch.js';
import { lockOf, readPullLock, writePullLock } from '../../pull/pull-lock.js';
import type { CommandOptions } from '../command-types.js';

export function sourceDeps(ctx: CliContext): SourceDeps {
  return {
    paths: ctx.paths,
    blobs: ctx.blobs,
    envs: ctx.envs,
    http: () => ctx.http(),
    logger: ctx.logger,
    signal: ctx.signal,
    distrosDir: join(ctx.packageRoot, 'distros'),
    hostArch: process.arch,
    // a bootstrap runs the guest's dpkg through the engine, which looks up its tools in the user's PATH
    hostEnv: ctx.env,
    kits: archiveKits({ http: () => ctx.http(), blobs: ctx.blobs, paths: ctx.paths }),
    archiveMirrors: Object.fromEntries(
      (['debian', 'ubuntu'] as const).flatMap((d) => {
        const m = configString(`${d}-mirror`, ctx.env, ctx.config);
        return m ? [[d, m]] : [];
      }),
    ),
    registryMirrors: parseRegistryMirrors(configList('registry-mirrors', ctx.env, ctx.config)),
  };
}

/** What a pull says: on stderr; on stdout the `NAME\tsha256:…` line for scripts, unless `enter` pulled. */
function report(ctx: CliContext, out: PullOutcome, scriptLine = true): void {
  const { record } = out;
  if (out.upToDate) {
    ctx.logger.info(`${record.name} is up to date (${record.source.ref})`);
  } else {
    const skipped = record.stats?.devicesSkipped ? `, ${record.stats.devicesSkipped} device node(s) skipped` : '';
    ctx.logger.info(`created ${record.name} from ${record.source.ref}: ${record.stats?.entries ?? 0} entries${skipped}`);
  }
  const manifestDigest = record.resolved.manifestDigest;
  if (typeof manifestDigest === 'string' && (record.source.kind === 'registry' || record.source.kind === 'oci-layout')) {
    const image = String(record.resolved.image ?? record.source.ref).replace(/@sha256:[0-9a-f]{64}$/, '');
    ctx.logger.info(record.source.kind === 'registry' ? `digest: ${manifestDigest} (pin it with ${image}@${manifestDigest})` : `digest: ${manifestDigest}`);
  }
  if (out.unpinned && out.sha256) {
    ctx.logger.warn(`${record.source.ref} is not pinned; pin it with --sha256 ${out.sha256}`);
  }
  if (record.treeSha256 !== undefined) ctx.logger.info(`tree: sha256:${record.treeSha256} (check it with --expect-sha256 ${record.treeSha256})`);
  // stdout: the env name and what it was made from, for scripts (not before `enter`'s prompt).
  if (scriptLine) ctx.stdout.write(`${record.name}\t${out.sha256 ? `sha256:${out.sha256}` : '-'}\n`);
}

type PullOpts = CommandOptions<'pull'>;

/** `--packages a,b --packages c`, `--variant`, `--recommends` → PullRequest fields. */
function archiveOptions(opts: PullOpts): Pick<PullRequest, 'packages' | 'variant' | 'recommends' | 'allowExpired'> {
  const packages = (opts.packages ?? []).flatMap((p) => p.split(',')).map((p) => p.trim()).filter(Boolean);
  for (const p of packages) {
    if (!/^[a-z0-9][a-z0-9+.-]*(:[a-z0-9-]+)?(=[A-Za-z0-9.+~:-]+|\/[a-z0-9][a-z0-9.+-]*)?$/.test(p)) {
      throw new UsageError(`invalid package name in --packages: ${JSON.stringify(p)}`, 'give Debian package names, comma-separated: --packages openssh-server,curl (NAME=VERSION pins a version, NAME/SUITE takes it from a suite: nginx/bookworm-backports)');
    }
  }
  return {
    ...(packages.length ? { packages } : {}),
    ...(opts.variant !== undefined ? { variant: opts.variant } : {}),
    ...(opts.recommends ? { recommends: true } : {}),
    ...(opts.allowExpired ? { allowExpired: true } : {}),
  };
}

/** `cake pull SOURCE [--name] [--platform] [--sha256] [--force] [--packages] [--variant] [--recommends]`. */
export async function pullCommand(ctx: CliContext, args: string[], opts: PullOpts): Promise<number> {
  if (opts.locked !== undefined) return pullLocked(ctx, args, opts, opts.locked);
  const [text] = args;
  if (!text) throw new UsageError('pull needs a SOURCE', 'cake pull alpine, cake pull ./rootfs.tar.gz --name NAME; see `cake help pull`');
  const platform = opts.platform !== undefined ? parsePlatform(opts.platform) : undefined;
  const source = parseSource(text, opts.sha256 !== undefined ? { sha256: opts.sha256 } : {});
  if (opts.lock !== undefined && source.kind !== 'distro') throw new UsageError(`--lock applies to Debian/Ubuntu archive builds, not ${text}`, 'pin other sources by digest (--sha256, IMAGE@sha256:…) or use --expect-sha256');
  const out = await pull(sourceDeps(ctx), {
    source,
    ref: text,
    ...(opts.name !== undefined ? { name: opts.name } : {}),
    ...(opts.sha256 !== undefined ? { sha256: opts.sha256 } : {}),
    ...(opts.force ? { force: true } : {}),
    ...(platform ? { platform } : {}),
    ...archiveOptions(opts),
    ...reproOptions(ctx, opts),
    registry: { env: ctx.env, insecure: ctx.insecure },
  });
  report(ctx, out);
  if (opts.lock !== undefined) {
    writePullLock(opts.lock, lockOf(out.record));
    ctx.logger.info(`wrote ${opts.lock} (${out.record.resolved.packages instanceof Array ? out.record.resolved.packages.length : 0} packages; rebuild it with \`cake pull --locked ${opts.lock}\`)`);
  }
  return 0;
}

/** `cake pull [SOURCE] --locked FILE`: exactly what the lock pins, its tree hash checked. */
async function pullLocked(ctx: CliContext, args: string[], opts: PullOpts, file: string): Promise<number> {
  const lock = readPullLock(file);
  const [text] = args;
  if (text !== undefined && text !== lock.source) throw new UsageError(`${file} locks ${lock.source}, not ${text}`, `run \`cake pull --locked ${file}\` (the SOURCE comes from the lock)`);
  for (const o of ['packages', 'variant', 'recommends', 'platform', 'lock', 'sha256'] as const) {
    if (opts[o] !== undefined) throw new UsageError(`--${o} cannot be combined with --locked: the lock decides it`, `drop --${o}, or write a new lock with \`cake pull ${lock.source} --lock FILE\``);
  }
  const source = parseSource(lock.source);
  const repro = reproOptions(ctx, opts);
  const snapshotBase = ctx.env.CAKE_SNAPSHOT_URL;
  const out = await pull(sourceDeps(ctx), {
    source,
    ref: lock.source,
    ...(opts.name !== undefined ? { name: opts.name } : {}),
    ...(opts.force ? { force: true } : {}),
    ...(opts.allowExpired ? { allowExpired: true } : {}),
    treeHash: repro.treeHash,
    ...(repro.expectTreeSha256 ?? lock.treeSha256 ? { expectTreeSha256: repro.expectTreeSha256 ?? lock.treeSha256 } : {}),
    locked: { lock, ...(snapshotBase ? { snapshotBase } : {}) },
  });
  report(ctx, out);
  return 0;
}

/** The tree hash (always), `--expect-sha256`, and SOURCE_DATE_EPOCH from the user's environment. */
function reproOptions(ctx: CliContext, opts: PullOpts): Pick<PullRequest, 'treeHash' | 'expectTreeSha256' | 'sourceDateEpoch'> {
  const expect = opts.expectSha256 !== undefined ? opts.expectSha256.trim().toLowerCase().replace(/^sha256:/, '') : undefined;
  if (expect !== undefined && !/^[0-9a-f]{64}$/.test(expect)) {
    throw new UsageError(`--expect-sha256 wants 64 hex digits, got ${JSON.stringify(opts.expectSha256)}`, 'copy the hash `cake pull` printed ("tree: sha256:…")');
  }
  const epoch = parseSourceDateEpoch(ctx.env.SOURCE_DATE_EPOCH);
  return { treeHash: envTreeHash, ...(expect !== undefined ? { expectTreeSha256: expect } : {}), ...(epoch !== undefined ? { sourceDateEpoch: epoch } : {}) };
}

/** `cake import FILE --name NAME`: pull of a local file. */
export async function importCommand(ctx: CliContext, args: string[], opts: CommandOptions<'import'>): Promise<number> {
  const [given] = args;
  if (!given) throw new UsageError('import needs a FILE', 'cake import FILE --name NAME');
  if (opts.name === undefined) throw new UsageError('import needs --name', `cake import ${given} --name NAME`);
  let file = given;
  let spooled: string | undefined;
  if (given === '-') {
    // stdin (`docker export c | cake import - --name N`): spooled into the store's staging area
    // first, so the import is verified and atomic like any other file's
    if (process.stdin.isTTY) throw new UsageError('import - reads a tarball from stdin, which is a terminal', `pipe one in: cat rootfs.tar | cake import - --name ${opts.name}`);
    const { mkdirSync, createWriteStream } = await import('node:fs');
    const { pipeline } = await import('node:stream/promises');
    mkdirSync(ctx.paths.tmp, { recursive: true });
    spooled = join(ctx.paths.tmp, `stdin-${process.pid}-${Date.now()}.tar`);
    file = spooled;
    await pipeline(process.stdin, createWriteStream(spooled, { mode: 0o600 }), { signal: ctx.signal });
  }
  try {
    return await importFile(ctx, file, given, opts.name, opts);
  } finally {
    if (spooled) (await import('node:fs')).rmSync(spooled, { force: true });
  }
}

async function importFile(ctx: CliContext, file: string, ref: string, name: string, opts: CommandOptions<'import'>): Promise<number> {
  const out = await pull(sourceDeps(ctx), {
    source: { kind: 'file', path: file },
    ref,
    name,
    ...(opts.sha256 !== undefined ? { sha256: opts.sha256 } : {}),
    ...(opts.force ? { force: true } : {}),
    treeHash: envTreeHash,
  });
  report(ctx, out);
  return 0;
}

/** For `cake enter NAME`: pulls NAME when it names a known distro, else the not-found error. */
export async function pullDistroIfKnown(ctx: CliContext, name: string): Promise<void> {
  let source;
  try {
    source = parseSource(name);
  } catch {
    source = undefined;
  }
  const defs = await loadDistros(join(ctx.packageRoot, 'distros'));
  const distroNames = defs.flatMap((d) => [d.name, ...d.aliases]);
  if (source?.kind !== 'distro' || !distroNames.includes(source.distro)) {
    requireEnv(ctx, name, distroNames); // throws the not-found error with its hint
    if (source?.kind !== 'distro') return;
    throw new CakeError('not-found', `no environment named ${name}, and ${name} is not a known distro`, { hint: 'see `cake list` and `cake distros`' });
  }
  ctx.logger.info(`${name} is not pulled yet; pulling it`);
  try {
    const out = await pull(sourceDeps(ctx), { source, ref: name, name: name.replace(':', '-'), ...reproOptions(ctx, {}), registry: { env: ctx.env, insecure: ctx.insecure } });
    report(ctx, out, false);
  } catch (err) {
    if (err instanceof CakeError && err.code === 'not-found' && !ctx.envs.exists(name)) {
      throw new CakeError('not-found', `no environment named ${name}, and ${name} is not a known distro`, {
        hint: 'see `cake list` and `cake distros`',
        cause: err,
      });
    }
    throw err;
  }
}
