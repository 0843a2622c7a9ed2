/**
 * The real bookworm main amd64 Packages index for the tests that check parsers and the resolver
 * against it: fetched from deb.debian.org through cake's own archive client (InRelease verified
 * against the Debian keyring, the index against its SHA256), kept in the store under
 * test/.cache/debian-store so reruns download only the InRelease. No network: the test fails.
 */
import { join } from 'node:path';
import { ArchiveClient, type LoadedIndices } from '../../src/debian/archive-client.js';
import { silentLogger } from '../../src/model/logger.js';
import { HttpClient } from '../../src/net/http-client.js';
import { BlobStore } from '../../src/store/blobs.js';
import { resolvePaths } from '../../src/store/paths.js';
import { TEST_CACHE } from './cli.js';

/** Generous: a cold fetch is one 9 MB download. */
export const INDEX_TIMEOUT_MS = 180_000;

/** The text of bookworm's main/binary-amd64/Packages, verified. */
export async function bookwormMainAmd64(): Promise<string> {
  return (await bookwormSuites([{ mirror: 'http://deb.debian.org/debian', suites: ['bookworm'] }])).packagesText[0]!.text;
}

/**
 * main/binary-amd64 of every suite named, verified, in the order given (sources.list order):
 * e.g. bookworm, bookworm-updates from deb.debian.org/debian and bookworm-security from
 * deb.debian.org/debian-security, as cake's distro definition reads them.
 */
export async function bookwormSuites(sources: { mirror: string; suites: string[] }[]): Promise<LoadedIndices> {
  const paths = resolvePaths({ CAKE_HOME: join(TEST_CACHE, 'debian-store') });
  const blobs = new BlobStore(paths);
  blobs.init();
  const http = new HttpClient({ logger: silentLogger });
  try {
    const all: LoadedIndices = { releases: [], packagesText: [] };
    for (const s of sources) {
      const client = new ArchiveClient({ http, blobs, paths, logger: silentLogger }, { mirror: s.mirror, suites: s.suites, components: ['main'], arch: 'amd64', keyring: 'debian' });
      const loaded = await client.loadIndices();
      all.releases.push(...loaded.releases);
      all.packagesText.push(...loaded.packagesText);
    }
    return all;
  } finally {
    await http.close();
  }
}
