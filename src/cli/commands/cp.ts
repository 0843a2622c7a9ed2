import { cpSync, existsSync, lstatSync, mkdtempSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { CakeError, UsageError } from '../../model/errors.js';
import { resolveGuestPath } from '../../run/guest-path.js';
import { normalizeGuestPath } from '../../model/run-options.js';
import type { CliContext } from '../context.js';
import { requireEnv } from '../env-names.js';

const ENV_PATH = /^([a-z0-9][a-z0-9._-]*):(\/.*)$/;

/** `ENV:/path` → its parts; anything else is a host path. */
function envPath(text: string): { env: string; path: string } | undefined {
  const m = ENV_PATH.exec(text);
  return m ? { env: m[1]!, path: normalizeGuestPath(m[2]!) } : undefined;
}

/**
 * The host directory an enter/exec shows at `guestPath` instead of the env's own (the host's /tmp
 * and $HOME, bound unless --isolated: run/plan.ts), or undefined: cp reads and writes the env's
 * own tree, so a copy there is hidden from a default run.
 */
function shadowedBy(guestPath: string, home: string | undefined): string | undefined {
  const under = (dir: string) => guestPath === dir || guestPath.startsWith(`${dir}/`);
  if (under('/tmp')) return '/tmp';
  const h = home?.startsWith('/') ? normalizeGuestPath(home) : undefined;
  return h !== undefined && h !== '/' && under(h) ? h : undefined;
}

function warnShadowed(ctx: CliContext, env: string, guestPath: string): void {
  const dir = shadowedBy(guestPath, ctx.env.HOME);
  if (dir) ctx.logger.warn(`${env}:${guestPath} is in the env's own ${dir}; \`cake enter\`/\`exec\` show the host's ${dir} there (the env's is seen with --isolated)`);
}

/** Copies a file or a tree; symlinks are copied as symlinks, never followed. */
function copyTree(src: string, dst: string): void {
  cpSync(src, dst, { recursive: true, dereference: false, verbatimSymlinks: true, preserveTimestamps: true, errorOnExist: true, force: false });
}

/**
 * `cake cp ENV:/PATH HOSTPATH` and `cake cp HOSTPATH ENV:/PATH`, like `docker cp`: a file or a
 * directory tree; into an existing directory it lands under its own name. Guest paths are resolved
 * as the guest sees them (its symlinks followed inside the env, never out of it). Into the env:
 * the copy is made in a fresh directory next to the target and renamed into place, so it never
 * writes through a symlink of the env; a file replaces a file, a directory must not exist yet.
 * Copies get the host user's ownership on disk, which is root in the env (as with `docker cp`).
 */
export async function cpCommand(ctx: CliContext, args: string[]): Promise<number> {
  const [from, to] = args;
  if (!from || !to) throw new UsageError('cp needs SRC and DST', 'cake cp ENV:/PATH HOSTPATH, or cake cp HOSTPATH ENV:/PATH');
  const src = envPath(from);
  const dst = envPath(to);
  if ((src === undefined) === (dst === undefined)) throw new UsageError('cp copies between an env and the host: exactly one side is ENV:/PATH', 'cake cp web:/etc/hosts ./hosts, or cake cp ./file web:/root/');
  if (src) {
    requireEnv(ctx, src.env);
    const g = await resolveGuestPath(ctx.envs.rootfs(src.env), [], src.path);
    if (g.kind === 'missing') throw new CakeError('not-found', `${from}: no such file or directory in env ${src.env}`, { hint: `see what is there: cake exec ${src.env} ls ${dirname(src.path)}` });
    let target = resolve(to);
    if (existsSync(target) && statSync(target).isDirectory()) target = join(target, basename(g.guestPath) || src.env);
    if (existsSync(target) && (g.kind === 'dir' || statSync(target).isDirectory())) throw new CakeError('exists', `${target} already exists`, { hint: 'remove it first or pick another destination' });
    const tmp = mkdtempSync(join(dirname(target), '.cake-cp-'));
    try {
      copyTree(g.hostPath, join(tmp, 'x'));
      renameSync(join(tmp, 'x'), target);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
    ctx.logger.info(`copied ${from} to ${target}`);
    warnShadowed(ctx, src.env, g.guestPath);
    return 0;
  }
  const host = resolve(from);
  const st = lstatSync(host, { throwIfNoEntry: false });
  if (!st) throw new UsageError(`${from}: no such file or directory on the host`, 'check the path (relative paths are from the current directory)');
  const d = dst!;
  requireEnv(ctx, d.env);
  const root = ctx.envs.rootfs(d.env);
  let g = await resolveGuestPath(root, [], d.path);
  if (g.kind === 'dir') g = await resolveGuestPath(root, [], join(g.guestPath, basename(host)));
  if (g.kind === 'dir' || (g.kind === 'file' && st.isDirectory())) throw new CakeError('exists', `${to}: ${g.guestPath} already exists in env ${d.env}`, { hint: 'remove it first or pick another destination' });
  const parent = await resolveGuestPath(root, [], dirname(g.guestPath));
  if (parent.kind !== 'dir') throw new CakeError('not-found', `${to}: no directory ${dirname(g.guestPath)} in env ${d.env}`, { hint: `create it: cake exec ${d.env} mkdir -p ${dirname(g.guestPath)}` });
  const tmp = mkdtempSync(join(parent.hostPath, '.cake-cp-'));
  try {
    copyTree(host, join(tmp, 'x'));
    renameSync(join(tmp, 'x'), join(parent.hostPath, basename(g.guestPath)));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  ctx.logger.info(`copied ${from} to ${d.env}:${g.guestPath}`);
  warnShadowed(ctx, d.env, g.guestPath);
  return 0;
}
