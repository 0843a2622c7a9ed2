import { createHash } from 'node:crypto';
import { writeFileAtomic } from '../store/atomic-write.js';
import { mkdir, readFile, realpath, stat } from 'node:fs/promises';
import { machine, release } from 'node:os';
import { join, resolve } from 'node:path';
import { CakeError, OptionError, UsageError } from '../model/errors.js';
import type { Logger } from '../model/logger.js';
import { isForeignArch } from './arch.js';
import { findQemuUser } from './foreign.js';
import { fakeProcBinds } from './fake-proc.js';
import { ensureWithin, readFileWithin } from './env-fs.js';
import { resolveCommand, resolveGuestPath, type GuestMount } from './guest-path.js';
import { parseGroup, parsePasswd, resolveGuestUser } from './guest-user.js';
import {
  buildGuestEnvironment,
  cwdCandidates,
  guestArgv,
  kernelReleaseFor,
  loaderVarNames,
  planMounts,
  type PlannedMount,
  type RunPlan,
} from './plan.js';
import type { CreatedEntry } from './run-dir.js';
import { normalizeGuestPath, type RunOptions } from '../model/run-options.js';

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
  /** Whether a foreign guest needs qemu-user in the plan (proot -q); false when the kernel runs it (binfmt_misc). Default true. */
  emulate?: boolean;
}

/** Files cake makes work in every guest: bound from the host when the guest's is missing or empty. */
export const DNS_FILES = ['/etc/resolv.conf', '/etc/hosts'] as const;

