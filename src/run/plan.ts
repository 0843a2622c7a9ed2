import type { GuestUser } from './guest-user.js';
import { normalizeGuestPath } from '../model/run-options.js';

/**
 * A run plan: everything an engine needs, decided before any engine-specific argv is built. The
 * argv builders (proot-argv.ts, userns-argv.ts) are pure functions of a plan.
 */
export interface RunPlan {
  /** Absolute host path of the env's root filesystem. */
  root: string;
  /** Guest argv, never empty (an empty request became the login shell). */
  argv: string[];
  /** Guest working directory. */
  cwd: string;
  user: GuestUser;
  /** The complete guest environment (clean: nothing leaks from the host but TERM). */
  env: Record<string, string>;
  /** Host paths made visible in the guest, parents before children. */
  mounts: PlannedMount[];
  /** A kernel release to report (proot -k), when the host's is too old for guest C libraries. */
  kernelRelease?: string;
  /** Host path of qemu-user for a foreign-architecture guest (proot -q). */
  qemu?: string;
  /** The guest's hostname (userns: set in a private UTS namespace). */
  hostname?: string;
  /**
   * Files the guest lacks and gets for this run only (DNS: the host's resolv.conf and hosts), as
   * real files in the env that cake removes after the run unless the guest replaced them.
   */
  files?: { dst: string; content: string }[];
}

export interface PlannedMount {
  src: string;
  dst: string;
  kind: 'dir' | 'file';
  why: 'home' | 'tmp' | 'dns' | 'fake-proc' | 'user';
  /** The guest cannot write through it (userns: a read-only remount; proot cannot: refused). */
  readonly?: boolean;
}

/**
 * Variables that steer the dynamic loader or proot (LD_*, PROOT_*): taken from an image's config
 * or a recipe they would make the host load code the env chose, so they are dropped there (with a
 * warning, as proot-distro does); `--env` may still set them, for the guest only.
 */
export const LOADER_VAR = /^(LD_|PROOT_)/;

/** The names of the loader variables in `K=V` strings (what buildGuestEnvironment drops). Pure. */
export function loaderVarNames(kvs: readonly string[] | undefined): string[] {
  return (kvs ?? []).map((kv) => kv.slice(0, Math.max(0, kv.indexOf('=')))).filter((k) => LOADER_VAR.test(k));
}

/** The PATH every guest starts with (the union of Debian's root and user defaults). */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const DEFAULT_LANG = 'C.UTF-8';

/**
 * The clean guest environment, in layers: PATH, HOME, USER, LOGNAME, TERM (the host's, so the
 * terminal works), LANG; then the image's own variables (OCI `Env`, `K=V` strings) without the
 * loader variables (LOADER_VAR); then `--env`. Nothing else from the host leaks in (`env -i`
 * semantics). The result is applied inside the guest only, after the root switch (command.ts). Pure.
 */
export function buildGuestEnvironment(input: {
  hostTerm: string | undefined;
  user: GuestUser;
  imageEnv: readonly string[] | undefined;
  extra: Record<string, string>;
}): Record<string, string> {
  const env: Record<string, string> = {
    PATH: DEFAULT_PATH,
    HOME: input.user.home,
    USER: input.user.name,
    LOGNAME: input.user.name,
  };
  if (input.hostTerm !== undefined && input.hostTerm !== '') env.TERM = input.hostTerm;
  env.LANG = DEFAULT_LANG;
  for (const kv of input.imageEnv ?? []) {
    const eq = kv.indexOf('=');
    if (eq > 0 && !LOADER_VAR.test(kv.slice(0, eq))) env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  Object.assign(env, input.extra);
  return env;
}

/** Candidate working directories, best first: --cwd, image WorkingDir, the user's HOME, `/`. Pure. */
export function cwdCandidates(requested: string | undefined, workingDir: string | undefined, home: string): string[] {
  if (requested !== undefined) return [normalizeGuestPath(requested.startsWith('/') ? requested : '/' + requested)];
  const out: string[] = [];
  if (workingDir) out.push(normalizeGuestPath(workingDir));
  out.push(normalizeGuestPath(home), '/');
  return [...new Set(out)];
}

/**
 * The guest argv: the request as given; an empty request is the user's login shell with `-l`
 * (`cake enter` opens a shell, it does not start the image's Entrypoint/Cmd). Pure.
 */
export function guestArgv(argv: readonly string[], user: GuestUser): string[] {
  return argv.length > 0 ? [...argv] : [user.shell, '-l'];
}

/**
 * The binds of a run, in order: host /tmp and $HOME unless isolated; fake /proc files; then the
 * user's binds. (/dev, /proc and /sys are the engines' own: a private /dev, a /proc and a read-only
 * /sys; see userns-argv.ts and proot-argv.ts.) Sorted so a parent is mounted before anything
 * inside it (stable, so equal depths keep their order). Pure.
 */
export function planMounts(input: {
  isolated: boolean;
  hostHome: string | undefined;
  fakeProc: { src: string; dst: string }[];
  user: PlannedMount[];
}): PlannedMount[] {
  const out: PlannedMount[] = [];
  if (!input.isolated) {
    out.push({ src: '/tmp', dst: '/tmp', kind: 'dir', why: 'tmp' });
    const home = input.hostHome === undefined ? '' : normalizeGuestPath(input.hostHome);
    // A HOME of `/` (daemons, some CI) would shadow the whole guest: skip it.
    if (input.hostHome !== undefined && input.hostHome.startsWith('/') && home !== '/') {
      out.push({ src: input.hostHome, dst: home, kind: 'dir', why: 'home' });
    }
  }
  for (const f of input.fakeProc) out.push({ ...f, kind: 'file', why: 'fake-proc' });
  out.push(...input.user);
  return sortParentsFirst(out);
}

function depth(p: string): number {
  return p === '/' ? 0 : p.split('/').length - 1;
}

/** Stable sort by the depth of `dst`: a later, shallower mount would otherwise hide a deeper one. */
export function sortParentsFirst<T extends { dst: string }>(mounts: readonly T[]): T[] {
  return mounts
    .map((m, i) => ({ m, i }))
    .sort((a, b) => depth(a.m.dst) - depth(b.m.dst) || a.i - b.i)
    .map((x) => x.m);
}

/** The release reported to guests on hosts older than it. */
export const KERNEL_RELEASE_FLOOR = '6.1.0';

/**
 * glibc refuses to start ("FATAL: kernel too old") below the release it was built for; those
 * floors are far below 6.1 for every supported distro, so a host at or above 6.1 keeps its own
 * release (undefined: no proot -k) and an older or unparsable one reports 6.1.0. Pure.
 */
export function kernelReleaseFor(hostRelease: string): string | undefined {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(hostRelease);
  if (!m) return KERNEL_RELEASE_FLOOR;
  const [maj, min] = [Number(m[1]), Number(m[2])];
  return maj > 6 || (maj === 6 && min >= 1) ? undefined : KERNEL_RELEASE_FLOOR;
}
