/**
 * The kits as the engine is handed them (run/kit-provider.ts): proots provisioned from the Debian
 * archive, found in the engine cache or made on demand.
 */
import type { KitProvider } from '../run/kit-provider.js';
import type { ProvisionDeps } from './proot-provision.js';
import { findProvisionedProot, provisionedCandidate } from './proot-provisioned.js';

/** Finds proots provisioned earlier, never provisions (for `cake doctor`). */
export const foundKits: KitProvider = {
  async provisionedProot(cacheDir, machine) {
    const p = await findProvisionedProot(cacheDir, machine);
    return p === undefined ? undefined : provisionedCandidate(p);
  },
};

/** The provider over these deps (the network is opened only when something must be downloaded). */
export function archiveKits(deps: ProvisionDeps): KitProvider {
  return {
    ...foundKits,
    async provisionProot(ctx) {
      // loaded only now: it pulls in the archive client
      const { provisionProot } = await import('./proot-provision.js');
      return provisionedCandidate(await provisionProot({ ...deps, ...ctx }));
    },
  };
}
