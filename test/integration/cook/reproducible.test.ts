/**
 * Issue 14 (cook): the same recipe gives the same hash on two "machines" — two checkouts of the
 * recipe in different directories, two CAKE_HOMEs, root with umask 022 and TZ=UTC against nobody
 * with umask 077 and another time zone, cooked one after the other (every mtime differs) — and the
 * hash covers what changes the env's behaviour (env:, path:, bind:), and a run that fails its pin
 * caches nothing new, also with --no-cache (a later edit of a no-op step still gives the pinned
 * hash), a change of only an env: value or a bind fails the pin, and RECIPE.lock pins an env
 * base with its settings. A mismatch names the first differing path and field.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAKE } from '../../helpers/cli.js';
import { haveBusybox } from '../../helpers/busybox-rootfs.js';
import { firstDifference } from './env-diff.js';
import { busyboxTarball } from './fixtures.js';
import { missing } from '../../helpers/tools.js';

const HASH = /^([a-z0-9.-]+)\tsha256:([0-9a-f]{64})$/;
const NOBODY = 65534;

const RECIPE = (extra = '') => `name: repro
from: ./busybox-rootfs.tar.gz
steps:
  - run: |
      mkdir -p /srv/data/sub
      echo hi > /srv/data/a
      date > /srv/data/when-not-hashed-but-here
      rm /srv/data/when-not-hashed-but-here
      touch /srv/stamp
  - copy: ./site
    to: /srv/www/
  - env: { GREETING: hello${extra} }
  - path: /opt/tools/bin
  - bind: ./data:/data
  - user: alice
  - file: /etc/motd
    content: "hi\\n"
`;

describe.skipIf(missing('busybox-static', haveBusybox()))('cook is reproducible (built CLI)', () => {
  const top = mkdtempSync(join(tmpdir(), 'cake-repro-'));
  const a = { dir: join(top, 'checkout-a'), home: join(top, 'home-a') };
  const b = { dir: join(top, 'elsewhere/checkout-b'), home: join(top, 'home-b') };

  /** Runs the CLI as root (umask 022, TZ UTC) or as nobody (umask 077, TZ Pacific/Chatham). */
  const run = (who: 'root' | 'nobody', home: string, cwd: string, ...args: string[]) => {
    const env = ['env', '-i', `PATH=${process.env.PATH}`, `HOME=${home}`, `CAKE_HOME=${home}`, 'NO_COLOR=1', who === 'root' ? 'TZ=UTC' : 'TZ=Pacific/Chatham'];
    const sh = `umask ${who === 'root' ? '022' : '077'} && cd "$0" && exec "$@"`;
    const argv = who === 'root' ? ['sh', '-c', sh, cwd, ...env, CAKE, ...args] : ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--', 'sh', '-c', sh, cwd, ...env, CAKE, ...args];
    const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 300_000 });
    return { code: r.status ?? 1, stdout: r.stdout.trim(), stderr: r.stderr };
  };

  beforeAll(() => {
    chmodSync(top, 0o755);
    mkdirSync(a.dir, { recursive: true });
    busyboxTarball(a.dir);
    mkdirSync(join(a.dir, 'site/img'), { recursive: true });
    mkdirSync(join(a.dir, 'data'));
    writeFileSync(join(a.dir, 'site/index.html'), '<h1>hi</h1>\n', { mode: 0o644 });
    writeFileSync(join(a.dir, 'site/run.sh'), '#!/bin/sh\necho run\n', { mode: 0o755 });
    writeFileSync(join(a.dir, 'site/img/x.svg'), '<svg/>\n', { mode: 0o664 });
    writeFileSync(join(a.dir, 'repro.yaml'), RECIPE());
    mkdirSync(a.home);
    // checkout B: the same files, checked out by nobody under umask 077 (0600 files, 0700 dirs, x kept)
    mkdirSync(join(top, 'elsewhere'), { mode: 0o755 });
    cpSync(a.dir, b.dir, { recursive: true });
    const walk = (p: string): void => {
      const st = statSync(p);
      if (st.isDirectory()) {
        chmodSync(p, 0o700);
        for (const n of readdirSync(p)) walk(join(p, n));
      } else chmodSync(p, st.mode & 0o100 ? 0o700 : 0o600);
    };
    walk(b.dir);
    mkdirSync(b.home, { mode: 0o700 });
    spawnSync('chown', ['-R', `${NOBODY}:${NOBODY}`, b.dir, b.home]);
  });

  afterAll(() => {
    spawnSync('chmod', ['-R', 'u+rwX', top]);
    rmSync(top, { recursive: true, force: true });
  });

  it('gives the same hash in two homes, as root and as nobody, with different umask and TZ', () => {
    const ra = run('root', a.home, a.dir, 'cook', 'repro.yaml');
    expect(ra.code, ra.stderr).toBe(0);
    const rb = run('nobody', b.home, b.dir, 'cook', 'repro.yaml');
    expect(rb.code, rb.stderr).toBe(0);
    const envA = join(a.home, 'v1/envs/repro');
    const envB = join(b.home, 'v1/envs/repro');
    // first the difference, if any, by path and field; then the hashes
    expect(firstDifference(envA, envB, [a.dir, b.dir])).toBe('');
    expect(HASH.exec(rb.stdout)?.[2]).toBe(HASH.exec(ra.stdout)?.[2]);
    // the files on disk differ in time (cooked at different moments): the hash does not see that
    expect(statSync(join(envA, 'rootfs/srv/stamp')).mtimeMs).not.toBe(statSync(join(envB, 'rootfs/srv/stamp')).mtimeMs);
    // the modes are a root install's: 0755 directories, 0644 files, 0755 executables
    const rec = JSON.parse(readFileSync(join(envB, 'env.json'), 'utf8'));
    const mode = (p: string) => (rec.ownership[p]?.mode ?? statSync(join(envB, 'rootfs', p)).mode & 0o7777).toString(8);
    expect(['srv/data', 'srv/data/a', 'srv/www', 'srv/www/index.html', 'srv/www/run.sh', 'srv/www/img/x.svg'].map(mode)).toEqual(['755', '644', '755', '644', '755', '644']);
  });

  it('covers env:, path: and bind: besides files, and they reach login shells', () => {
    const base = HASH.exec(run('root', a.home, a.dir, 'cook', 'repro.yaml').stdout)![2];
    writeFileSync(join(a.dir, 'repro.yaml'), RECIPE('-there'));
    const env = run('root', a.home, a.dir, 'cook', 'repro.yaml');
    expect(env.code, env.stderr).toBe(0);
    expect(HASH.exec(env.stdout)![2]).not.toBe(base);
    writeFileSync(join(a.dir, 'repro.yaml'), RECIPE().replace('./data:/data', './data:/srv/data2'));
    const bind = run('root', a.home, a.dir, 'cook', 'repro.yaml');
    expect(bind.code, bind.stderr).toBe(0);
    expect(new Set([base, HASH.exec(env.stdout)![2], HASH.exec(bind.stdout)![2]]).size).toBe(3);
    writeFileSync(join(a.dir, 'repro.yaml'), RECIPE().replace('path: /opt/tools/bin', 'path: /opt/other/bin'));
    const path = run('root', a.home, a.dir, 'cook', 'repro.yaml');
    expect(new Set([base, HASH.exec(env.stdout)![2], HASH.exec(bind.stdout)![2], HASH.exec(path.stdout)![2]]).size).toBe(4);
    const profile = readFileSync(join(a.home, 'v1/envs/repro/rootfs/etc/profile.d/cake-env.sh'), 'utf8');
    expect(profile).toContain("export PATH='/opt/other/bin:/usr/local/sbin:");
    expect(profile).toContain("export GREETING='hello'");
    expect(readFileSync(join(a.home, 'v1/envs/repro/rootfs/etc/environment'), 'utf8')).toMatch(/^GREETING="hello"$/m);
    writeFileSync(join(a.dir, 'repro.yaml'), RECIPE());
  });

  it('fails the pin when only an env: value or a bind changes, in one line with both hashes; inspect shows the hash', () => {
    const ok = run('root', a.home, a.dir, 'cook', 'repro.yaml');
    expect(ok.code, ok.stderr).toBe(0);
    const tree = HASH.exec(ok.stdout)![2]!;
    const shown = run('root', a.home, a.dir, 'inspect', 'repro', '--json');
    expect(JSON.parse(shown.stdout).treeSha256).toBe(tree);
    const listed = JSON.parse(run('root', a.home, a.dir, 'list', '--json').stdout) as { name: string; treeSha256?: string }[];
    expect(listed.find((e) => e.name === 'repro')?.treeSha256).toBe(tree);
    // the same files, the same pin, another value of GREETING
    writeFileSync(join(a.dir, 'repro.yaml'), `${RECIPE('-there')}expect_sha256: sha256:${tree}\n`);
    const bad = run('root', a.home, a.dir, 'cook', 'repro.yaml');
    expect(bad.code).toBe(1);
    const line = RECIPE('-there').split('\n').length;
    expect(bad.stderr).toMatch(new RegExp(`(^|\\n)cake: repro\\.yaml:${line} expect_sha256: the result's tree hash is sha256:[0-9a-f]{64}, the recipe expects sha256:${tree}\\nhint: [^\\n]+\\n$`));
    expect(bad.stderr).not.toContain(`sha256:${tree}, the recipe`);
    // the env is as it was
    expect(run('root', a.home, a.dir, 'exec', 'repro', '--', 'sh', '-c', 'echo $GREETING').stdout).toBe('hello');
    // a bind changes no file at all (env: and path: also write the login-shell variables): the settings alone fail the pin
    writeFileSync(join(a.dir, 'repro.yaml'), `${RECIPE().replace('./data:/data', './data:/data2')}expect_sha256: sha256:${tree}\n`);
    const bind = run('root', a.home, a.dir, 'cook', 'repro.yaml');
    expect(bind.code).toBe(1);
    expect(bind.stderr).toMatch(new RegExp(`(^|\\n)cake: repro\\.yaml:${line} expect_sha256: the result's tree hash is sha256:[0-9a-f]{64}, the recipe expects sha256:${tree}\\nhint: [^\\n]+\\n$`));
    writeFileSync(join(a.dir, 'repro.yaml'), RECIPE());
  });

  it('after a --no-cache run that fails its pin, an edit of a no-op step still gives the pinned hash (no stale entries)', () => {
    // a step whose output differs on every run: a --no-cache rebuild of it fails the pin
    const flaky = (noop: string, pin = '') => `name: flaky
from: ./busybox-rootfs.tar.gz
steps:
  - run: echo $RANDOM$RANDOM$RANDOM > /srv-stamp
  - run: ${noop}
${pin}`;
    writeFileSync(join(a.dir, 'flaky.yaml'), flaky('"true"'));
    const ok = run('root', a.home, a.dir, 'cook', 'flaky.yaml');
    expect(ok.code, ok.stderr).toBe(0);
    const tree = HASH.exec(ok.stdout)![2]!;
    const pin = `expect_sha256: sha256:${tree}\n`;
    writeFileSync(join(a.dir, 'flaky.yaml'), flaky('"true"', pin));
    const rebuilt = run('root', a.home, a.dir, 'cook', 'flaky.yaml', '--no-cache');
    expect(rebuilt.code, rebuilt.stderr).toBe(1);
    expect(rebuilt.stderr).toMatch(/cake: flaky\.yaml:6 expect_sha256: the result's tree hash is sha256:[0-9a-f]{64}, the recipe expects sha256:/);
    // the no-op step edited: its prefix comes from the cache, which must still hold the pinned result
    writeFileSync(join(a.dir, 'flaky.yaml'), flaky('":"', pin));
    const edited = run('root', a.home, a.dir, 'cook', 'flaky.yaml');
    expect(edited.code, edited.stderr).toBe(0);
    expect(edited.stderr).toMatch(/\[1\/2\] flaky\.yaml:4 \S+: cached/);
    expect(HASH.exec(edited.stdout)![2]).toBe(tree);
  });

  it('RECIPE.lock pins an env base with its settings: a bind changed on the base fails --locked', () => {
    const base = (bind: string) => `name: lockbase\nfrom: ./busybox-rootfs.tar.gz\nsteps:\n  - bind: ${bind}\n`;
    writeFileSync(join(a.dir, 'lockbase.yaml'), base('./data:/data'));
    writeFileSync(join(a.dir, 'onbase.yaml'), 'name: onbase\nfrom: env:lockbase\nsteps:\n  - file: /etc/on\n    content: "on\\n"\n');
    expect(run('root', a.home, a.dir, 'cook', 'lockbase.yaml').code).toBe(0);
    const first = run('root', a.home, a.dir, 'cook', 'onbase.yaml');
    expect(first.code, first.stderr).toBe(0);
    expect(run('root', a.home, a.dir, 'cook', 'onbase.yaml', '--locked').code).toBe(0);
    // the base's files stay the same, its bind does not
    writeFileSync(join(a.dir, 'lockbase.yaml'), base('./data:/elsewhere'));
    expect(run('root', a.home, a.dir, 'cook', 'lockbase.yaml').code).toBe(0);
    const locked = run('root', a.home, a.dir, 'cook', 'onbase.yaml', '--locked');
    expect(locked.code).toBe(1);
    expect(locked.stderr).toMatch(/cake: --locked: the base env:lockbase has tree sha256:[0-9a-f]{64}, and \S*onbase\.lock pins sha256:[0-9a-f]{64}\nhint: /);
  });

  it('caches nothing new when the result fails its pin, also with --no-cache', () => {
    const ok = run('root', a.home, a.dir, 'cook', 'repro.yaml');
    const tree = HASH.exec(ok.stdout)![2]!;
    const steps = join(a.home, 'v1/cook/steps');
    const state = () => readdirSync(steps).sort().map((k) => `${k} ${readFileSync(join(steps, k, 'meta.json'), 'utf8')}`);
    const before = state();
    // a change of the last step with the old pin: fails, with and without --no-cache
    writeFileSync(join(a.dir, 'repro.yaml'), `${RECIPE().replace('content: "hi\\n"', 'content: "hi there\\n"')}expect_sha256: sha256:${tree}\n`);
    for (const args of [['cook', 'repro.yaml'], ['cook', 'repro.yaml', '--no-cache']]) {
      const bad = run('root', a.home, a.dir, ...args);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/cake: repro\.yaml:\d+ expect_sha256: the result's tree hash is sha256:[0-9a-f]{64}, the recipe expects sha256:/);
      expect(state()).toEqual(before);
      expect(readdirSync(join(a.home, 'v1/cook/tmp')).filter((f) => f.startsWith('step-'))).toEqual([]);
    }
    // back to the pinned recipe: the cache still gives exactly the pinned result, running nothing
    writeFileSync(join(a.dir, 'repro.yaml'), `${RECIPE()}expect_sha256: sha256:${tree}\n`);
    const again = run('root', a.home, a.dir, 'cook', 'repro.yaml');
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).not.toContain(': running');
    expect(HASH.exec(again.stdout)![2]).toBe(tree);
  });
});
