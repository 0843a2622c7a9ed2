import { createHash } from 'node:crypto';
import { mkdir, readFile, realpath, rename, stat, writeFile } from 'node:fs/promises';
import { machine, release } from 'node:os';
import { join, resolve } from 'node:path';
import { CakeError, UsageError } from '../model/errors.js';
import type { Logger } from '../model/logger.js';
import { isForeignArch, qemuProgramNames } from './arch.js';
import { fakeProcBinds } from './fake-proc.js';
import { ensureMountPoint, resolveGuestPath, type GuestMount } from './guest-path.js';
import { parseGroup, parsePasswd, resolveGuestUser } from './guest-user.js';
import { findHostProgram } from './host-tools.js';
import {
  buildGuestEnvironment,
  cwdCandidates,
  guestArgv,
  kernelReleaseFor,
  planMounts,
  type PlannedMount,
  type RunPlan,
} from './plan.js';
import { normalizeGuestPath, type RunOptions } from './run-options.js';

/** What prepare needs to know about the env (a subset of engine.ts's GuestEnv). */
export interface PlanInput {
  name: string;
  rootfs: string;
  arch?: string;
  config?: { env?: string[]; workingDir?: string };
}

export interface PrepareDeps {
  logger: Logger;
  hostEnv: Record<string, string | undefined>;
  cacheDir: string;
}

/** Files cake makes work in every guest: bound from the host when the guest's is missing or empty. */
export const DNS_FILES = ['/etc/resolv.conf', '/etc/hosts'] as const;

async function readGuestFile(root: string, guestPath: string): Promise<string> {
  const r = await resolveGuestPath(root, [], guestPath);
  if (r.kind !== 'file') return '';
  return readFile(r.hostPath, 'utf8').catch(() => '');
}

async function nonEmptyFile(path: string): Promise<boolean> {
  try {
    const st = await stat(path);
    return st.isFile() && st.size > 0;
  } catch {
    return false;
  }
}

/**
 * DNS: the guest keeps its own /etc/resolv.conf and /etc/hosts when they are non-empty regular
 * files (after following guest symlinks); otherwise the host's file is bound over the guest path
 * (read-write, like any bind; the env itself is not written, except for an empty mount point
 * under the userns engine). Binding rather than writing keeps a moving host (laptop networks,
 * systemd-resolved) right in every run, and leaves the env as it was pulled.
 */
async function dnsBinds(root: string, hostname: string | undefined, cacheDir: string): Promise<{ src: string; dst: string }[]> {
  const out: { src: string; dst: string }[] = [];
  for (const file of DNS_FILES) {
    const guest = await resolveGuestPath(root, [], file);
    if (file === '/etc/hosts' && hostname !== undefined) {
      const own = guest.kind === 'file' && (await nonEmptyFile(guest.hostPath));
      const hosts = await hostsNaming(own ? await readFile(guest.hostPath, 'utf8') : await readFile(file, 'utf8').catch(() => ''), hostname, cacheDir);
      if (hosts !== undefined) out.push({ src: hosts, dst: file });
      else if (!own && (await nonEmptyFile(file))) out.push({ src: await realpath(file), dst: file });
      continue;
    }
    if (guest.kind === 'file' && (await nonEmptyFile(guest.hostPath))) continue;
    if (await nonEmptyFile(file)) out.push({ src: await realpath(file), dst: file });
  }
  return out;
}

/**
 * `--hostname NAME`: a hosts file (the guest's, else the host's) that also resolves NAME, so that
 * `sudo` and friends can look the host up; written per content into cacheDir/hosts/ and bound
 * over /etc/hosts for the run (edits made during the run do not reach the env: add the name to
 * the env's own /etc/hosts to make it permanent, then nothing is bound). Undefined when the text
 * already names it.
 */
