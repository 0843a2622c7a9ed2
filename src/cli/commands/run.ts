import { join } from 'node:path';
import { UsageError } from '../../model/errors.js';
import { parseBind, parseEnvAssignment, type EngineName, type RunOptions } from '../../run/run-options.js';
import { runInEnv, type GuestEnv } from '../../run/engine.js';
import type { EnvRecord } from '../../store/env-record.js';
import type { CliContext } from '../context.js';

function toRunOptions(opts: Record<string, unknown>, record: EnvRecord, tty: boolean): RunOptions {
  const env: Record<string, string> = { ...(record.run?.env ?? {}) };
  for (const a of (opts.env as string[] | undefined) ?? []) {
    const [k, v] = parseEnvAssignment(a);
    env[k] = v;
  }
  return {
    binds: [...(record.run?.binds ?? []), ...((opts.bind as string[] | undefined) ?? []).map(parseBind)],
    ...(typeof opts.cwd === 'string' ? { cwd: opts.cwd } : {}),
    env,
    ...(typeof opts.user === 'string' ? { user: opts.user } : {}),
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

async function run(ctx: CliContext, name: string, argv: string[], opts: Record<string, unknown>, tty: boolean): Promise<number> {
  const record = ctx.envs.get(name);
  const runOpts = toRunOptions(opts, record, tty);
  return runInEnv(guestOf(ctx, record), argv, runOpts, {
    logger: ctx.logger,
    hostEnv: ctx.env,
    cacheDir: join(ctx.paths.cache, 'engine'),
    // Lets the proot engine provision a working proot from the Debian archive when it needs one.
    provision: { http: () => ctx.http(), blobs: ctx.blobs, paths: ctx.paths },
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

/** `cake exec NAME [RUN OPTIONS] -- CMD [ARG...]`: CMD's exit code is cake's. */
export async function execCommand(ctx: CliContext, args: string[], opts: Record<string, unknown>): Promise<number> {
  const [name, ...cmd] = args;
  if (!name) throw new UsageError('exec needs an environment name', 'cake exec NAME -- CMD [ARG...]');
  if (cmd.length === 0) throw new UsageError('exec needs a command after --', `cake exec ${name} -- CMD [ARG...]`);
  return run(ctx, name, cmd, opts, false);
}
