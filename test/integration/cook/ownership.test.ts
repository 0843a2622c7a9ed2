/**
 * Ownership in cook (issue 16.4): a `run` step's chown/useradd/install -o lands in the tree's
 * table with the standard fakeroot kit, on the default engine and on proot; the step cache keeps
 * it, so a cook restored from the cache has the same owners and the same tree hash; export
 * carries them. DEBIAN_FRONTEND is noninteractive in a Debian tree unless the recipe sets it.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cake, freshHome } from '../../helpers/cli.js';
import { debianMinbaseTarball } from '../../helpers/debian-minbase.js';
import { removeHome } from './fixtures.js';

const HASH = /^([a-z0-9.-]+)\tsha256:([0-9a-f]{64})$/;

const RECIPE = `name: owned
from: ./debian.tar
steps:
  - run: |
      useradd -m -s /bin/bash bob
      echo 'bob:secret' | chpasswd
      install -d -o www-data -g www-data -m 0750 /srv/www
      echo hi > /srv/www/index.html
      chown www-data:adm /srv/www/index.html
      echo "frontend=$DEBIAN_FRONTEND" > /etc/frontend
  - env: { DEBIAN_FRONTEND: readline }
  - run: echo "frontend=$DEBIAN_FRONTEND" > /etc/frontend-2
`;
const STAT = ['stat', '-c', '%n %U:%G %a', '/home/bob', '/srv/www', '/srv/www/index.html', '/etc/shadow'];

describe('ownership in cook run steps', () => {
  const h = freshHome('cake-cook-own-');
  let dir: string;
  const cook = (...args: string[]) => cake(h.home, ['cook', ...args], { cwd: dir });

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'cake-cook-own-work-'));
    copyFileSync(debianMinbaseTarball(), join(dir, 'debian.tar'));
    writeFileSync(join(dir, 'owned.yaml'), RECIPE);
  }, 600_000);
  afterAll(() => {
    removeHome(h.home);
    rmSync(dir, { recursive: true, force: true });
  });

  it('records what a step chowns; a cook from the cache restores the same owners and tree hash', async () => {
    const cold = await cook('owned.yaml');
    expect(cold.code, cold.stderr).toBe(0);
    expect(cold.stderr).not.toMatch(/Invalid argument|not recorded/);
    const hash = HASH.exec(cold.stdout.trim())?.[2];
    expect(hash).toBeDefined();
    const owners = await cake(h.home, ['exec', 'owned', '--', ...STAT]);
    const expected = ['/home/bob bob:bob 755', '/srv/www www-data:www-data 750', '/srv/www/index.html www-data:adm 644', '/etc/shadow root:shadow 640'];
    expect(owners.stdout.split('\n'), owners.stderr).toEqual(expected);
    const frontend = await cake(h.home, ['exec', 'owned', '--', 'cat', '/etc/frontend', '/etc/frontend-2']);
    expect(frontend.stdout).toBe('frontend=noninteractive\nfrontend=readline');
    // the lock's result is the tree hash, which covers owners
    expect((parse(readFileSync(join(dir, 'owned.lock'), 'utf8')) as { result: string }).result).toBe(`sha256:${hash}`);

    // from the cache: nothing runs, the same owners come back
    expect((await cake(h.home, ['rm', 'owned'])).code).toBe(0);
    const warm = await cook('owned.yaml');
    expect(warm.code, warm.stderr).toBe(0);
    expect(warm.stderr).not.toMatch(/: running$/m);
    expect(HASH.exec(warm.stdout.trim())?.[2]).toBe(hash);
    expect((await cake(h.home, ['exec', 'owned', '--', ...STAT])).stdout.split('\n')).toEqual(expected);

    // export writes the recorded owners
    const out = join(dir, 'owned.tar.gz');
    expect((await cake(h.home, ['export', 'owned', out])).code).toBe(0);
    const listing = execFileSync('tar', ['-tvzf', out, '--numeric-owner'], { encoding: 'utf8', maxBuffer: 64 << 20 });
    expect(listing).toMatch(/^-rw-r--r-- 33\/4 .*srv\/www\/index\.html$/m);
    expect(listing).toMatch(/^drwxr-x--- 33\/33 .*srv\/www\/$/m);
  }, 900_000);

  it('records the same under --engine proot', async () => {
    const r = await cook('owned.yaml', '--engine', 'proot', '--no-cache', '--name', 'owned-proot');
    expect(r.code, r.stderr).toBe(0);
    const owners = await cake(h.home, ['exec', 'owned-proot', '--engine', 'proot', '--', ...STAT]);
    expect(owners.stdout.split('\n'), owners.stderr).toEqual(['/home/bob bob:bob 755', '/srv/www www-data:www-data 750', '/srv/www/index.html www-data:adm 644', '/etc/shadow root:shadow 640']);
  }, 900_000);
});