/** The guest file at `guestPath` (guest symlinks followed inside the env), read without following a swapped-in symlink. */
async function readGuestFile(root: string, guestPath: string): Promise<string> {
  const r = await resolveGuestPath(root, [], guestPath);
  if (r.kind !== 'file') return '';
  return readFileWithin(root, r.guestPath);
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
 * files (after following guest symlinks). Otherwise, for this run only, the host's file is written
 * where the guest path leads (a dangling symlink such as Ubuntu's to systemd-resolved's stub
 * included), as a real file: a run step may replace it (`ln -snf … /etc/resolv.conf`) and its
 * version stays. After the run cake removes the copy again if it is still the one it wrote (see
 * run-dir.ts). Never inside a bind: only in the env's own tree. Nothing is written when the file
 * is there but empty (it is the env's: left alone; cake does not bind over it either).
 */
async function dnsFiles(root: string, hostname: string | undefined, cacheDir: string): Promise<{ files: { dst: string; content: string }[]; binds: PlannedMount[] }> {
  const files: { dst: string; content: string }[] = [];
  const binds: PlannedMount[] = [];
  for (const file of DNS_FILES) {
    const guest = await resolveGuestPath(root, [], file);
    const named = file === '/etc/hosts' ? hostname : undefined;
    if (guest.kind !== 'missing') {
      // --hostname: the guest's own hosts file gets the name too, for this run only (a bind)
      const own = named !== undefined && guest.kind === 'file' ? readFileWithin(root, guest.guestPath) : '';
      if (named !== undefined && own !== '') {
        const hosts = await hostsNaming(own, named, cacheDir);
        if (hosts !== undefined) binds.push({ src: hosts, dst: file, kind: 'file', why: 'dns' });
      }
      continue;
    }
    if (!(await nonEmptyFile(file))) continue;
    const text = await readFile(file, 'utf8');
    files.push({ dst: guest.guestPath, content: named === undefined ? text : withHostname(text, named) });
  }
  return { files, binds };
}

/**
 * `--hostname NAME`: a hosts file (the guest's, else the host's) that also resolves NAME, so that
 * `sudo` and friends can look the host up; written per content into cacheDir/hosts/ and bound
 * over /etc/hosts for the run (edits made during the run do not reach the env: add the name to
 * the env's own /etc/hosts to make it permanent, then nothing is bound). Undefined when the text
 * already names it.
 */
function withHostname(text: string, hostname: string): string {
  const named = text.split('\n').some((l) => l.replace(/#.*/, '').trim().split(/\s+/).slice(1).includes(hostname));
  return named ? text : `${text}${text === '' || text.endsWith('\n') ? '' : '\n'}127.0.1.1\t${hostname}\n`;
}

async function hostsNaming(text: string, hostname: string, cacheDir: string): Promise<string | undefined> {
  const content = withHostname(text, hostname);
  if (content === text) return undefined;
  const dir = join(cacheDir, 'hosts');
  const file = join(dir, `${createHash('sha256').update(content).digest('hex').slice(0, 32)}.hosts`);
  // rewritten when a run changed it: the bind is writable, and edits must not reach later runs
  if ((await readFile(file, 'utf8').catch(() => '')) !== content) {
    await mkdir(dir, { recursive: true });
    writeFileAtomic(file, content, { mode: 0o644 });
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
      throw new OptionError(['binds'], `{binds} ${b.src}: no such file or directory on the host`, `create it first, or fix the path (relative paths are from ${process.cwd()})`);
    }
    const dst = b.dst === b.src ? src : normalizeGuestPath(b.dst);
    if (!dst.startsWith('/')) throw new OptionError(['binds'], `{binds} ${b.src}:${b.dst}: the destination must be absolute`);
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
  const dns = await dnsFiles(root, opts.hostname, deps.cacheDir);
  const mounts = planMounts({
    isolated: opts.isolated,
    hostHome: homeOk ? hostHome : undefined,
    fakeProc: await fakeProcBinds(join(deps.cacheDir, 'fake-proc')),
    user: [...dns.binds, ...(await userBinds(opts))],
  });
  const asGuestMounts: GuestMount[] = mounts.map((m) => ({ src: m.src, dst: m.dst }));

  let cwd: string | undefined;
  for (const c of cwdCandidates(opts.cwd, env.config?.workingDir, user.home)) {
    if ((await resolveGuestPath(root, asGuestMounts, c)).kind === 'dir') {
      cwd = c;
      break;
    }
    if (opts.cwd !== undefined) throw new OptionError(['cwd'], `{cwd} ${opts.cwd}: no such directory in env ${env.name}`, `create it (cake exec ${env.name} mkdir -p ${c}) or pick an existing directory`);
    deps.logger.debug(`working directory ${c} does not exist in env ${env.name}; trying the next`);
  }

  let args = guestArgv(argv, user);
  if (argv.length === 0 && (await resolveGuestPath(root, asGuestMounts, user.shell)).kind !== 'file') {
    deps.logger.debug(`login shell ${user.shell} is missing in env ${env.name}; using /bin/sh`);
    args = ['/bin/sh', '-l'];
  }

  const stripped = loaderVarNames(env.config?.env);
  if (stripped.length > 0) {
    deps.logger.warn(`env ${env.name}: ignoring ${stripped.join(', ')} from its image config or recipe (loader variables are not taken from images; set one with --env)`);
  }
  const environment = buildGuestEnvironment({ hostTerm: deps.hostEnv.TERM, user, imageEnv: env.config?.env, extra: opts.env });
  const command = await resolveCommand(root, asGuestMounts, args[0]!, environment.PATH ?? '', cwd ?? '/');
  if (command === undefined) {
    throw new CakeError('not-found', `${args[0]}: command not found in env ${env.name}`, {
      hint: `check the name, or give its full path (the env's PATH is ${environment.PATH ?? 'empty'})`,
      exitCode: 127,
    });
  }
  if (command.includes('=')) throw new UsageError(`${command}: cake cannot run a program whose path contains '='`);
  args = [command, ...args.slice(1)];

  let qemu: string | undefined;
  if (deps.emulate !== false && isForeignArch(env.arch, machine())) {
    qemu = await findQemuUser(env.arch!, deps.hostEnv);
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
    ...(dns.files.length > 0 ? { files: dns.files } : {}),
    ...(opts.hostname !== undefined ? { hostname: opts.hostname } : {}),
  };
}

/** Where a symlink-free guest path lives: inside the deepest earlier mount, else in the env. */
function baseOf(root: string, done: readonly GuestMount[], guestPath: string): { base: string; rel: string } {
  let best: GuestMount | undefined;
  for (const m of done) {
    if ((guestPath === m.dst || guestPath.startsWith(m.dst + '/') || m.dst === '/') && (!best || m.dst.length >= best.dst.length)) best = m;
  }
  if (best === undefined) return { base: root, rel: guestPath };
  return { base: best.src, rel: best.dst === '/' ? guestPath : guestPath.slice(best.dst.length) || '/' };
}

/**
 * userns only: resolves each mount point through the guest's symlinks and the mounts before it
 * (first the engine's own /dev, /proc and /sys, then plan.mounts), and creates missing ones (an
 * empty directory or file, in the env or in a host directory bound earlier) with the symlink-refusing
 * walk of env-fs.ts. Returns the symlink-free guest destinations and what was created, for
 * run-dir.ts to remove after the run.
 */
export async function prepareMountPoints(
  plan: RunPlan,
  stages: { dev: string; proc: string; sys: string },
): Promise<{ system: { dev: string; proc: string; sys: string }; dsts: string[]; created: CreatedEntry[] }> {
  const done: GuestMount[] = [];
  const created: CreatedEntry[] = [];
  const ensure = async (dst: string, kind: 'dir' | 'file', src: string): Promise<string> => {
    const r = await resolveGuestPath(plan.root, done, dst);
    if (r.kind !== 'missing' && r.kind !== kind) {
      throw new UsageError(`cannot bind ${src} over ${dst}: one is a directory, the other is not`);
    }
    const { base, rel } = baseOf(plan.root, done, r.guestPath);
    if (r.kind === 'missing') for (const path of ensureWithin(base, rel, kind)) created.push({ root: base, path, ...(kind === 'file' ? { size: 0 } : {}) });
    done.push({ src, dst: r.guestPath });
    return r.guestPath;
  };
  const system = { proc: await ensure('/proc', 'dir', stages.proc), dev: await ensure('/dev', 'dir', stages.dev), sys: await ensure('/sys', 'dir', stages.sys) };
  const dsts: string[] = [];
  for (const m of plan.mounts) dsts.push(m.why === 'fake-proc' ? m.dst : await ensure(m.dst, m.kind, m.src));
  return { system, dsts, created };
}
