/**
 * The files a freshly unpacked Debian/Ubuntu tree needs before its own dpkg can run, and the
 * build-time substitutions removed afterwards:
 * - a minimal dpkg database (empty status and available, arch, cmethopt, info/, updates/, …);
 * - `/usr/sbin/policy-rc.d` exiting 101, so invoke-rc.d and deb-systemd-invoke start no service;
 * - local dpkg diversions of `start-stop-daemon` (a stub that does nothing) and `ischroot`
 *   (`true`: the build *is* a chroot), so unpacking the real programs writes them aside;
 * - `/etc/apt/sources.list` for the archive the tree came from, apt's sandbox user set to root (see
 *   APT_ROOTLESS_CONF), and `/etc/hosts`.
 * The pure parts (file contents) are separate from the writers for testing.
 */
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { mergedUsrPath } from './bootstrap-merged-usr.js';

/** A local diversion: dpkg writes the package's `path` to `divertTo` and leaves our stub at `path`. */
export interface Diversion {
  /** Absolute guest path as the package ships it (/sbin/start-stop-daemon, not /usr/sbin/…). */
  path: string;
  divertTo: string;
  /** The stub's content (an executable script). */
  stub: string;
}

export interface TreeFile {
  /** Relative to the root. */
  path: string;
  content: string;
  mode: number;
}

export const POLICY_RC_D = '#!/bin/sh\n# cake: no service starts while the env is built\nexit 101\n';
const SSD_STUB = '#!/bin/sh\necho "Warning: fake start-stop-daemon called (cake build), doing nothing" >&2\nexit 0\n';
const ISCHROOT_STUB = '#!/bin/sh\n# cake: the build runs in a chroot-like env\nexit 0\n';
const SUFFIX = '.cake-real';

/**
 * The diversions for the programs found in the unpacked tree; `where` maps a program name to the
 * path (relative to the root, before merging /usr) the package ships it at. Pure.
 */
export function buildDiversions(where: { startStopDaemon?: string; ischroot?: string }): Diversion[] {
  const out: Diversion[] = [];
  if (where.startStopDaemon !== undefined) out.push({ path: `/${where.startStopDaemon}`, divertTo: `/${where.startStopDaemon}${SUFFIX}`, stub: SSD_STUB });
  if (where.ischroot !== undefined) out.push({ path: `/${where.ischroot}`, divertTo: `/${where.ischroot}${SUFFIX}`, stub: ISCHROOT_STUB });
  return out;
}

/** dpkg's diversions file: three lines per diversion (path, diverted-to path, package; `:` is --local). Pure. */
export function formatDiversions(list: readonly Pick<Diversion, 'path' | 'divertTo'>[]): string {
  return list.map((d) => `${d.path}\n${d.divertTo}\n:\n`).join('');
}

/** Removes the given diversions from a diversions file's text, keeping any others. Pure. */
export function removeDiversions(text: string, list: readonly Pick<Diversion, 'path' | 'divertTo'>[]): string {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  let out = '';
  for (let i = 0; i + 2 < lines.length; i += 3) {
    const [path, to, pkg] = [lines[i]!, lines[i + 1]!, lines[i + 2]!];
    if (pkg === ':' && list.some((d) => d.path === path && d.divertTo === to)) continue;
    out += `${path}\n${to}\n${pkg}\n`;
  }
  return out;
}

/** The dpkg database a first `dpkg --install` starts from (as debootstrap and mmdebstrap write it). Pure. */
export function dpkgDatabaseFiles(debianArch: string, diversions: readonly Diversion[]): { dirs: string[]; files: TreeFile[] } {
  const db = 'var/lib/dpkg';
  return {
    dirs: [db, `${db}/info`, `${db}/updates`, `${db}/triggers`, `${db}/alternatives`, `${db}/parts`],
    files: [
      { path: `${db}/status`, content: '', mode: 0o644 },
      { path: `${db}/available`, content: '', mode: 0o644 },
      { path: `${db}/arch`, content: `${debianArch}\n`, mode: 0o644 },
      { path: `${db}/cmethopt`, content: 'apt apt\n', mode: 0o644 },
      { path: `${db}/diversions`, content: formatDiversions(diversions), mode: 0o644 },
    ],
  };
}

export interface AptSource {
  mirror: string;
  suite: string;
}

/** One-line-style sources.list: a `deb` line per (mirror, suite), `signed-by` when a keyring path is given. Pure. */
export function sourcesList(sources: readonly AptSource[], components: readonly string[], signedBy?: string): string {
  const opts = signedBy === undefined ? '' : `[signed-by=${signedBy}] `;
  const lines = sources.map((s) => `deb ${opts}${s.mirror.replace(/\/+$/, '')} ${s.suite} ${components.join(' ')}`);
  return `${lines.join('\n')}\n`;
}

/**
 * apt drops privileges to _apt for downloads; in a rootless user namespace only root is mapped, so
 * setgroups/setuid fail ("Failed to setgroups") and apt cannot download at all. Kept in the env.
 */
