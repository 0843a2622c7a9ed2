import { existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { silentLogger, type Logger } from '../../src/model/logger.js';
import { HttpClient } from '../../src/net/http-client.js';
import { provisionRoot, type ProvisionedProot } from '../../src/kit/proot-provisioned.js';
import { provisionProot, type ProvisionDeps } from '../../src/kit/proot-provision.js';
import { BlobStore } from '../../src/store/blobs.js';
import { resolvePaths, type CakePaths } from '../../src/store/paths.js';
import { TEST_CACHE } from './cli.js';

/**
 * A CAKE_HOME-like store under test/.cache that keeps the proot .debs and the provisioned tree
 * between runs (git-ignored): the first run downloads about 2 MB from deb.debian.org, later runs
 * nothing.
 */
export const PROOT_STORE = join(TEST_CACHE, 'proot-store');

export function testStore(home = PROOT_STORE): { paths: CakePaths; blobs: BlobStore; engineCache: string } {
  const paths = resolvePaths({ CAKE_HOME: home });
  const blobs = new BlobStore(paths);
  blobs.init();
  return { paths, blobs, engineCache: join(paths.cache, 'engine') };
}

/** Provisioning deps on a store, with a client that is created on demand; call close() after. */
export function provisionDeps(home = PROOT_STORE): ProvisionDeps & { engineCache: string; close(): Promise<void> } {
  const { paths, blobs, engineCache } = testStore(home);
  let http: HttpClient | undefined;
  return {
    paths,
    blobs,
    engineCache,
    async http() {
      http ??= new HttpClient({ logger: silentLogger });
      return http;
    },
    async close() {
      await http?.close();
    },
  };
}

/** Provisions (or finds) the real proot in the shared test store. */
export async function provisionTestProot(logger: Logger = silentLogger): Promise<ProvisionedProot> {
  const deps = provisionDeps();
  try {
    return await provisionProot({ ...deps, logger, cacheDir: deps.engineCache });
  } finally {
    await deps.close();
  }
}

/**
 * Makes the provisioned proot of the test store visible to an engine using `cacheDir`, the way
 * cake finds its own (`<cacheDir>/proot/`), so tests exercise the real discovery.
 */
export function linkProvisionedProot(cacheDir: string): void {
  mkdirSync(cacheDir, { recursive: true });
  const link = provisionRoot(cacheDir);
  if (!existsSync(link)) symlinkSync(provisionRoot(testStore().engineCache), link);
}
