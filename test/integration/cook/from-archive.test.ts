/**
 * A recipe's `from:` naming a Debian release with the options of `cake pull` (issue 16.7): the
 * base is built from deb.debian.org with the extra packages, on the default engine, in a fresh
 * CAKE_HOME; the options are pinned in RECIPE.lock and are part of the base's cache key.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { cake, freshHome } from '../../helpers/cli.js';
import { removeHome } from './fixtures.js';

describe('from: a Debian release with packages, variant and recommends (built CLI)', () => {
  const h = freshHome('cake-from-archive-');
  const home = h.home;
  const dir = mkdtempSync(join(tmpdir(), 'cake-from-archive-work-'));
  afterAll(() => {
    removeHome(home);
    rmSync(dir, { recursive: true, force: true });
  });
  const recipe = (packages: string) =>
    writeFileSync(join(dir, 'jq.yaml'), `name: jq\nfrom:\n  source: debian:bookworm\n  packages: [${packages}]\n  variant: minbase\n  recommends: false\nsteps:\n  - run: jq --version > /etc/jq-version\n`);

  it('builds the base with the packages, pins the options, and reuses the base from the cache', async () => {
    recipe('jq');
    const r = await cake(home, ['cook', 'jq.yaml'], { cwd: dir });
    expect(r.code, r.stderr.slice(-2000)).toBe(0);
    expect(r.stderr).toContain('pulling debian:bookworm with jq');
    expect(r.stderr).toMatch(/minbase \+ jq\)/);
    expect((await cake(home, ['exec', 'jq', '--', 'cat', '/etc/jq-version'])).stdout).toMatch(/^jq-1\.6/);
    const lock = parse(readFileSync(join(dir, 'jq.lock'), 'utf8'));
    expect(lock.from).toMatchObject({ ref: 'debian:bookworm', kind: 'source', options: { packages: ['jq'], variant: 'minbase', recommends: false } });
    expect(lock.from.resolved.packages.map((p: { name: string }) => p.name)).toContain('jq');
    // a rerun: the lock pins the base and the cache has it: nothing is pulled or run
    const again = await cake(home, ['cook', 'jq.yaml'], { cwd: dir });
    expect(again.code).toBe(0);
    expect(again.stderr).not.toContain('pulling');
    expect(again.stdout).toBe(r.stdout);
    // other packages are another base
    recipe('jq, tree');
    const more = await cake(home, ['cook', 'jq.yaml'], { cwd: dir });
    expect(more.code, more.stderr.slice(-2000)).toBe(0);
    expect(more.stderr).toContain('pulling debian:bookworm with jq tree');
    expect((await cake(home, ['exec', 'jq', '--', 'tree', '--version'])).stdout).toMatch(/^tree v2/);
  }, 900_000);
});