export const APT_ROOTLESS_CONF =
  '// cake: envs run in user namespaces where only root is mapped: apt cannot switch to _apt\nAPT::Sandbox::User "root";\n';
export const APT_ROOTLESS_FILE = 'etc/apt/apt.conf.d/99cake-rootless';

export const ETC_HOSTS = '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\nff02::1\t\tip6-allnodes\nff02::2\t\tip6-allrouters\n';

export interface PrepareTreeOptions {
  debianArch: string;
  mergedDirs: readonly string[];
  diversions: readonly Diversion[];
}

/** Host path of an absolute guest path in a merged-/usr tree at `root`. */
export function treePath(root: string, guestPath: string, mergedDirs: readonly string[]): string {
  return join(root, mergedUsrPath(guestPath.replace(/^\/+/, ''), mergedDirs));
}

function writeFile(root: string, rel: string, content: string, mode: number): void {
  const p = join(root, rel);
  mkdirSync(dirname(p), { recursive: true, mode: 0o755 });
  if (lstatSync(p, { throwIfNoEntry: false })?.isSymbolicLink()) rmSync(p);
  writeFileSync(p, content, { mode });
  chmodSync(p, mode);
}

/**
 * Writes the dpkg database, policy-rc.d, the diverted stubs (moving the unpacked programs to their
 * diverted names), apt's rootless setting and /etc/hosts (when missing) into the merged tree at `root`.
 */
export function prepareTree(root: string, o: PrepareTreeOptions): void {
  const { dirs, files } = dpkgDatabaseFiles(o.debianArch, o.diversions);
  for (const d of dirs) mkdirSync(join(root, d), { recursive: true, mode: 0o755 });
  for (const f of files) writeFile(root, f.path, f.content, f.mode);
  for (const d of ['var/cache/apt/archives/partial', 'var/lib/apt/lists/partial', 'etc/apt/apt.conf.d', 'etc/apt/preferences.d', 'etc/apt/sources.list.d']) {
    mkdirSync(join(root, d), { recursive: true, mode: 0o755 });
  }
  writeFile(root, 'usr/sbin/policy-rc.d', POLICY_RC_D, 0o755);
  for (const d of o.diversions) {
    const real = treePath(root, d.path, o.mergedDirs);
    if (existsSync(real)) renameSync(real, treePath(root, d.divertTo, o.mergedDirs));
    writeFileSync(real, d.stub, { mode: 0o755 });
    chmodSync(real, 0o755);
  }
  writeFile(root, APT_ROOTLESS_FILE, APT_ROOTLESS_CONF, 0o644);
  if (lstatSync(join(root, 'etc/hosts'), { throwIfNoEntry: false }) === undefined) writeFile(root, 'etc/hosts', ETC_HOSTS, 0o644);
}

/** Keyrings that sources.list may name with signed-by, by the shipped keyring they correspond to. */
const SIGNED_BY: Record<string, readonly string[]> = {
  debian: ['/usr/share/keyrings/debian-archive-keyring.pgp', '/usr/share/keyrings/debian-archive-keyring.gpg'],
  ubuntu: ['/usr/share/keyrings/ubuntu-archive-keyring.pgp', '/usr/share/keyrings/ubuntu-archive-keyring.gpg'],
};

/**
 * Writes /etc/apt/sources.list for `sources`, with `signed-by` naming the distribution's keyring
 * when the installed tree has it (`keyring` is the shipped keyring name; a user's keyring file
 * gets no signed-by: apt's own trusted keys apply). Returns the keyring path used, if any.
 */
export function writeSourcesList(root: string, sources: readonly AptSource[], components: readonly string[], keyring: string | undefined): string | undefined {
  const signedBy = (keyring === undefined ? [] : (SIGNED_BY[keyring] ?? [])).find((k) => lstatSync(join(root, k), { throwIfNoEntry: false })?.isFile());
  writeFile(root, 'etc/apt/sources.list', sourcesList(sources, components, signedBy), 0o644);
  return signedBy;
}

/**
 * Undoes the build-time substitutions: removes policy-rc.d and our diversions from dpkg's database,
 * and puts each real program back over its stub. Idempotent.
 */
export function finishTree(root: string, o: Pick<PrepareTreeOptions, 'mergedDirs' | 'diversions'>): void {
  rmSync(join(root, 'usr/sbin/policy-rc.d'), { force: true });
  const file = join(root, 'var/lib/dpkg/diversions');
  if (existsSync(file)) {
    const before = readFileSync(file, 'utf8');
    const after = removeDiversions(before, o.diversions);
    if (after !== before) {
      writeFileSync(`${file}.cake-tmp`, after, { mode: 0o644 });
      renameSync(`${file}.cake-tmp`, file);
    }
  }
  for (const d of o.diversions) {
    const real = treePath(root, d.divertTo, o.mergedDirs);
    if (existsSync(real)) renameSync(real, treePath(root, d.path, o.mergedDirs));
  }
}
