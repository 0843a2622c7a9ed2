import { join } from 'node:path';
import { UsageError } from '../../model/errors.js';
import { existsSync, readFileSync } from 'node:fs';
import { parseBind, parseEngineName, parseEnvAssignment, type EngineName, type RunOptions } from '../../model/run-options.js';
import { configList, configString } from '../config.js';
import { requireEnv } from '../env-names.js';
import { runInEnv, type GuestEnv } from '../../run/engine.js';
import { archiveKits } from '../../kit/provider.js';
import { hasGlibc } from '../../run/guest-libc.js';
import { whyNotRecorded, type OwnershipRecording } from '../../run/ownership-recorder.js';
import type { EnvRecord } from '../../store/env-record.js';
import type { CliContext } from '../context.js';
import type { CommandOptions } from '../command-types.js';

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

/**
 * `--env-file FILE`: `K=V` lines like docker's; blank lines and `#` comments are skipped, a line
 * `K` alone takes K from cake's own environment (skipped when unset). Values are taken literally
 * (no quotes removed, no expansion).
 */
export function parseEnvFile(text: string, file: string, hostEnv: Record<string, string | undefined>): [string, string][] {
  const out: [string, string][] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '').replace(/^\s+/, '');
    if (line === '' || line.startsWith('#')) return;
    if (!line.includes('=')) {
      const v = hostEnv[line.trim()];
      if (v !== undefined) out.push([line.trim(), v]);
      return;
    }
    try {
      out.push(parseEnvAssignment(line));
    } catch {
      throw new UsageError(`--env-file ${file}: line ${i + 1} is not NAME=VALUE: ${JSON.stringify(raw)}`, 'write one NAME=VALUE per line (# starts a comment)');
    }
  });
  return out;
}

function readEnvFile(file: string, hostEnv: Record<string, string | undefined>): [string, string][] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`--env-file ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`, 'give a readable file of NAME=VALUE lines');
  }
  return parseEnvFile(text, file, hostEnv);
}

/** What `--gui` passes: the display and sound variables that are set, and the sockets' directories. */
export function guiPassing(hostEnv: Record<string, string | undefined>): { env: Record<string, string>; binds: { src: string; dst: string }[] } {
  const env: Record<string, string> = {};
  for (const k of ['DISPLAY', 'WAYLAND_DISPLAY', 'XDG_RUNTIME_DIR', 'PULSE_SERVER', 'XAUTHORITY']) {
    const v = hostEnv[k];
    if (v !== undefined && v !== '') env[k] = v;
  }
  const binds: { src: string; dst: string }[] = [];
  const runtime = env.XDG_RUNTIME_DIR;
  if (runtime?.startsWith('/') && existsSync(runtime)) binds.push({ src: runtime, dst: runtime });
  // the X11 sockets (bound anyway with /tmp, unless --isolated)
  if (env.DISPLAY !== undefined && existsSync('/tmp/.X11-unix')) binds.push({ src: '/tmp/.X11-unix', dst: '/tmp/.X11-unix' });
  if (env.XAUTHORITY?.startsWith('/') && existsSync(env.XAUTHORITY)) binds.push({ src: env.XAUTHORITY, dst: env.XAUTHORITY });
  return { env, binds };
}

/**
 * The RUN OPTIONS as the engine takes them. Layers, later wins: the env's recorded run defaults,
 * the configured default binds (`binds`), then the command line (`--env-file` files in order,
 * then `--env`). `--cwd` must be an absolute guest path; the hostname defaults to the env name.
 */
/** The options of the run commands (exec's are enter's and --rm). */
type RunOpts = CommandOptions<'exec'>;

