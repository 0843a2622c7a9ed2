import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAKE, REPO, cake, freshHome } from '../../helpers/cli.js';
import { createBusyboxRootfs } from '../../helpers/busybox-rootfs.js';

/**
 * The generated completions in the real shells: bash through its completion function, fish
 * through `complete -C`, zsh typed into an interactive shell in tmux (the only way to run its
 * completion system). `cake` is on PATH as a user would have it; the store holds two envs.
 */
describe('shell completions (bash, zsh, fish)', () => {
  let work: string;
  let home: { home: string; cleanup(): void };
  let env: Record<string, string>;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'cake-compl-'));
    mkdirSync(join(work, 'bin'));
    symlinkSync(CAKE, join(work, 'bin/cake'));
    home = freshHome();
    const bb = createBusyboxRootfs(join(work, 'rootfs'));
    const tarball = join(work, 'bb.tar');
    execFileSync('tar', ['-C', bb.root, '-cf', tarball, '.']);
    // A package-like "name" in the JSON that must not be offered as an env.
    for (const n of ['mailer', 'webapp']) expect((await cake(home.home, ['import', tarball, '--name', n])).code).toBe(0);
    env = { ...process.env, PATH: `${join(work, 'bin')}:${process.env.PATH}`, CAKE_HOME: home.home, NO_COLOR: '1' } as Record<string, string>;
  });

  afterAll(() => {
    home?.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  const bash = (words: string[]): string[] => {
    const script = `source ${join(REPO, 'completions/cake.bash')}; COMP_WORDS=("$@"); COMP_CWORD=$(($#-1)); COMPREPLY=(); _cake; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const r = spawnSync('bash', ['-c', script, 'bash', ...words], { env, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    return r.stdout.split('\n').filter(Boolean).sort();
  };

  const fish = (line: string): string[] => {
    const r = spawnSync('fish', ['--no-config', '-c', `source ${join(REPO, 'completions/cake.fish')}; complete -C ${JSON.stringify(line)}`], { env, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    return r.stdout.split('\n').filter(Boolean).map((l) => l.split('\t')[0]!).sort();
  };

  it('bash: env names, distro names, option values, guest files after the env name and after --', () => {
    expect(bash(['cake', 'exec', ''])).toEqual(['mailer', 'webapp']);
    expect(bash(['cake', 'rm', ''])).toEqual(['mailer', 'webapp']);
    expect(bash(['cake', 'enter', 'debian:tr'])).toEqual(['debian:trixie']);
    expect(bash(['cake', 'pull', 'alpine:3.2'])).toContain('alpine:3.22');
    expect(bash(['cake', 'exec', '--engine', ''])).toEqual(['auto', 'proot', 'userns']);
    expect(bash(['cake', 'bake', '--format', ''])).toEqual(['qcow2', 'raw']);
    expect(bash(['cake', 'exec', '--', ''])).toEqual([]);
    expect(bash(['cake', 'exec', 'webapp', '/etc/pa'])).toEqual(['/etc/passwd']);
    expect(bash(['cake', 'exec', '-e', 'K=V', 'webapp', '--', '/etc/gr'])).toEqual(['/etc/group']);
    expect(bash(['cake', 'enter', 'webapp', '--', '/bin/busy'])).toEqual(['/bin/busybox']);
    expect(bash(['cake', 'exec', '--is'])).toEqual(['--isolated']);
    expect(bash(['cake', 'lis'])).toEqual(['list']);
  });

  it('fish: the same answers', () => {
    expect(fish('cake exec ')).toEqual(['mailer', 'webapp']);
    expect(fish('cake enter debian:tr')).toEqual(['debian:trixie']);
    expect(fish('cake exec --engine ')).toEqual(['auto', 'proot', 'userns']);
    expect(fish('cake exec webapp /etc/pa')).toEqual(['/etc/passwd']);
    expect(fish('cake exec webapp -- /etc/gr')).toEqual(['/etc/group']);
    expect(fish('cake exec -- ')).toEqual([]);
  });

  it('zsh: env names and whole option descriptions in an interactive shell', () => {
    const session = `cake-compl-${process.pid}`;
    const rc = join(work, 'zshrc');
    writeFileSync(rc, `fpath=(${join(REPO, 'completions')} $fpath)\nautoload -Uz compinit && compinit -u -d ${join(work, 'zcompdump')}\nPS1='%% '\n`);
    const tmux = (...args: string[]): string => execFileSync('tmux', args, { env, encoding: 'utf8' });
    const screenAfter = async (keys: string, want: RegExp): Promise<string> => {
      tmux('send-keys', '-t', session, 'C-u');
      tmux('send-keys', '-t', session, 'clear', 'Enter');
      tmux('send-keys', '-t', session, keys, 'Tab');
      let screen = '';
      for (let i = 0; i < 100 && !want.test(screen); i++) {
        await new Promise((r) => setTimeout(r, 100));
        screen = tmux('capture-pane', '-t', session, '-p');
      }
      return screen;
    };
    tmux('new-session', '-d', '-s', session, '-x', '200', '-y', '50', `zsh -f -i`);
    return (async () => {
      try {
        tmux('send-keys', '-t', session, `source ${rc}`, 'Enter');
        const envs = await screenAfter('cake exec ', /webapp/);
        expect(envs).toMatch(/mailer\s+webapp/);
        const opts = await screenAfter('cake exec --', /--user/);
        expect(opts).toContain('run as this guest user (name or uid[:gid]); default root');
        expect(opts).toContain("hostname inside the env (default: the env name; userns engine)");
        const cmds = await screenAfter('cake ', /exec/);
        expect(cmds).toContain("run a command in an environment; its exit code is cake's");
        const guest = await screenAfter('cake exec webapp /etc/pas', /passwd/);
        expect(guest).toContain('cake exec webapp /etc/passwd');
      } finally {
        tmux('kill-session', '-t', session);
      }
    })();
  }, 60_000);
});
