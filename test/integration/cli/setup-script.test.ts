import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO } from '../../helpers/cli.js';
import { missingCommands } from '../../helpers/tools.js';

/**
 * The README's first command, `scripts/setup.sh`, as a plain user (nobody) in a checkout of its
 * own (issue 11 items 9 and 21): it builds cake without node-pty's native build (here the checkout
 * has no node-pty build at all, and node headers cannot be fetched), puts `cake` on PATH under
 * ~/.local/bin, the bash, zsh and fish completions where those shells look for a user's, and the
 * man pages where `man` finds them from PATH. The npm packages come hard-linked from this
 * checkout (up to date, so `npm ci` does not run: the test needs no registry).
 */
describe.skipIf(missingCommands('setpriv', 'fish', 'man'))('scripts/setup.sh as a plain user', () => {
  let work: string;
  let checkout: string;
  let home: string;

  const asNobody = (cmd: string[], env: Record<string, string> = {}): { code: number | null; out: string; stdout: string } => {
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', 'env', '-i', `HOME=${home}`, `PATH=${join(home, '.local/bin')}:/usr/local/bin:/usr/bin:/bin`, 'LC_ALL=C', 'NO_COLOR=1',
      ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...cmd], { encoding: 'utf8', cwd: checkout, timeout: 240_000 });
    return { code: r.status, out: r.stdout + r.stderr, stdout: r.stdout };
  };

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'cake-setup-'));
    chmodSync(work, 0o755);
    checkout = join(work, 'cake');
    home = join(work, 'home');
    mkdirSync(checkout);
    mkdirSync(home);
    const tracked = ['bin', 'completions', 'distros', 'keyrings', 'man', 'scripts', 'src', 'package.json', 'package-lock.json', 'tsconfig.json'];
    execFileSync('cp', ['-a', ...tracked.map((t) => join(REPO, t)), checkout]);
    execFileSync('cp', ['-al', join(REPO, 'node_modules'), checkout]);
    // no native build of the test-only node-pty, as after `npm ci --ignore-scripts`
    rmSync(join(checkout, 'node_modules/node-pty/build'), { recursive: true, force: true });
    execFileSync('chown', ['-R', '65534:65534', home, checkout]);
  }, 120_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('installs cake, completions and man pages under the user\'s home without compiling native code', () => {
    const r = asNobody(['bash', 'scripts/setup.sh', '--no-enter'], { npm_config_disturl: 'http://127.0.0.1:9/', npm_config_nodedir: '/nonexistent' });
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain(`cake installed as ${join(home, '.local/bin/cake')} (completions for bash, zsh and fish, man pages in ${join(home, '.local/share/man')})`);
    expect(r.out).toMatch(/^hint: zsh users: add fpath=\(.*\/\.local\/share\/zsh\/site-functions \$fpath\)/m);
    expect(existsSync(join(checkout, 'node_modules/node-pty/build'))).toBe(false);
    for (const [link, target] of [
      ['.local/bin/cake', 'bin/cake'],
      ['.local/share/bash-completion/completions/cake', 'completions/cake.bash'],
      ['.local/share/zsh/site-functions/_cake', 'completions/_cake'],
      ['.config/fish/completions/cake.fish', 'completions/cake.fish'],
      ['.local/share/man/man1/cake.1', 'man/cake.1'],
      ['.local/share/man/man5/cake-recipe.5', 'man/cake-recipe.5'],
    ]) expect(readlinkSync(join(home, link!)), link).toBe(join(checkout, target!));
    // cake from PATH; man finds both pages from PATH (~/.local/bin -> ~/.local/share/man)
    expect(asNobody(['cake', '--version']).stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
    const man = asNobody(['man', '-w', 'cake', 'cake-recipe']);
    expect([man.code, man.stdout]).toEqual([0, `${join(checkout, 'man/cake.1')}\n${join(checkout, 'man/cake-recipe.5')}\n`]);
    // fish loads a user's completions from ~/.config/fish/completions by itself
    const fish = asNobody(['fish', '-c', 'complete -C "cake ente"']);
    expect(fish.stdout.split('\n').map((l) => l.split('\t')[0])).toContain('enter');
    // bash-completion's loader looks in ~/.local/share/bash-completion/completions for `cake`
    const bash = asNobody(['bash', '-c', `source "$HOME/.local/share/bash-completion/completions/cake"; COMP_WORDS=(cake ente); COMP_CWORD=1; _cake; printf '%s\\n' "\${COMPREPLY[@]}"`]);
    expect(bash.stdout).toBe('enter\n');
  }, 300_000);
});
