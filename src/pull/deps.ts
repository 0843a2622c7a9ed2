import type { UseCaseDeps } from '../store/use-case-deps.js';
import type { RegistryMirrors } from '../oci/mirrors.js';
import type { KitProvider } from '../run/kit-provider.js';
import type { EngineName } from '../model/run-options.js';

/** What source handlers are given (never globals). */
export interface SourceDeps extends Omit<UseCaseDeps, 'hostEnv'> {
  /** Directory of distro definitions. */
  distrosDir: string;
  /** Host architecture as Node names it (process.arch). */
  hostArch: string;
  /**
   * The user's environment (PATH, HOME, …) for sources that run programs in the env being built
   * (Debian/Ubuntu archives run the guest's dpkg through the engine); default a standard PATH.
   */
  hostEnv?: Record<string, string | undefined>;
  /** The engine those programs run with; default auto. */
  engine?: EngineName;
  /** The kits the engine is handed (a provisioned proot); see run/kit-provider.ts. */
  kits?: KitProvider;
  /**
   * A mirror per distro name (the user's `debian-mirror`/`ubuntu-mirror` setting): it replaces
   * the release's main archive URL (the mirror of its own suite) wherever the definition uses it;
   * other archives (Debian's security archive) stay as defined.
   */
  archiveMirrors?: Record<string, string>;
  /** Registry mirrors (the user's `registry-mirrors` setting, oci/mirrors.ts), tried before each registry. */
  registryMirrors?: RegistryMirrors;
}
