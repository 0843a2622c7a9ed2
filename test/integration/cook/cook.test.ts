import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cake, freshHome } from '../../helpers/cli.js';
import { haveBusybox } from '../../helpers/busybox-rootfs.js';
import { busyboxTarball, removeHome, debianTarball } from './fixtures.js';
import { missing, skipMissing } from '../../helpers/tools.js';

const HASH = /^([a-z0-9.-]+)\tsha256:([0-9a-f]{64})$/;

describe.skipIf(missing('busybox-static', haveBusybox()))('cake cook (built CLI)', () => {
  const h = freshHome('cake-cook-');
  const home = h.home;
  const dir = mkdtempSync(join(tmpdir(), 'cake-cook-work-'));
  const recipe = (name: string, text: string): string => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  const cook = (...args: string[]) => cake(home, ['cook', ...args], { cwd: dir });
  const running = (stderr: string) => stderr.split('\n').filter((l) => l.endsWith(': running')).map((l) => l.trim().split(' ')[0]);
  const cached = (stderr: string) => stderr.split('\n').filter((l) => l.endsWith(': cached')).map((l) => l.trim().split(' ')[0]);

  beforeAll(() => {
    busyboxTarball(dir);
    mkdirSync(join(dir, 'site'));
    writeFileSync(join(dir, 'site/index.html'), '<h1>hi</h1>\n');
  });
  afterAll(() => {
    removeHome(home);
    rmSync(dir, { recursive: true, force: true });
  });

  const WEB = `name: web
from: ./busybox-rootfs.tar.gz
steps:
  - run: echo one > /etc/one
  - copy: ./site
    to: /srv/www/
  - env: { GREETING: hello, PORT: 8080 }
  - file: /etc/motd
    content: "welcome\\n"
    mode: "0440"
  - run: echo "$GREETING on $PORT" > /etc/greeting
`;

  it('cooks cold, reruns from the cache without running anything, and reruns from a changed step on', async () => {
    recipe('web.yaml', WEB);
    const cold = await cook('web.yaml');
    expect(cold.stderr).toContain('cooked web in');
    expect(cold.code).toBe(0);
    expect(running(cold.stderr)).toEqual(['[1/5]', '[2/5]', '[3/5]', '[4/5]', '[5/5]']);
    const [, name, tree] = HASH.exec(cold.stdout)!;
    expect(name).toBe('web');
    const ex = await cake(home, ['exec', 'web', '--', 'sh', '-c', 'cat /etc/one /etc/greeting /srv/www/index.html /etc/motd; echo $PORT']);
    expect(ex.stdout).toBe('one\nhello on 8080\n<h1>hi</h1>\nwelcome\n8080');

    const t0 = Date.now();
    const warm = await cook('web.yaml');
    const warmMs = Date.now() - t0;
    expect(warm.code).toBe(0);
    expect(running(warm.stderr)).toEqual([]);
    expect(cached(warm.stderr)).toEqual(['[1/5]', '[2/5]', '[3/5]', '[4/5]', '[5/5]']);
    expect(warm.stdout).toBe(cold.stdout);
    expect(warm.stderr).toContain('env web is up to date');
    expect(warmMs).toBeLessThan(10_000);
    // an env changed since it was cooked is made again from the cache (still running nothing)
    await cake(home, ['exec', 'web', '--', 'sh', '-c', 'echo changed >> /etc/one']);
    const restored = await cook('web.yaml');
    expect(restored.stderr).not.toContain('up to date');
    expect(running(restored.stderr)).toEqual([]);
    expect((await cake(home, ['exec', 'web', '--', 'cat', '/etc/one'])).stdout).toBe('one');

    recipe('web.yaml', WEB.replace('welcome', 'welcome back'));
    const changed = await cook('web.yaml');
    expect(cached(changed.stderr)).toEqual(['[1/5]', '[2/5]', '[3/5]']);
    expect(running(changed.stderr)).toEqual(['[4/5]', '[5/5]']);
    expect(HASH.exec(changed.stdout)![2]).not.toBe(tree);
    expect((await cake(home, ['exec', 'web', '--', 'cat', '/etc/motd'])).stdout).toBe('welcome back');
    // the env records its real modes: /etc/motd is 0440 (on disk the owner may write it)
    const rec = JSON.parse(readFileSync(join(home, 'v1/envs/web/env.json'), 'utf8'));
    expect(rec.ownership['etc/motd']).toEqual({ uid: 0, gid: 0, mode: 0o440 });
    expect(rec.source).toEqual({ kind: 'recipe', ref: 'web.yaml' });
    expect(rec.config.env).toEqual(['GREETING=hello', 'PORT=8080']);

    const nocache = await cook('web.yaml', '--no-cache');
    expect(running(nocache.stderr)).toHaveLength(5);
    expect(nocache.stdout).toBe(changed.stdout);
    // the same recipe into another env: the same tree hash
    const other = await cook('web.yaml', '--name', 'web2');
    expect(HASH.exec(other.stdout)!.slice(1)).toEqual(['web2', HASH.exec(changed.stdout)![2]]);
  });

  it('writes a lock file, and --locked refuses what it does not pin', async () => {
    const lockFile = join(dir, 'web.lock');
    expect(existsSync(lockFile)).toBe(true);
    const lock = parse(readFileSync(lockFile, 'utf8'));
    const tarSha = createHash('sha256').update(readFileSync(join(dir, 'busybox-rootfs.tar.gz'))).digest('hex');
    expect(lock.from).toEqual({ ref: './busybox-rootfs.tar.gz', kind: 'source', resolved: { sha256: tarSha } });
    expect(lock.result).toMatch(/^sha256:[0-9a-f]{64}$/);
    const locked = await cook('web.yaml', '--locked');
    expect(locked.code).toBe(0);
    recipe('web-more.yaml', WEB.replace('name: web', 'name: web-more\nhost_paths: [/usr/bin/env]') + '  - add: { host: /usr/bin/env }\n');
    copyFileSync(lockFile, join(dir, 'web-more.lock'));
    const refused = await cook('web-more.yaml', '--locked');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('cake: --locked: host:/usr/bin/env is not in');
    const unlocked = await cook('web-more.yaml');
    expect(unlocked.code).toBe(0);
    expect(parse(readFileSync(join(dir, 'web-more.lock'), 'utf8')).add['host:/usr/bin/env']['/usr/bin/env']).toMatch(/^[0-9a-f]{64} 755$/);
    expect((await cook('web-more.yaml', '--locked')).code).toBe(0);
    rmSync(join(dir, 'web-more.lock'));
    const noLock = await cook('web-more.yaml', '--locked');
    expect(noLock.stderr).toMatch(/^cake: --locked: there is no lock file .*web-more\.lock\nhint: cook once without --locked/m);
  });

  it('checks expect_sha256, showing both hashes, and keeps the env as it was on a mismatch', async () => {
    recipe('pinned.yaml', WEB.replace('name: web', 'name: pinned'));
    const first = await cook('pinned.yaml');
    const tree = HASH.exec(first.stdout)![2]!;
    recipe('pinned.yaml', `${WEB.replace('name: web', 'name: pinned')}expect_sha256: sha256:${tree}\n`);
    const ok = await cook('pinned.yaml');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toBe(`pinned\tsha256:${tree}`);
    const wrong = 'f'.repeat(64);
    recipe('pinned.yaml', `${WEB.replace('name: web', 'name: pinned').replace('echo one', 'echo uno')}expect_sha256: ${wrong}\n`);
    const bad = await cook('pinned.yaml');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(new RegExp(`cake: pinned\\.yaml:12 expect_sha256: the result's tree hash is sha256:[0-9a-f]{64}, the recipe expects sha256:${wrong}\\nhint: `));
    expect((await cake(home, ['exec', 'pinned', '--', 'cat', '/etc/one'])).stdout).toBe('one');
  });

  it('reports every problem of a recipe and of the recipes it uses, with file, line and key path, before any work', async () => {
    recipe('loop-a.yaml', 'from: ./loop-b.yaml\n');
    recipe('loop-b.yaml', 'from: ./busybox-rootfs.tar.gz\nsteps:\n  - add: ./loop-a.yaml:/bin/sh\n');
    recipe(
      'broken.yaml',
      [
        'name: broken',
        'from: env:nope',
        'steps:',
        '  - run: 5',
        '  - copy: ./missing-dir',
        '    to: /x/',
        '  - add: { from: [ghost:/bin/sh], host: /no/such/tool }',
        '  - add: ./loop-a.yaml:/bin/sh',
        '  - run: echo',
        '    user: root',
        '  - file: /etc/x',
        '    mode: 0999',
        'expect_sha256: nope',
      ].join('\n'),
    );
    const r = await cook('broken.yaml');
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')).toEqual([
      'cake: 10 problems in the recipe:',
      'broken.yaml:2 from: no env named nope',
      'broken.yaml:4 steps[0].run: expected a string (quote it: "5")',
      'broken.yaml:5 steps[1].copy: no such file or directory on the host: ' + join(dir, 'missing-dir'),
      "broken.yaml:7 steps[2].add.host: /no/such/tool is outside the recipe's directory " + dir + ': a recipe reads only its own directory, unless the path is listed under host_paths:',
      'broken.yaml:7 steps[2].add.from[0]: no env named ghost',
      'broken.yaml:9 steps[4]: a step has one kind, found run and user; write them as separate steps',
      'broken.yaml:11 steps[5].content: missing',
      'broken.yaml:12 steps[5].mode: expected an octal mode such as "0644"',
      'broken.yaml:13 expect_sha256: expected 64 lowercase hex digits (optionally "sha256:" first)',
      'loop-b.yaml:3 steps[0].add: recipes refer to each other in a cycle: loop-a.yaml → loop-b.yaml → loop-a.yaml',
      'hint: fix the recipe; its format is in the README ("Recipes") and `man 5 cake-recipe`',
    ]);
    expect(existsSync(join(home, 'v1/envs/broken'))).toBe(false);
    const distro = await cook(recipe('nodistro.yaml', 'from: nodistro:1\n'));
    expect(distro.stderr).toMatch(/^cake: nodistro\.yaml:1 from: no distro or env named nodistro:1/);
    expect((await cook('no-such.yaml')).stderr).toMatch(/^cake: cannot read recipe no-such\.yaml: no such file/);
  });

  it('confines copy: and add host: to the recipe directory; host_paths: opts in', async () => {
    const secrets = [
      ['abs.yaml', 'from: ./busybox-rootfs.tar.gz\nsteps:\n  - copy: /etc/shadow\n    to: /x\n', '/etc/shadow is outside'],
      ['rel.yaml', 'from: ./busybox-rootfs.tar.gz\nsteps:\n  - copy: ../../../../etc/shadow\n    to: /x\n', '/etc/shadow is outside'],
      ['link.yaml', 'from: ./busybox-rootfs.tar.gz\nsteps:\n  - copy: ./innocent\n    to: /x\n', `${join(dir, 'innocent')} (a symlink to /etc/shadow) is outside`],
      ['host.yaml', 'from: ./busybox-rootfs.tar.gz\nsteps:\n  - add: { host: /usr/bin/env }\n', '/usr/bin/env is outside'],
    ];
    symlinkSync('/etc/shadow', join(dir, 'innocent'));
    for (const [file, text, what] of secrets) {
      const r = await cook(recipe(file!, text!));
      expect(r.code).toBe(2);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(2);
      expect(lines[0]).toContain(`cake: ${file}:3 steps[0].`);
      expect(lines[0]).toContain(`${what} the recipe's directory ${dir}: a recipe reads only its own directory, unless the path is listed under host_paths:`);
      expect(lines[1]).toBe("hint: copy the file into the recipe's directory, or, if it is meant to go into the env, list it under host_paths:");
      expect(existsSync(join(home, 'v1/envs', file!.replace('.yaml', '')))).toBe(false);
    }
    const ok = await cook(recipe('allowed.yaml', 'host_paths: [/etc/hostname]\nfrom: ./busybox-rootfs.tar.gz\nsteps:\n  - copy: /etc/hostname\n    to: /etc/host-name\n'));
    expect(ok.code, ok.stderr).toBe(0);
    expect((await cake(home, ['exec', 'allowed', '--', 'cat', '/etc/host-name'])).stdout).toBe(readFileSync('/etc/hostname', 'utf8').trim());
  });

  it('hints at what a failing run step did: a command not found is not a chown problem', async () => {
    const r = await cook(recipe('notfound.yaml', 'from: ./busybox-rootfs.tar.gz\nsteps:\n  - run: no-such-tool --version\n'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no-such-tool: not found\n/); // the step's own output is shown
    expect(r.stderr).toMatch(/cake: notfound\.yaml:3 steps\[0\]\.run: the script failed with exit code 127\nhint: no-such-tool was not found in the env \(exit 127\): install it in an earlier step/);
    expect(r.stderr).not.toMatch(/chown|--engine proot/);
  });

  it('refuses pull options in from: for a base that is not built from a Debian archive', async () => {
    const r = await cook(recipe('alpine-pkgs.yaml', 'from:\n  source: alpine:3.22\n  packages: [curl]\n'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^cake: alpine-pkgs\.yaml:2 from: alpine:3\.22 is not built from a Debian or Ubuntu archive here, so packages, variant, recommends and allow_expired do not apply\nhint: /);
  });

  it('stops at a failing step, naming it; the steps before it stay cached', async () => {
    recipe('fails.yaml', 'from: ./busybox-rootfs.tar.gz\nsteps:\n  - run: echo ok > /etc/ok\n  - run: exit 3\n');
    const r = await cook('fails.yaml');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cake: fails\.yaml:4 steps\[1\]\.run: the script failed with exit code 3\nhint: /);
    expect(existsSync(join(home, 'v1/envs/fails'))).toBe(false);
    recipe('fails.yaml', 'from: ./busybox-rootfs.tar.gz\nsteps:\n  - run: echo ok > /etc/ok\n  - run: exit 0\n');
    const fixed = await cook('fails.yaml');
    expect(cached(fixed.stderr)).toEqual(['[1/2]']);
    expect(running(fixed.stderr)).toEqual(['[2/2]']);
  });

  it('builds on other recipes and envs: user, path, bind, add from a recipe', async () => {
    recipe('base.yaml', 'from: ./busybox-rootfs.tar.gz\nsteps:\n  - run: mkdir -p /opt/tools/bin && printf "#!/bin/sh\\necho tool\\n" > /opt/tools/bin/tool && chmod 755 /opt/tools/bin/tool\n');
    mkdirSync(join(dir, 'data'), { recursive: true });
    recipe(
      'app.yaml',
      [
        'name: app',
        'from: ./base.yaml',
        'steps:',
        '  - user: { name: alice, groups: [cakeusers] }',
        '  - path: /opt/tools/bin',
        '  - bind: ./data:/data',
        '  - add: ./base.yaml:/opt/tools/bin/tool',
        '  - add: web:/etc/greeting',
        '  - run: tool > /etc/tool-out; id alice >> /etc/tool-out',
      ].join('\n') + '\n',
    );
    const r = await cook('app.yaml');
    expect(r.stderr).toContain('cook base.yaml (for app.yaml)');
    expect(r.code).toBe(0);
    const ex = await cake(home, ['exec', 'app', '--', 'sh', '-c', 'cat /etc/tool-out /etc/greeting; ls -d /data']);
    expect(ex.stdout).toBe('tool\nuid=1000(alice) gid=1000(alice) groups=1000(alice),1234(cakeusers)\nhello on 8080\n/data');
    const rec = JSON.parse(readFileSync(join(home, 'v1/envs/app/env.json'), 'utf8'));
    expect(rec.run.binds).toEqual([{ src: join(dir, 'data'), dst: '/data' }]);
    expect(rec.config.env).toEqual(['PATH=/opt/tools/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
    expect(rec.ownership['home/alice']).toEqual({ uid: 1000, gid: 1000, mode: 0o755 });
    expect(readFileSync(join(home, 'v1/envs/app/rootfs/etc/passwd'), 'utf8')).toContain('alice:x:1000:1000::/home/alice:/bin/sh\n');
    expect(existsSync(join(dir, 'base.lock'))).toBe(true);
    expect(parse(readFileSync(join(dir, 'app.lock'), 'utf8')).from).toEqual({ ref: 'base.yaml', kind: 'recipe', tree: expect.stringMatching(/^sha256:/) });
  });

  it('cake gc removes cache entries no recipe uses any more, and keeps the rest', async () => {
    recipe('gc.yaml', 'from: ./busybox-rootfs.tar.gz\nsteps:\n  - run: echo a > /etc/a\n  - run: echo b > /etc/b\n');
    expect((await cook('gc.yaml')).code).toBe(0);
    recipe('gc.yaml', 'from: ./busybox-rootfs.tar.gz\nsteps:\n  - run: echo a > /etc/a\n  - run: echo c > /etc/c\n');
    expect((await cook('gc.yaml')).code).toBe(0);
    rmSync(join(dir, 'fails.yaml'));
    const before = readdirSync(join(home, 'v1/cook/steps')).length;
    const gc = await cake(home, ['gc']);
    expect(gc.code).toBe(0);
    const removed = Number(/(\d+) unused cook cache entr/.exec(gc.stderr)![1]);
    expect(removed).toBeGreaterThanOrEqual(3); // gc.yaml's old step 2, fails.yaml's two steps
    expect(readdirSync(join(home, 'v1/cook/steps')).length).toBe(before - removed);
    const again = await cook('gc.yaml');
    expect(running(again.stderr)).toEqual([]);
    expect(running((await cook('web.yaml')).stderr)).toEqual([]);
  });

  it('runs steps under proot too', async () => {
    recipe('proot.yaml', 'from: ./busybox-rootfs.tar.gz\nsteps:\n  - run: echo "under proot" > /etc/engine\n');
    const r = await cook('proot.yaml', '--engine', 'proot');
    expect(r.stderr).toContain('[1/1] proot.yaml:3 steps[0].run: running');
    expect(r.code).toBe(0);
    expect((await cake(home, ['exec', 'proot', '--', 'cat', '/etc/engine'])).stdout).toBe('under proot');
  });

  it('cooks on a Debian base with a program from another Debian release', async (t) => {
    const deb12 = debianTarball('bookworm-bash');
    const deb13 = debianTarball('trixie-jq');
    if (!deb12 || !deb13) return skipMissing(t, 'the Debian bookworm and trixie tarballs (made with mmdebstrap)');
    expect((await cake(home, ['import', deb13, '--name', 'trixie'])).code).toBe(0);
    copyFileSync(deb12, join(dir, 'bookworm.tar.gz'));
    recipe('deb.yaml', 'name: deb\nfrom: ./bookworm.tar.gz\nsteps:\n  - run: bash -c \'echo "$BASH_VERSION" > /etc/bash-version\'\n  - add: trixie:/usr/bin/jq\n  - run: jq --version > /etc/jq-version\n');
    const r = await cook('deb.yaml');
    expect(r.code).toBe(0);
    expect((await cake(home, ['exec', 'deb', '--', 'cat', '/etc/bash-version', '/etc/jq-version'])).stdout).toMatch(/^5\.2\.\d+\(1\)-release\njq-1\.7/);
  });
});