async function hostsNaming(text: string, hostname: string, cacheDir: string): Promise<string | undefined> {
  const named = text.split('\n').some((l) => l.replace(/#.*/, '').trim().split(/\s+/).slice(1).includes(hostname));
  if (named) return undefined;
  const content = `${text}${text === '' || text.endsWith('\n') ? '' : '\n'}127.0.1.1\t${hostname}\n`;
  const dir = join(cacheDir, 'hosts');
  const file = join(dir, `${createHash('sha256').update(content).digest('hex').slice(0, 32)}.hosts`);
  // rewritten when a run changed it: the bind is writable, and edits must not reach later runs
  if ((await readFile(file, 'utf8').catch(() => '')) !== content) {
    await mkdir(dir, { recursive: true });
    const tmp = `${file}.${process.pid}`;
    await writeFile(tmp, content, { mode: 0o644 });
    await rename(tmp, file);
  }
  return file;
}

async function userBinds(opts: RunOptions): Promise<PlannedMount[]> {
  const out: PlannedMount[] = [];
  for (const b of opts.binds) {
    const src = resolve(b.src);
    let st;
    try {
      st = await stat(src);
    } catch {
      throw new UsageError(`--bind ${b.src}: no such file or directory on the host`, `create it first, or fix the path (relative paths are from ${process.cwd()})`);
    }
    const dst = b.dst === b.src ? src : normalizeGuestPath(b.dst);
    if (!dst.startsWith('/')) throw new UsageError(`--bind ${b.src}:${b.dst}: the destination must be absolute`);
    out.push({ src, dst, kind: st.isDirectory() ? 'dir' : 'file', why: 'user', ...(b.readonly ? { readonly: true } : {}) });
  }
  return out;
}

/**
 * Turns (env, argv, options) into a RunPlan: reads the guest's passwd and group for the user,
 * checks the binds and the working directory, picks DNS and fake /proc binds, qemu for a foreign
 * guest. Reads the env and the host; writes only fake /proc files into deps.cacheDir.
 */
export async function preparePlan(env: PlanInput, argv: readonly string[], opts: RunOptions, deps: PrepareDeps): Promise<RunPlan> {
  let root: string;
  try {
    root = await realpath(env.rootfs);
    if (!(await stat(root)).isDirectory()) throw new Error('not a directory');
  } catch (err) {
    throw new CakeError('not-found', `env ${env.name}: its root filesystem ${env.rootfs} is missing`, { cause: err });
  }
  const passwd = parsePasswd(await readGuestFile(root, '/etc/passwd'));
  const groups = parseGroup(await readGuestFile(root, '/etc/group'));
  const user = resolveGuestUser(opts.user, passwd, groups);

  const hostHome = deps.hostEnv.HOME;
  const homeOk = hostHome !== undefined && hostHome.startsWith('/') && (await stat(hostHome).then((s) => s.isDirectory(), () => false));
  const mounts = planMounts({
    isolated: opts.isolated,
    hostHome: homeOk ? hostHome : undefined,
    dns: await dnsBinds(root, opts.hostname, deps.cacheDir),
    fakeProc: await fakeProcBinds(join(deps.cacheDir, 'fake-proc')),
    user: await userBinds(opts),
  });
  const asGuestMounts: GuestMount[] = mounts.map((m) => ({ src: m.src, dst: m.dst }));

  let cwd: string | undefined;
  for (const c of cwdCandidates(opts.cwd, env.config?.workingDir, user.home)) {
    if ((await resolveGuestPath(root, asGuestMounts, c)).kind === 'dir') {
      cwd = c;
      break;
    }
    if (opts.cwd !== undefined) throw new UsageError(`--cwd ${opts.cwd}: no such directory in env ${env.name}`, `create it (cake exec ${env.name} mkdir -p ${c}) or pick an existing directory`);
    deps.logger.debug(`working directory ${c} does not exist in env ${env.name}; trying the next`);
  }

  let args = guestArgv(argv, user);
  if (argv.length === 0 && (await resolveGuestPath(root, asGuestMounts, user.shell)).kind !== 'file') {
    deps.logger.debug(`login shell ${user.shell} is missing in env ${env.name}; using /bin/sh`);
    args = ['/bin/sh', '-l'];
  }

  const environment = buildGuestEnvironment({ hostTerm: deps.hostEnv.TERM, user, imageEnv: env.config?.env, extra: opts.env });
  let guestEnvProgram: string | undefined;
  if (Object.keys(environment).some((k) => k.startsWith('LD_'))) {
    for (const p of ['/usr/bin/env', '/bin/env']) {
      if ((await resolveGuestPath(root, [], p)).kind === 'file') {
        guestEnvProgram = p;
        break;
      }
    }
    if (guestEnvProgram === undefined) deps.logger.warn(`env ${env.name} has no env program: LD_* variables also reach the engine's host helpers`);
  }

  let qemu: string | undefined;
  if (isForeignArch(env.arch, machine())) {
    for (const name of qemuProgramNames(env.arch!)) {
      qemu = await findHostProgram(name, deps.hostEnv);
      if (qemu !== undefined) break;
    }
    if (qemu === undefined) {
      throw new CakeError('missing-tool', `qemu-user is not installed (env ${env.name} is ${env.arch}, this host is ${machine()})`, {
        hint: 'sudo apt-get install qemu-user-static',
      });
    }
  }

  const kernelRelease = kernelReleaseFor(release());
  return {
    root,
    argv: args,
    cwd: cwd ?? '/',
    user,
    env: environment,
    mounts,
    ...(kernelRelease !== undefined ? { kernelRelease } : {}),
    ...(qemu !== undefined ? { qemu } : {}),
    ...(guestEnvProgram !== undefined ? { guestEnvProgram } : {}),
    ...(opts.hostname !== undefined ? { hostname: opts.hostname } : {}),
  };
}

/**
 * userns only: resolves each mount's destination through the guest's symlinks and the mounts
 * before it, and creates missing mount points (an empty dir or file, in the env or in a host
 * directory bound earlier). Returns the symlink-free guest destinations, in plan order.
 */
export async function prepareMountPoints(plan: RunPlan, logger: Logger): Promise<string[]> {
  const done: GuestMount[] = [];
  const dsts: string[] = [];
  for (const m of plan.mounts) {
    const r = await resolveGuestPath(plan.root, done, m.dst);
    if (r.kind !== 'missing' && r.kind !== m.kind) {
      throw new UsageError(`cannot bind ${m.src} over ${m.dst}: one is a directory, the other is not`);
    }
    if (await ensureMountPoint(r, m.kind)) logger.debug(`created mount point ${r.guestPath} (${r.hostPath})`);
    done.push({ src: m.src, dst: r.guestPath });
    dsts.push(r.guestPath);
  }
  return dsts;
}
