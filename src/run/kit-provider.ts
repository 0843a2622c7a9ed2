/**
 * What the engine is handed to find the kits it runs with: a proot provisioned from the Debian
 * archive and the fakeroot kit that records ownership. src/kit implements it (it fetches and
 * unpacks .debs); the engine never imports the archive code, so run/ stays below debian/.
 */
import type { Logger } from '../model/logger.js';
import type { ProotCandidate } from './proot-tool.js';

/** The host side of a fakeroot kit, unpacked: what the ownership recorder runs faked with. */
export interface FakerootKit {
  /** The kit's host directory. */
  dir: string;
  /** Host path of the kit's glibc loader. */
  ldso: string;
  /** Host directories holding the kit's libc (for `--library-path`), ':'-separated. */
  libraryPath: string;
  /** Host path of faked-sysv. */
  faked: string;
  /** Host path of the directory holding libfakeroot-sysv.so (bound into the guest). */
  libDir: string;
  /** The glibc symbol versions libfakeroot-sysv.so needs from the guest's libc (GLIBC_2.34, …). */
  needs?: string[];
}

export interface KitProvider {
  /** A proot provisioned earlier under `cacheDir` for a host of `machine` (uname -m); never touches the network. */
  provisionedProot(cacheDir: string, machine: string): Promise<ProotCandidate | undefined>;
  /** Provisions a proot now (the network; one info line), or throws CakeError('engine'). Absent: never provision. */
  provisionProot?(ctx: { logger: Logger; cacheDir: string; signal?: AbortSignal }): Promise<ProotCandidate>;
  /**
   * The standard fakeroot kit (src/kit/standard-kit.ts) for a host of `machine`, fetched and
   * unpacked when needed. Absent: ownership is recorded only with a kit the caller gives.
   */
  fakerootKit?(ctx: { logger: Logger; machine: string; signal?: AbortSignal }): Promise<FakerootKit>;
}
