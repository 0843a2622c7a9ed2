/**
 * Release aliases follow the archive (issue 17 item 6), against the real deb.debian.org:
 * `debian:stable`, `oldstable`, `testing` and `unstable` are the Codename that the verified
 * dists/<alias>/InRelease names today, compared with the file read here independently (a plain
 * fetch and a regex); an alias naming a release cake's definitions lack (oldoldstable, bullseye,
 * when this was written) is a one-line error from the CLI, before any build. `ubuntu:lts`:
 * ubuntu.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/model/logger.js';
import { HttpClient } from '../../../src/net/http-client.js';
import { resolveArchiveAlias } from '../../../src/pull/release-alias.js';
import { BlobStore } from '../../../src/store/blobs.js';
import { loadDistros } from '../../../src/store/distros.js';
import { EnvStore } from '../../../src/store/envs.js';
import { resolvePaths } from '../../../src/store/paths.js';
import { cake, freshHome } from '../../helpers/cli.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'cake-alias-'));
const home = freshHome('cake-alias-cli-');
let http: HttpClient | undefined;

/** The Codename of dists/SUITE/InRelease, read without cake. */
async function codenameOf(suite: string): Promise<string> {
  const text = await (await fetch(`http://deb.debian.org/debian/dists/${suite}/InRelease`)).text();
  const m = /^Codename: (\S+)$/m.exec(text);
  expect(m, `${suite} InRelease names a Codename`).not.toBeNull();
  return (m as RegExpExecArray)[1] as string;
}

describe('debian release aliases read from the archive', () => {
  afterAll(async () => {
    await http?.close();
    rmSync(work, { recursive: true, force: true });
    home.cleanup();
  });

  it('stable, oldstable, testing and unstable are what their InRelease names', async () => {
    const paths = resolvePaths({ CAKE_HOME: join(work, 'home') });
    const infos: string[] = [];
    const logger = { ...silentLogger, info: (m: string) => void infos.push(m) };
    const deps = { paths, blobs: new BlobStore(paths), envs: new EnvStore(paths), http: async () => (http ??= new HttpClient({ logger })), logger, signal: new AbortController().signal, distrosDir: join(REPO, 'distros'), hostArch: 'x64' };
    const debian = (await loadDistros(deps.distrosDir)).find((d) => d.name === 'debian');
    expect(debian).toBeDefined();
    for (const alias of ['stable', 'oldstable', 'testing', 'unstable']) {
      const expected = await codenameOf(alias);
      expect(await resolveArchiveAlias(deps, debian!, alias, 'x86_64'), alias).toBe(expected);
      expect(infos.at(-1)).toMatch(new RegExp(`^debian:${alias} is ${expected} \\(.*from the archive's Release file\\)$`));
    }
    // a release name is not an alias: nothing read
    expect(await resolveArchiveAlias(deps, debian!, 'bookworm', 'x86_64')).toBeUndefined();
  }, 120_000);

  it('an alias naming a release the definitions lack is one line that says what the archive said', async () => {
    const codename = await codenameOf('oldoldstable');
    const known = (await loadDistros(join(REPO, 'distros'))).find((d) => d.name === 'debian')!.releases.map((r) => r.name);
    expect(known, 'this check needs an oldoldstable that distros/debian.yaml does not define').not.toContain(codename);
    const r = await cake(home.home, ['pull', 'debian:oldoldstable']);
    expect(r.code).not.toBe(0);
    const lines = r.stderr.trim().split('\n').filter((l) => l.startsWith('cake: ') || l.startsWith('hint: '));
    expect(lines[0]).toBe(`cake: debian's oldoldstable is ${codename} today (its InRelease says so), which this cake's definitions do not know`);
    expect(lines[1]).toMatch(/^hint: name a known release \(bookworm, trixie/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  }, 120_000);
});
