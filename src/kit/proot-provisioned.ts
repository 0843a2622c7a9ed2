/**
 * The on-disk layout of a proot that cake provisioned (proot-provision.ts builds it), and finding
 * one without any network access. Light on purpose: every `cake exec` looks here, so nothing of
 * the archive client is imported.
 *
 * `<cacheDir>/proot/<key>/` holds `root/` (the unpacked .debs), `loader` and `loader-32` (proot's
 * embedded loaders, see proot-loader.ts), `proot` (the launcher: a shell script that execs sid's
 * ld.so with sid's libraries on proot) and `provision.json` (this manifest, written last). `key`
 * is derived from the sha256 of the .debs, so other pins never reuse a directory.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { compareVersions } from '../debian/version.js';
import type { ProotCandidate } from '../run/proot-tool.js';
import type { PinnedDeb } from './kit-deb.js';
import { PROOT_PINS, provisionArch } from './proot-pins.js';

/** Bump when the layout or the launcher changes: older directories are then ignored. */
export const PROVISION_FORMAT = 3;

export interface ProvisionManifest {
  format: number;
  arch: 'amd64' | 'arm64';
  /** `pinned`: the .debs of proot-pins.ts; `resolved`: the newest from the signed sid index (a pin was gone). */
  source: 'pinned' | 'resolved';
  debs: PinnedDeb[];
  /** Absolute paths, for messages and the self-check key. */
  launcher: string;
  binary: string;
  ldso: string;
  libraryPath: string;
  /**
   * PROOT_LOADER (and PROOT_LOADER_32): copies of proot's embedded loaders, for a host whose /tmp
   * is noexec (proot otherwise writes its loader there on each start). Empty when none was found.
   */
  loaderEnv: Record<string, string>;
  createdAt: string;
}

/** A provisioned proot ready to use. */
export interface ProvisionedProot extends ProvisionManifest {
  dir: string;
  /** The Debian version of proot (5.4.0-3). */
  version: string;
}

/** The directory name for a set of .debs: a hash of their sha256s and the layout format. Pure. */
export function provisionKey(debs: readonly PinnedDeb[]): string {
  const h = createHash('sha256').update(`cake-proot-format-${PROVISION_FORMAT}\n`);
  for (const d of debs) h.update(`${d.sha256}\n`);
  return h.digest('hex').slice(0, 20);
}

export function provisionRoot(cacheDir: string): string {
  return join(cacheDir, 'proot');
}

/** Quotes a word for POSIX sh. Pure. */
function q(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * The launcher: proot run by sid's own loader with sid's libraries, whatever the host's libc.
 * `--library-path` (unlike LD_LIBRARY_PATH) reaches proot only, never the programs it starts;
 * `--inhibit-cache` keeps the host's /etc/ld.so.cache out. exec keeps the pid, so cake's signals
 * and its search for proot's first child (the guest) work as with a system proot. Pure.
 */
export function launcherScript(m: Pick<ProvisionManifest, 'ldso' | 'libraryPath' | 'binary' | 'debs'>): string {
  const what = m.debs.map((d) => `${d.name} ${d.version} (sha256 ${d.sha256})`).join('\n#   ');
  return `#!/bin/sh
# proot provisioned by cake from the Debian archive, run through its own glibc loader:
#   ${what}
exec ${q(m.ldso)} --inhibit-cache --library-path ${q(m.libraryPath)} ${q(m.binary)} "$@"
`;
}

/** The manifest in `dir`, when that directory holds a complete provisioned proot of this format. */
export async function readProvisioned(dir: string): Promise<ProvisionedProot | undefined> {
  let m: ProvisionManifest;
  try {
    m = JSON.parse(await readFile(join(dir, 'provision.json'), 'utf8')) as ProvisionManifest;
  } catch {
    return undefined;
  }
  if (m.format !== PROVISION_FORMAT || !Array.isArray(m.debs) || m.debs[0]?.name !== 'proot' || typeof m.loaderEnv !== 'object') return undefined;
  try {
    await stat(m.binary);
    await stat(m.launcher);
  } catch {
    return undefined;
  }
  return { ...m, dir, version: m.debs[0].version };
}

/**
 * The provisioned proot for a host of `machine` (uname -m) under `cacheDir`, if any: the one of
 * the current pins first, else the newest other one of that architecture (provisioned from the
 * sid index after a pin was gone). Never touches the network.
 */
export async function findProvisionedProot(cacheDir: string, machine: string): Promise<ProvisionedProot | undefined> {
  const arch = provisionArch(machine);
  if (arch === undefined) return undefined;
  const root = provisionRoot(cacheDir);
  const pinned = await readProvisioned(join(root, provisionKey(PROOT_PINS[arch].debs)));
  if (pinned !== undefined) return pinned;
  let best: ProvisionedProot | undefined;
  for (const name of await readdir(root).catch(() => [] as string[])) {
    if (name.startsWith('.')) continue;
    const p = await readProvisioned(join(root, name));
    if (p === undefined || p.arch !== arch) continue;
    if (best === undefined || compareVersions(p.version, best.version) > 0) best = p;
  }
  return best;
}

/**
 * A provisioned proot as an engine candidate. Its `identity` (the directory's key and the real
 * binary's size and mtime) goes into the self-check cache key: the launcher script alone would
 * not change when the binary behind it did.
 */
export async function provisionedCandidate(p: ProvisionedProot): Promise<ProotCandidate> {
  const st = await stat(p.binary);
  return {
    binary: p.launcher,
    env: {},
    origin: 'provisioned',
    identity: `${p.dir}:${st.size}:${Math.trunc(st.mtimeMs)}`,
    version: p.version,
    ...(Object.keys(p.loaderEnv ?? {}).length > 0 ? { fallbackEnv: { ...p.loaderEnv } } : {}),
  };
}
