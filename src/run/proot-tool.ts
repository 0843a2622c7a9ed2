import { execFile } from 'node:child_process';
import { CakeError } from '../model/errors.js';
import { machine } from 'node:os';
import { findHostProgram } from './host-tools.js';
import type { ProotTool } from './proot-argv.js';
import type { KitProvider } from './kit-provider.js';

/** A proot binary cake may use, and the environment proot itself needs to start. */
export interface ProotCandidate {
  binary: string;
  /** For proot itself (e.g. a provisioned build's PROOT_LOADER); never given to the guest as such. */
  env: Record<string, string>;
  origin: 'user' | 'provisioned' | 'system';
  /** For a provisioned proot: what the launcher runs (enters the self-check cache key). */
  identity?: string;
  /** For a provisioned proot: its Debian version. */
  version?: string;
  /**
   * Variables to add when the candidate fails without them: a provisioned proot's PROOT_LOADER
   * (and PROOT_LOADER_32), for hosts whose /tmp is mounted noexec. proot hands its environment to
   * the guest, so they are used only where needed.
   */
  fallbackEnv?: Record<string, string>;
}

/**
 * The proot binaries to try, best first: `CAKE_PROOT` from the host environment (a user's own
 * build, or a wrapper that starts one through its own ld.so), then the proot cake provisioned from
 * the Debian archive earlier under `cacheDir` (found by `deps.kits`, src/kit/proot-provisioned.ts,
 * without network access), then the system proot, if any. Debian 12/13's proot 5.1.0 fails the self-check (statx
 * is not translated); when no candidate passes, the engine provisions one (engine.ts). Callers
 * pick the first candidate that passes the self-check; results are cached per binary, so trying
 * several is cheap.
 */
export async function findProotCandidates(deps: { hostEnv: Record<string, string | undefined>; cacheDir?: string; kits?: KitProvider }): Promise<ProotCandidate[]> {
  const out: ProotCandidate[] = [];
  const user = deps.hostEnv.CAKE_PROOT;
  if (user !== undefined && user !== '') out.push({ binary: user, env: {}, origin: 'user' });
  const provisioned = deps.cacheDir === undefined ? undefined : await deps.kits?.provisionedProot(deps.cacheDir, machine());
  if (provisioned !== undefined && provisioned.binary !== user) out.push(provisioned);
  const system = await findHostProgram('proot', deps.hostEnv);
  if (system !== undefined && system !== user) out.push({ binary: system, env: {}, origin: 'system' });
  return out;
}

/** What `proot --help` tells about a build: its fork and the options cake cares about. Pure. */
export function parseProotHelp(help: string): { fork: ProotTool['fork']; killOnExit: boolean; version?: string } {
  // Only termux/proot has -L, --sysvipc and --ashmem-memfd (proot-distro and termux-proot document these flags).
  const termux = /--sysvipc|--ashmem-memfd|^\s*-L[,\s]/m.test(help);
  const version = /proot\s+v?(\d+\.\d+(?:\.\d+)?)/i.exec(help)?.[1];
  return { fork: termux ? 'termux' : 'proot-me', killOnExit: help.includes('--kill-on-exit'), ...(version ? { version } : {}) };
}

/** Runs `proot --help` (it exits 0 or 1 depending on the build; the text is what matters). */
export async function probeProot(candidate: ProotCandidate): Promise<ProotTool & { version?: string }> {
  const text = await new Promise<string>((resolve, reject) => {
    execFile(
      candidate.binary,
      ['--help'],
      { env: { PATH: '/usr/bin:/bin', ...candidate.env }, timeout: 10_000, maxBuffer: 4 << 20 },
      (err, stdout, stderr) => {
        const out = `${stdout}${stderr}`;
        if (err && out.trim() === '') reject(err);
        else resolve(out);
      },
    );
  }).catch((err: unknown) => {
    throw new CakeError('engine', `cannot run ${candidate.binary}: ${(err as Error).message}`, { cause: err });
  });
  return { binary: candidate.binary, env: candidate.env, ...parseProotHelp(text) };
}
