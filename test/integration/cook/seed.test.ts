/**
 * The seed's cook recipe written plainly (issue 16, Tests, first bullet): a Debian base from the
 * archive with pull options in `from:`, a `run` step that apt-installs openssh-server, nginx-light
 * and cron, `useradd -m` of a user with a password through chpasswd, programs from the host's real
 * Nix store (`nix-store --add` of a single script and of a directory) and a `path:` dir on PATH.
 * Cooked on the default engine and on proot, fresh CAKE_HOME, real packages from deb.debian.org.
 * Login shells (`cake enter`, `bash -l`, whose /etc/profile resets PATH) find the programs; the
 * user's home is theirs; the packages' owners are a real install's.
 *
 * Depends on ownership recording in cook run steps and exec (engineer own's branch, issue 16.1/16.4):
 * on the default engine the apt-get step itself (nginx-common, cron chown to system users), and on
 * both engines the owner assertions and `nginx -t`. Everything before them (base with pull options,
 * login shells finding the Nix programs, cake enter, chpasswd) passes on proot without it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cake, freshHome } from '../../helpers/cli.js';
import { removeHome } from './fixtures.js';

const HASH = /^([a-z0-9.-]+)\tsha256:([0-9a-f]{64})$/;

describe('the seed recipe: Debian + packages + a user + Nix programs on PATH (built CLI)', () => {
  const h = freshHome('cake-seed-');
  const home = h.home;
  const dir = mkdtempSync(join(tmpdir(), 'cake-seed-work-'));
  let script = '';
  let tools = '';

  beforeAll(() => {
    // programs in the real local Nix store (Debian's nix-bin): a single-file script and a tree with bin/
    const src = join(dir, 'nix-src');
    mkdirSync(join(src, 'seed-tools/bin'), { recursive: true });
    writeFileSync(join(src, 'hello-seed'), '#!/bin/sh\necho "hello from the nix store"\n');
    chmodSync(join(src, 'hello-seed'), 0o755);
    writeFileSync(join(src, 'seed-tools/bin/seed-tool'), '#!/bin/sh\necho "seed-tool from the nix store"\n');
    chmodSync(join(src, 'seed-tools/bin/seed-tool'), 0o755);
    const add = (p: string) => execFileSync('nix-store', ['--add', p], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    script = add(join(src, 'hello-seed'));
    tools = add(join(src, 'seed-tools'));
    writeFileSync(
      join(dir, 'seed.yaml'),
      `name: seed
from:
  source: debian:bookworm
  packages: [ca-certificates]
steps:
  - run: |
      apt-get update
      apt-get install -y --no-install-recommends openssh-server nginx-light cron
      rm -rf /var/lib/apt/lists/*
  - run: |
      useradd -m -s /bin/bash alice
      echo 'alice:s3cret' | chpasswd
      mkdir -p /opt/site/bin
      printf '#!/bin/sh\\necho site-tool\\n' > /opt/site/bin/site-tool
      chmod 755 /opt/site/bin/site-tool
  - add: { nix: [${script}, ${tools}] }
  - path: /opt/site/bin
  - env: { SITE: seed }
`,
    );
  });

  afterAll(() => {
    for (const p of [script, tools]) if (p) spawnSync('nix-store', ['--delete', p], { stdio: 'ignore' });
    removeHome(home);
    rmSync(dir, { recursive: true, force: true });
  });

  const check = async (env: string): Promise<void> => {
    // a login shell: Debian's /etc/profile resets PATH, the env's profile.d script puts it back
    const login = await cake(home, ['exec', '--isolated', env, '--', 'bash', '-lc', 'command -v hello-seed seed-tool site-tool; hello-seed; seed-tool; site-tool; echo "$SITE"']);
    expect(login.stderr).toBe('');
    expect(login.stdout).toBe(['/opt/cake/nix/bin/hello-seed', `${tools}/bin/seed-tool`, '/opt/site/bin/site-tool', 'hello from the nix store', 'seed-tool from the nix store', 'site-tool', 'seed'].join('\n'));
    // cake enter runs bash -l too
    const enter = await cake(home, ['enter', env], { stdin: 'pipe', input: 'command -v hello-seed && hello-seed; exit\n' });
    expect(enter.stdout).toContain(`/opt/cake/nix/bin/hello-seed\nhello from the nix store`);
    expect(readFileSync(join(home, 'v1/envs', env, 'rootfs/etc/environment'), 'utf8')).toMatch(/^PATH="\/opt\/site\/bin:\/opt\/cake\/nix\/bin:/m);
    // the password chpasswd set
    const shadow = await cake(home, ['exec', env, '--', 'sh', '-c', 'grep ^alice: /etc/shadow | cut -d: -f2 | cut -c1-3']);
    expect(shadow.stdout).toBe('$y$');
    // owners as a real install has them (these need ownership recording in run steps: engineer own's work)
    const owners = await cake(home, ['exec', env, '--', 'stat', '-c', '%U:%G %a %n', '/home/alice', '/var/log/nginx', '/etc/shadow', '/usr/bin/crontab', '/var/spool/cron/crontabs']);
    expect(owners.stdout.split('\n')).toEqual(['alice:alice 755 /home/alice', 'root:adm 755 /var/log/nginx', 'root:shadow 640 /etc/shadow', 'root:crontab 2755 /usr/bin/crontab', 'root:crontab 1730 /var/spool/cron/crontabs']);
    // nginx creates its temp dirs as www-data when it starts; `nginx -t` binds its ports, and the
    // env's root may not bind below 1024 in a user namespace that does not own the network: 8080
    const nginx = await cake(home, ['exec', env, '--', 'sh', '-c', "sed -i 's/listen \\(\\[::\\]:\\)\\{0,1\\}80 /listen \\18080 /' /etc/nginx/sites-enabled/default && nginx -t && stat -c %U /var/lib/nginx/body"]);
    expect(nginx.stderr).toContain('test is successful');
    expect(nginx.stdout).toBe('www-data');
    expect(nginx.code).toBe(0);
  };

  it('cooks on the default engine', async () => {
    const r = await cake(home, ['cook', join(dir, 'seed.yaml')], { cwd: dir });
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    expect(HASH.exec(r.stdout)?.[1]).toBe('seed');
    expect(r.stderr).toContain('pulling debian:bookworm with ca-certificates');
    await check('seed');
  }, 900_000);

  it('cooks on proot', async () => {
    const r = await cake(home, ['cook', join(dir, 'seed.yaml'), '--engine', 'proot', '--no-cache', '--name', 'seed-proot'], { cwd: dir });
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    await check('seed-proot');
  }, 900_000);
});
