import { join } from 'node:path';
import { UsageError } from '../../model/errors.js';
import { parseBind, parseEnvAssignment, type EngineName, type RunOptions } from '../../run/run-options.js';
import { applyOwnershipDiff } from '../../archive/ownership-diff.js';
import { runInEnv, type GuestEnv } from '../../run/engine.js';
import { archiveKits } from '../../kit/provider.js';
import { envFakerootKit, STANDARD_KIT_RELEASE } from '../../kit/standard-kit.js';
import { hasGlibc } from '../../run/guest-libc.js';
import { whyNotRecorded, type OwnershipRecording } from '../../run/ownership-recorder.js';
import type { EnvRecord } from '../../store/env-record.js';
import type { CliContext } from '../context.js';

/**
 * The image's default user (OCI config `User`), unless it is root: `--user` overrides it. An
 * empty or root user means cake's own default (root in the env).
 */
export function defaultUser(record: Pick<EnvRecord, 'config'>): string | undefined {
  const u = record.config?.user?.trim();
  return u && !['root', '0', '0:0', 'root:root'].includes(u) ? u : undefined;
}

/** The image's Entrypoint + Cmd, run by `cake exec NAME` when no command is given. */
export function defaultCommand(record: Pick<EnvRecord, 'config'>): string[] {
  return [...(record.config?.entrypoint ?? []), ...(record.config?.cmd ?? [])];
}

function toRunOptions(opts: Record<string, unknown>, record: EnvRecord, tty: boolean): RunOptions {
  const user = typeof opts.user === 'string' ? opts.user : defaultUser(record);
  const env: Record<string, string> = { ...(record.run?.env ?? {}) };
  for (const a of (opts.env as string[] | undefined) ?? []) {
    const [k, v] = parseEnvAssignment(a);
    env[k] = v;
  }
  return {
    binds: [...(record.run?.binds ?? []), ...((opts.bind as string[] | undefined) ?? []).map(parseBind)],
    ...(typeof opts.cwd === 'string' ? { cwd: opts.cwd } : {}),
    env,
    ...(user !== undefined ? { user } : {}),
    isolated: Boolean(opts.isolated),
    engine: ((opts.engine as string | undefined) ?? 'auto') as EngineName,
    tty,
  };
}

function guestOf(ctx: CliContext, record: EnvRecord): GuestEnv {
  return {
    name: record.name,
    rootfs: ctx.envs.rootfs(record.name),
    arch: record.arch,
    ...(record.config ? { config: record.config } : {}),
  };
}

/**
 * Ownership recording for every env, unless CAKE_NO_FAKEROOT is set: with the env's own fakeroot
 * kit (one built from a Debian/Ubuntu archive), else the standard kit (src/kit/standard-kit.ts),
 * which is then recorded in env.json so the env keeps it. Changes are written to env.json under
 * its lock. A kit that cannot be had (offline on first use) is a warning: the command runs
 * unrecorded.
 */
async function ownershipRecording(ctx: CliContext, record: EnvRecord): Promise<OwnershipRecording | undefined> {
  const off = ctx.env.CAKE_NO_FAKEROOT;
  if (off !== undefined && off !== '' && off !== '0') return undefined;
  let got;
  try {
    const deps = { http: () => ctx.http(), blobs: ctx.blobs, paths: ctx.paths, logger: ctx.logger, signal: ctx.signal, distrosDir: join(ctx.packageRoot, 'distros'), cacheDir: ctx.paths.cache };
    got = await envFakerootKit(deps, record.resolved, record.arch);
  } catch (err) {
    ctx.logger.warn(`ownership changes in ${record.name} are not recorded: ${(err as Error).message}`);
    return undefined;
  }
  const kit = got.kit;
  if (!got.recorded) {
    const debs = got.debs;
    await ctx.envs.update(record.name, (r) => {
      const blobs = Array.isArray(r.resolved.blobs) ? (r.resolved.blobs as unknown[]) : [];
      r.resolved.fakeroot = { debs, from: `debian ${STANDARD_KIT_RELEASE}` };
      r.resolved.blobs = [...new Set([...blobs, ...debs.map((d) => d.sha256)])];
      return r;
    });
  }
  return {
    table: record.ownership,
    kit,
    onChange: async (diff) => {
      await ctx.envs.update(record.name, (r) => {
        applyOwnershipDiff(r.ownership, diff);
        return r;
      });
    },
  };
}

async function run(ctx: CliContext, name: string, argv: string[], opts: Record<string, unknown>, tty: boolean): Promise<number> {
  const record = ctx.envs.get(name);
  const runOpts = toRunOptions(opts, record, tty);
  const guest = guestOf(ctx, record);
  // the kit is unpacked on first use: not for a run that could not use it
  const unrecorded = whyNotRecorded(guest, runOpts) ?? ((await hasGlibc(guest.rootfs)) ? undefined : 'the env has no glibc (a musl or static guest)');
  if (unrecorded !== undefined) ctx.logger.debug(`ownership changes are not recorded: ${unrecorded}`);
  const recordOwnership = unrecorded === undefined ? await ownershipRecording(ctx, record) : undefined;
  return runInEnv(guest, argv, runOpts, {
    logger: ctx.logger,
    hostEnv: ctx.env,
    cacheDir: join(ctx.paths.cache, 'engine'),
    // Lets the proot engine provision a working proot from the Debian archive when it needs one.
    kits: archiveKits({ http: () => ctx.http(), blobs: ctx.blobs, paths: ctx.paths, distrosDir: join(ctx.packageRoot, 'distros') }),
    ...(recordOwnership ? { recordOwnership } : {}),
  });
}

/** `cake enter NAME`: a login shell; a known distro that is not pulled yet is pulled first. */
export async function enterCommand(ctx: CliContext, args: string[], opts: Record<string, unknown>): Promise<number> {
  const [name] = args;
  if (!name) throw new UsageError('enter needs an environment name', 'cake enter NAME');
  // `cake enter debian:trixie` enters (pulling first if needed) the env `debian-trixie`.
  const envName = name.includes(':') ? name.replace(':', '-') : name;
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(envName) || !ctx.envs.exists(envName)) {
    const { pullDistroIfKnown } = await import('./pull.js');
    await pullDistroIfKnown(ctx, name);
  }
  return run(ctx, envName, [], opts, true);
}

/**
 * `cake exec NAME [RUN OPTIONS] -- CMD [ARG...]`: CMD's exit code is cake's. Without CMD, an env
 * pulled from an image runs the image's Entrypoint + Cmd, as `docker run IMAGE` would.
 */
export async function execCommand(ctx: CliContext, args: string[], opts: Record<string, unknown>): Promise<number> {
  const [name, ...given] = args;
  if (!name) throw new UsageError('exec needs an environment name', 'cake exec NAME -- CMD [ARG...]');
  const cmd = given.length > 0 ? given : defaultCommand(ctx.envs.get(name));
  if (cmd.length === 0) throw new UsageError('exec needs a command after --', `cake exec ${name} -- CMD [ARG...]`);
  return run(ctx, name, cmd, opts, false);
}