export function toRunOptions(ctx: Pick<CliContext, 'env' | 'config'>, opts: RunOpts, record: EnvRecord, tty: boolean): RunOptions {
  const user = opts.user ?? defaultUser(record);
  const env: Record<string, string> = { ...(record.run?.env ?? {}) };
  for (const f of opts.envFile ?? []) for (const [k, v] of readEnvFile(f, ctx.env)) env[k] = v;
  for (const a of opts.env ?? []) {
    const [k, v] = parseEnvAssignment(a);
    env[k] = v;
  }
  if (opts.cwd !== undefined && !opts.cwd.startsWith('/')) {
    throw new UsageError(`--cwd ${opts.cwd}: the working directory must be absolute (a guest path)`, `use --cwd /${opts.cwd.replace(/^\.?\/*/, '')} or another absolute path`);
  }
  const hostname = opts.hostname ?? record.name;
  if (!/^[A-Za-z0-9]([A-Za-z0-9.-]{0,62})$/.test(hostname)) {
    throw new UsageError(`invalid --hostname ${JSON.stringify(hostname)}`, 'use letters, digits, "-" and ".", at most 63 characters');
  }
  const engine = (opts.engine as string | undefined) ?? configString('engine', ctx.env, ctx.config) ?? 'auto';
  const gui = opts.gui || configString('gui', ctx.env, ctx.config) === 'yes' ? guiPassing(ctx.env) : { env: {}, binds: [] };
  for (const [k, v] of Object.entries(gui.env)) if (!(k in env)) env[k] = v;
  return {
    binds: [...(record.run?.binds ?? []), ...configList('binds', ctx.env, ctx.config).map(parseBind), ...gui.binds, ...(opts.bind ?? []).map(parseBind)],
    ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
    env,
    ...(user !== undefined ? { user } : {}),
    isolated: Boolean(opts.isolated),
    engine: parseEngineName(engine) as EngineName,
    tty,
    hostname,
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
  // loaded only here: the kit's modules (deb and tar readers) cost start-up time on every exec
  const { envFakerootKit, STANDARD_KIT_RELEASE } = await import('../../kit/standard-kit.js');
  const { applyOwnershipDiff } = await import('../../archive/ownership-diff.js');
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

async function run(ctx: CliContext, name: string, argv: string[], opts: RunOpts, tty: boolean): Promise<number> {
  const record = requireEnv(ctx, name);
  // in use while it runs: `cake rm` refuses meanwhile (src/store/envs.ts)
  const lease = await ctx.envs.holdUse(name, ctx.signal, () => ctx.logger.info(`waiting for another cake process working on ${name}`));
  try {
    const runOpts = toRunOptions(ctx, opts, record, tty);
    if (opts.rm) return await runThrowAway(ctx, record, argv, runOpts);
    return await runRecorded(ctx, record, guestOf(ctx, record), argv, runOpts);
  } finally {
    lease.release();
  }
}

/**
 * `exec --rm`: the command runs in a private copy of the env, built in the store's staging area
 * and never committed: it is removed when the command ends, and a killed run's copy is swept by
 * the next command that creates an env. Ownership changes are not recorded (nothing is kept).
 */
async function runThrowAway(ctx: CliContext, record: EnvRecord, argv: string[], runOpts: RunOptions): Promise<number> {
  const { copyEnvTree } = await import('../env-copy.js');
  const discard = new Error('throw-away run finished');
  let code = 0;
  try {
    await ctx.envs.create(`${record.name.slice(0, 40)}.rm-${process.pid}`, async (staging) => {
      await copyEnvTree(ctx.envs.rootfs(record.name), staging.rootfs);
      code = await runInEnv({ ...guestOf(ctx, record), rootfs: staging.rootfs }, argv, runOpts, engineDeps(ctx));
      throw discard;
    });
  } catch (err) {
    if (err !== discard) throw err;
  }
  return code;
}

function engineDeps(ctx: CliContext): Parameters<typeof runInEnv>[3] {
  return {
    logger: ctx.logger,
    hostEnv: ctx.env,
    cacheDir: join(ctx.paths.cache, 'engine'),
    // Lets the proot engine provision a working proot from the Debian archive when it needs one.
    kits: archiveKits({ http: () => ctx.http(), blobs: ctx.blobs, paths: ctx.paths, distrosDir: join(ctx.packageRoot, 'distros') }),
  };
}

async function runRecorded(ctx: CliContext, record: EnvRecord, guest: GuestEnv, argv: string[], runOpts: RunOptions): Promise<number> {
  // the kit is unpacked on first use: not for a run that could not use it
  const unrecorded = whyNotRecorded(guest, runOpts) ?? ((await hasGlibc(guest.rootfs)) ? undefined : 'the env has no glibc (a musl or static guest)');
  if (unrecorded !== undefined) ctx.logger.debug(`ownership changes are not recorded: ${unrecorded}`);
  const recordOwnership = unrecorded === undefined ? await ownershipRecording(ctx, record) : undefined;
  return runInEnv(guest, argv, runOpts, { ...engineDeps(ctx), ...(recordOwnership ? { recordOwnership } : {}) });
}

/**
 * The guest argv of `cake enter NAME -- CMD [ARG...]` (proot-distro's `login NAME -- CMD`): CMD
 * runs in a login shell (`sh -l`, so /etc/profile and ~/.profile are read). One word is a shell
 * command line (`cake enter web -- 'make && make test'`); several are run as given, each word
 * one argument.
 */
export function loginShellArgv(cmd: readonly string[]): string[] {
  if (cmd.length === 1) return ['/bin/sh', '-l', '-c', cmd[0]!];
  return ['/bin/sh', '-l', '-c', 'exec "$@"', 'sh', ...cmd];
}

/**
 * `cake enter [NAME] [-- CMD]`: a login shell; a known distro that is not pulled yet is pulled
 * first. Without NAME: CAKE_DEFAULT_ENV / `default-env`, else CAKE_DEFAULT_DISTRO /
 * `default-distro`, else debian.
 */
export async function enterCommand(ctx: CliContext, args: string[], opts: CommandOptions<'enter'>): Promise<number> {
  const name = args[0] ?? configString('default-env', ctx.env, ctx.config) ?? configString('default-distro', ctx.env, ctx.config) ?? 'debian';
  // `cake enter debian:trixie` enters (pulling first if needed) the env `debian-trixie`.
  const envName = name.includes(':') ? name.replace(':', '-') : name;
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(envName) || !ctx.envs.exists(envName)) {
    const { pullDistroIfKnown } = await import('./pull.js');
    await pullDistroIfKnown(ctx, name);
  }
  const cmd = opts.guestCmd ?? [];
  return run(ctx, envName, cmd.length > 0 ? loginShellArgv(cmd) : [], opts, true);
}

/**
 * `cake exec NAME [RUN OPTIONS] CMD [ARG...]` (or `... -- CMD`): CMD's exit code is cake's.
 * Without CMD, an env pulled from an image runs the image's Entrypoint + Cmd, as `docker run
 * IMAGE` would.
 */
export async function execCommand(ctx: CliContext, args: string[], opts: CommandOptions<'exec'>): Promise<number> {
  const [name, ...given] = args;
  if (!name) throw new UsageError('exec needs an environment name', 'cake exec NAME CMD [ARG...]');
  const asked = opts.guestCmd ?? given;
  const cmd = asked.length > 0 ? asked : defaultCommand(requireEnv(ctx, name));
  if (cmd.length === 0) throw new UsageError(`exec needs a command (env ${name} has no default command)`, `cake exec ${name} CMD [ARG...]`);
  return run(ctx, name, cmd, opts, false);
}
