/**
 * The kits as the engine is handed them (run/kit-provider.ts): proots provisioned from the Debian
 * archive, found in the engine cache or made on demand, and the standard fakeroot kit.
 */
import type { Logger } from '../model/logger.js';
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

/** What the full provider needs beyond provisioning: the distro definitions (for the standard kit's archive). */
export interface KitsDeps extends ProvisionDeps {
  distrosDir?: string;
}

/** The provider over these deps (the network is opened only when something must be downloaded). */
export function archiveKits(deps: KitsDeps): KitProvider {
  return {
    ...foundKits,
    async provisionProot(ctx) {
      // loaded only now: it pulls in the archive client
      const { provisionProot } = await import('./proot-provision.js');
      return provisionedCandidate(await provisionProot({ ...deps, ...ctx }));
    },
    ...(deps.distrosDir === undefined
      ? {}
      : {
          async fakerootKit(ctx: { logger: Logger; machine: string; signal?: AbortSignal }) {
            const { standardKitDebs } = await import('./standard-kit.js');
            const { prepareFakerootKit } = await import('./fakeroot.js');
            const kdeps = { http: deps.http, blobs: deps.blobs, paths: deps.paths, logger: ctx.logger, distrosDir: deps.distrosDir!, ...(ctx.signal ? { signal: ctx.signal } : {}) };
            return prepareFakerootKit(await standardKitDebs(kdeps, ctx.machine), deps.paths.cache, ctx.signal);
          },
        }),
  };
}
