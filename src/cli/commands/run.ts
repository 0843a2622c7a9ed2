import { join } from 'node:path';
import { UsageError } from '../../model/errors.js';
import { parseBind, parseEnvAssignment, type EngineName, type RunOptions } from '../../run/run-options.js';
import { applyOwnershipDiff } from '../../archive/ownership-diff.js';
import { runInEnv, type GuestEnv } from '../../run/engine.js';
import { kitDebs, prepareFakerootKit } from '../../run/fakeroot-kit.js';
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
 * Ownership recording for envs that have a fakeroot kit (those built from a Debian/Ubuntu
 * archive), unless CAKE_NO_FAKEROOT is set: changes are written to env.json under its lock.
 */
async function ownershipRecording(ctx: CliContext, record: EnvRecord): Promise<OwnershipRecording | undefined> {
  const off = ctx.env.CAKE_NO_FAKEROOT;
  if (off !== undefined && off !== '' && off !== '0') return undefined;
  const debs = kitDebs(record.resolved);
  if (debs === undefined) return undefined;
  if (!debs.every((d) => ctx.blobs.has(d.sha256))) {
    ctx.logger.debug(`the fakeroot kit of ${record.name} is no longer in the store: ownership changes are not recorded`);
    return undefined;
  }
  let kit;
  try {
    kit = await prepareFakerootKit(debs.map((d) => ({ sha256: d.sha256, path: ctx.blobs.path(d.sha256) })), ctx.paths.cache, ctx.signal);
  } catch (err) {
    ctx.logger.warn(`ownership changes in ${record.name} are not recorded: ${(err as Error).message}`);
    return undefined;
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
  // in use while it runs: `cake rm` refuses meanwhile (src/store/envs.ts)
  const lease = await ctx.envs.holdUse(name, ctx.signal, () => ctx.logger.info(`waiting for another cake process working on ${name}`));
  try {
    return await runHeld(ctx, name, argv, opts, tty);
  } finally {
    lease.release();
  }
}

async function runHeld(ctx: CliContext, name: string, argv: string[], opts: Record<string, unknown>, tty: boolean): Promise<number> {
  const record = ctx.envs.get(name);
  const runOpts = toRunOptions(opts, record, tty);
  const guest = guestOf(ctx, record);
  // the kit is unpacked on first use: not for a run that could not use it
  const unrecorded = whyNotRecorded(guest, runOpts);
  if (unrecorded !== undefined) ctx.logger.debug(`ownership changes are not recorded: ${unrecorded}`);
  const recordOwnership = unrecorded === undefined ? await ownershipRecording(ctx, record) : undefined;
  return runInEnv(guest, argv, runOpts, {
    logger: ctx.logger,
    hostEnv: ctx.env,
    cacheDir: join(ctx.paths.cache, 'engine'),
    // Lets the proot engine provision a working proot from the Debian archive when it needs one.
    provision: { http: () => ctx.http(), blobs: ctx.blobs, paths: ctx.paths },
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
