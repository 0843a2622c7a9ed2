import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAKE, cake, type CakeResult } from '../../helpers/cli.js';
import { createBusyboxRootfs } from '../../helpers/busybox-rootfs.js';

/**
 * What docker, podman, proot-distro and distrobox users type (issue 11), run as a plain user
 * (nobody, with a home of its own) against the built CLI and a busybox env.
 */
describe('cake as peers\' users type it (as a plain user)', () => {
  let work: string;
  let home: string;
  let tarball: string;

  /** Runs cake as nobody, HOME and CAKE_HOME in the test's own directory. */
  const asUser = (args: string[], opts: { env?: Record<string, string>; cwd?: string; input?: string } = {}): CakeResult => {
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', 'env', '-i', `PATH=${process.env.PATH}`, `HOME=${home}`, `CAKE_HOME=${join(home, 'cake')}`, 'NO_COLOR=1', ...Object.entries(opts.env ?? {}).map(([k, v]) => `${k}=${v}`), CAKE, ...args], {
      encoding: 'utf8',
      cwd: opts.cwd ?? work,
      ...(opts.input !== undefined ? { input: opts.input } : {}),
    });
    return { code: r.status ?? 128, stdout: r.stdout, stderr: r.stderr };
  };

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'cake-peers-'));
    chmodSync(work, 0o755);
    home = join(work, 'home');
    mkdirSync(home);
    const bb = createBusyboxRootfs(join(work, 'rootfs'));
    tarball = join(work, 'bb.tar');
    execFileSync('tar', ['-C', bb.root, '-cf', tarball, '.']);
    mkdirSync(join(work, 'data'));
    writeFileSync(join(work, 'data/file'), 'host data\n');
    writeFileSync(join(work, 'vars.env'), '# a comment\nFROM_FILE=one two\n\nSECOND=2\nPASSED\n');
    execFileSync('chown', ['-R', '65534:65534', home, join(work, 'data')]);
    chownSync(join(work, 'vars.env'), 65534, 65534);
    const imp = asUser(['import', tarball, '--name', 'debian-like']);
    expect(imp.code, imp.stderr).toBe(0);
  });

  afterAll(() => {
    spawnSync('chmod', ['-R', 'u+rwX', work]);
    rmSync(work, { recursive: true, force: true });
  });

  it('--version alone (its own fast path) prints what commander prints after a global flag (#13.1)', () => {
    const version = (JSON.parse(readFileSync(join(import.meta.dirname, '../../../package.json'), 'utf8')) as { version: string }).version;
    const fast = asUser(['--version']);
    expect(fast).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: '' });
    expect(asUser(['-v', '--version'])).toMatchObject({ code: 0, stdout: fast.stdout });
    const closed = spawnSync('sh', ['-c', `${CAKE} --version | true`], { encoding: 'utf8' });
    expect(closed).toMatchObject({ status: 0, stderr: '' });
  });

  it('exec: after NAME the first word that is not an option starts CMD; -- still works (#11.1)', () => {
    const c = asUser(['exec', 'debian-like', 'sh', '-c', 'echo hi']);
    expect([c.code, c.stdout, c.stderr]).toEqual([0, 'hi\n', '']);
    const ls = asUser(['exec', 'debian-like', 'ls', '-la', '/etc/passwd']);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).toMatch(/^-rw.* \/etc\/passwd\n$/);
    const help = asUser(['exec', 'debian-like', 'echo', '--help']);
    expect([help.code, help.stdout]).toEqual([0, '--help\n']);
    const opts = asUser(['exec', 'debian-like', '-e', 'A=1', '--env', 'B=2', '-w', '/etc', 'sh', '-c', 'echo $A$B $(pwd)', '-e', 'x']);
    expect([opts.code, opts.stdout]).toEqual([0, '12 /etc\n']);
    const dd = asUser(['exec', 'debian-like', '--', 'sh', '-c', 'exit 3']);
    expect(dd.code).toBe(3);
  });

  it('enter NAME -- CMD runs CMD in a login shell (#11.2)', () => {
    const words = asUser(['enter', 'debian-like', '--', 'echo', 'hi', 'there']);
    expect([words.code, words.stdout]).toEqual([0, 'hi there\n']);
    const line = asUser(['enter', 'debian-like', '--', 'echo one; echo $0']);
    expect(line.stdout).toBe('one\n/bin/sh\n');
  });

  it('short flags and aliases, --env-file, read-only binds, --hostname (#11.3)', () => {
    const data = join(work, 'data');
    const v = asUser(['exec', 'debian-like', '-v', `${data}:/mnt/data`, '--workdir', '/mnt/data', 'cat', 'file']);
    expect([v.code, v.stdout]).toEqual([0, 'host data\n']);
    const b = asUser(['exec', 'debian-like', '--volume', `${data}:/mnt/data`, '--work-dir=/mnt', '-u', 'cakeuser', 'sh', '-c', 'id -u; pwd']);
    expect([b.code, b.stdout]).toEqual([0, '1234\n/mnt\n']);
    const ef = asUser(['exec', 'debian-like', '--env-file', join(work, 'vars.env'), '-e', 'SECOND=override', 'sh', '-c', 'echo "$FROM_FILE|$SECOND|$PASSED"'], { env: { PASSED: 'from host' } });
    expect([ef.code, ef.stdout]).toEqual([0, 'one two|override|from host\n']);
    const ro = asUser(['exec', 'debian-like', '-b', `${data}:/mnt/data:ro`, 'sh', '-c', 'cat /mnt/data/file; echo x > /mnt/data/new']);
    expect(ro.code).not.toBe(0);
    expect(ro.stdout).toBe('host data\n');
    expect(ro.stderr).toMatch(/Read-only file system/);
    expect(existsSync(join(data, 'new'))).toBe(false);
    const rw = asUser(['exec', 'debian-like', '-b', `${data}:/mnt/data:rw`, 'sh', '-c', 'echo x > /mnt/data/new']);
    expect(rw.code, rw.stderr).toBe(0);
    expect(existsSync(join(data, 'new'))).toBe(true);
    const host = asUser(['exec', 'debian-like', 'sh', '-c', 'hostname; grep -w debian-like /etc/hosts']);
    expect(host.code, host.stderr).toBe(0);
    expect(host.stdout).toMatch(/^debian-like\n127\.0\.1\.1\s+debian-like\n$/);
    const named = asUser(['exec', 'debian-like', '--hostname', 'box', 'hostname']);
    expect(named.stdout).toBe('box\n');
    const proot = asUser(['exec', 'debian-like', '--engine', 'proot', '-b', `${data}:/mnt/data:ro`, 'true']);
    expect(proot.code).toBe(2);
    expect(proot.stderr).toMatch(/^cake: .*proot engine cannot make a bind read-only\nhint: /m);
  });

  it('peers\' verbs are aliases or point to cake\'s verb; a misspelled env is suggested (#11.4)', () => {
    for (const [verb, hint] of [
      ['install', /cake pull SOURCE/],
      ['backup', /cake export NAME/],
      ['restore', /cake import FILE/],
      ['reset', /--force/],
      ['clear-cache', /cake gc/],
      ['run', /cake exec NAME CMD/],
      ['logout', /exit/],
      ['copy', /cake clone/],
    ] as const) {
      const r = asUser([verb, 'x']);
      expect(r.code, verb).toBe(2);
      expect(r.stderr, verb).toMatch(new RegExp(`^cake: cake has no command '${verb}'\\nhint: .*${hint.source}`));
    }
    expect(asUser(['images']).stdout).toMatch(/^NAME .*\ndebian-like /);
    expect(asUser(['ps', '-q']).stdout).toBe('debian-like\n');
    expect(asUser(['shell', 'debian-like', '--', 'echo', 'in']).stdout).toBe('in\n');
    const typo = asUser(['exec', 'debain-like', 'true']);
    expect(typo.code).toBe(1);
    expect(typo.stderr).toBe('cake: no environment named debain-like\nhint: did you mean debian-like? (`cake list` shows your environments)\n');
    const enter = asUser(['enter', 'debain']);
    expect(enter.code).toBe(1);
    expect(enter.stderr).not.toMatch(/pulling/);
    expect(enter.stderr).toMatch(/did you mean debian/);
    expect(asUser(['pul', 'x']).stderr).toMatch(/did you mean `cake pull`/);
  });

  it('a closed stdout ends quietly with the usual code; colour is decided per stream (#11.5, #11.6)', () => {
    // `| true`: the reader is gone before cake writes its first byte
    for (const cmd of ['list', 'doctor', 'distros', 'help', 'inspect debian-like']) {
      const r = spawnSync('bash', ['-c', `${CAKE} ${cmd} | true; exit \${PIPESTATUS[0]}`], { encoding: 'utf8', env: { ...process.env, HOME: home, CAKE_HOME: join(home, 'cake') } });
      expect([r.status, r.stderr], cmd).toEqual([0, '']);
    }
    const rc = spawnSync('bash', ['-c', `set -o pipefail; ${CAKE} distros | head -1 >/dev/null`], { encoding: 'utf8' });
    expect([rc.status, rc.stderr]).toEqual([0, '']);
    // stdout a file, stderr something else: no escape codes in the file even when stderr is coloured
    const out = join(work, 'doctor.txt');
    spawnSync('sh', ['-c', `${CAKE} doctor > ${out}`], { env: { ...process.env, CAKE_HOME: join(home, 'cake') } });
    expect(readFileSync(out, 'utf8')).not.toMatch(/\x1b\[/);
    const forced = spawnSync(CAKE, ['doctor'], { encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '1', CAKE_HOME: join(home, 'cake') } });
    expect(forced.stdout).toMatch(/\x1b\[/);
  });

  it('run-option errors name the value and carry a hint (#11.8)', () => {
    const cases: [string[], RegExp][] = [
      [['--bind', '/nonexistent:/x'], /^cake: --bind \/nonexistent: no such file or directory on the host\nhint: /],
      [['--cwd', '/nonexistent'], /^cake: --cwd \/nonexistent: no such directory in env debian-like\nhint: /],
      [['--cwd', 'relative'], /^cake: --cwd relative: the working directory must be absolute.*\nhint: use --cwd \/relative/],
      [['--env-file', '/nonexistent.env'], /^cake: --env-file \/nonexistent.env: no such file\nhint: /],
    ];
    for (const [opts, want] of cases) {
      const r = asUser(['exec', 'debian-like', ...opts, 'true']);
      expect(r.code, opts.join(' ')).toBe(2);
      expect(r.stderr).toMatch(want);
    }
  });

  it('list --json and inspect: size, release, last use, in use, resolved as JSON (#11.10)', async () => {
    const before = JSON.parse(asUser(['list', '--json']).stdout) as Array<Record<string, unknown>>;
    expect(before[0]).toMatchObject({ name: 'debian-like', inUse: false, arch: expect.any(String) });
    expect(before[0]!.size).toBeGreaterThan(500_000);
    // while a command runs, the env is in use
    const { spawn } = await import('node:child_process');
    const child = spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', 'env', `HOME=${home}`, `CAKE_HOME=${join(home, 'cake')}`, CAKE, 'exec', 'debian-like', 'sleep', '3'], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 1500));
    const during = JSON.parse(asUser(['inspect', 'debian-like', '--json']).stdout) as Record<string, unknown>;
    await new Promise((r) => child.on('exit', r));
    expect(during.inUse).toBe(true);
    expect(Date.parse(String(during.lastUsed))).toBeGreaterThan(Date.now() - 60_000);
    const after = JSON.parse(asUser(['inspect', 'debian-like', '--json']).stdout) as Record<string, unknown>;
    expect(after.inUse).toBe(false);
    const text = asUser(['inspect', 'debian-like']);
    expect(text.stdout).toMatch(/^name +debian-like\n/m);
    expect(text.stdout).toMatch(/^in use +no$/m);
    expect(asUser(['inspect', 'nope']).code).toBe(1);
  });

  it('exec --rm leaves the env as it was; clone makes an independent copy (#11.18)', () => {
    const rm = asUser(['exec', 'debian-like', '--rm', '--isolated', 'sh', '-c', 'echo junk > /etc/junk; rm /etc/group; cat /etc/junk']);
    expect([rm.code, rm.stdout]).toEqual([0, 'junk\n']);
    expect(asUser(['exec', 'debian-like', 'sh', '-c', 'test -e /etc/junk || test ! -e /etc/group || echo intact']).stdout).toBe('intact\n');
    expect(readdirSync(join(home, 'cake/v1/envs')).filter((e) => !e.startsWith('.'))).toEqual(['debian-like']);
    const cl = asUser(['clone', 'debian-like', 'copy']);
    expect(cl.code, cl.stderr).toBe(0);
    expect(asUser(['exec', 'copy', '--isolated', 'sh', '-c', 'echo changed >> /etc/passwd']).code).toBe(0);
    expect(asUser(['exec', 'debian-like', '--isolated', 'grep', '-c', 'changed', '/etc/passwd']).stdout).toBe('0\n');
    expect(asUser(['exec', 'copy', '--isolated', 'grep', '-c', 'changed', '/etc/passwd']).stdout).toBe('1\n');
    expect(asUser(['clone', 'debian-like', 'copy']).code).toBe(1);
    expect(asUser(['rm', 'copy']).code).toBe(0);
  });

  it('config: set/get/list, CAKE_* overrides, enter without NAME uses the default env (#11.20)', () => {
    expect(asUser(['config', 'get', 'default-env']).code).toBe(1);
    expect(asUser(['config', 'set', 'default-env', 'debian-like']).code).toBe(0);
    expect(asUser(['config', 'get', 'default-env']).stdout).toBe('debian-like\n');
    expect(JSON.parse(readFileSync(join(home, 'cake/config/config.json'), 'utf8'))).toEqual({ 'default-env': 'debian-like' });
    expect(asUser(['enter', '--', 'echo', 'default']).stdout).toBe('default\n');
    expect(asUser(['config', 'get', 'default-env'], { env: { CAKE_DEFAULT_ENV: 'other' } }).stdout).toBe('other\n');
    expect(asUser(['enter', '--', 'true'], { env: { CAKE_DEFAULT_ENV: 'no-such-env' } }).stderr).toMatch(/no environment named no-such-env/);
    expect(asUser(['config', 'set', 'engine', 'warp']).code).toBe(2);
    expect(asUser(['config', 'set', 'engine', 'proot']).code).toBe(0);
    expect(asUser(['-v', 'exec', 'debian-like', 'true']).stderr).toMatch(/engine proot/);
    expect(asUser(['-v', 'exec', 'debian-like', '--engine', 'userns', 'true']).stderr).toMatch(/engine userns/);
    expect(asUser(['config', 'unset', 'engine']).code).toBe(0);
    expect(asUser(['config', 'set', 'binds', `${join(work, 'data')}:/srv/data:ro`]).code).toBe(0);
    expect(asUser(['exec', 'debian-like', 'cat', '/srv/data/file']).stdout).toBe('host data\n');
    const list = asUser(['config', 'list']).stdout;
    expect(list).toMatch(/^default-env=debian-like$/m);
    expect(list).toMatch(/^binds=.*:\/srv\/data:ro$/m);
    expect(asUser(['config', 'set', 'nope', 'x']).code).toBe(2);
    // the mirror setting is the URL a Debian build reads from (here one nothing listens on)
    expect(asUser(['config', 'set', 'debian-mirror', 'ftp://x']).code).toBe(2);
    expect(asUser(['config', 'set', 'debian-mirror', 'http://127.0.0.1:9/debian']).code).toBe(0);
    const pull = asUser(['pull', 'debian', '--name', 'mirrored']);
    expect(pull.code).toBe(1);
    expect(pull.stderr).toMatch(/^building mirrored from http:\/\/127\.0\.0\.1:9\/debian /m);
    // the mirror is what was tried (and named) for the archive source
    expect(pull.stderr).toMatch(/archive http:\/\/127\.0\.0\.1:9\/debian: cannot reach 127\.0\.0\.1:9/);
    asUser(['config', 'unset', 'debian-mirror']);
    asUser(['config', 'unset', 'binds']);
    asUser(['config', 'unset', 'default-env']);
  });

  it('export to stdout, import from stdin, .tar.xz (#11.15)', () => {
    const env = `PATH=${process.env.PATH} HOME=${home} CAKE_HOME=${join(home, 'cake')} NO_COLOR=1`;
    const pipe = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', 'sh', '-c', `env -i ${env} ${CAKE} export debian-like - | env -i ${env} ${CAKE} import - --name piped`], { encoding: 'utf8', cwd: work });
    expect(pipe.status, pipe.stderr).toBe(0);
    expect(pipe.stderr).toMatch(/exported debian-like: \d+ entries, .* to stdout/);
    expect(asUser(['exec', 'piped', 'cat', '/etc/passwd']).stdout).toContain('cakeuser:x:1234');
    const tty = spawnSync('script', ['-qec', `${CAKE} export debian-like -`, '/dev/null'], { encoding: 'utf8', env: { ...process.env, CAKE_HOME: join(home, 'cake') } });
    expect(tty.stdout).toMatch(/refusing to write a tarball to a terminal/);
    const xz = join(home, 'env.tar.xz');
    expect(asUser(['export', 'debian-like', xz]).code).toBe(0);
    expect(execFileSync('file', ['-b', xz], { encoding: 'utf8' })).toMatch(/^XZ compressed/);
    expect(asUser(['import', xz, '--name', 'from-xz']).code).toBe(0);
    expect(asUser(['exec', 'from-xz', 'cat', '/etc/group']).stdout).toContain('cakeusers');
    const closed = spawnSync('bash', ['-c', `${CAKE} export debian-like - | head -c 10 >/dev/null; exit \${PIPESTATUS[0]}`], { encoding: 'utf8', env: { ...process.env, CAKE_HOME: join(home, 'cake') } });
    expect(closed.status).toBe(1);
    expect(closed.stderr).toMatch(/^cake: stdout was closed before the tarball of debian-like was complete\nhint: /);
    asUser(['rm', 'piped', 'from-xz']);
  });

  it('cp copies files and trees both ways, never out of the env through its symlinks (#11.15)', () => {
    const out = join(home, 'out');
    mkdirSync(out);
    chownSync(out, 65534, 65534);
    expect(asUser(['cp', 'debian-like:/etc/passwd', out]).code).toBe(0);
    expect(readFileSync(join(out, 'passwd'), 'utf8')).toContain('cakeuser');
    expect(asUser(['cp', 'debian-like:/etc', join(out, 'etc-copy')]).code).toBe(0);
    expect(readFileSync(join(out, 'etc-copy/group'), 'utf8')).toContain('cakeusers');
    expect(asUser(['cp', join(work, 'data'), 'debian-like:/root/']).code).toBe(0);
    expect(asUser(['exec', 'debian-like', '--isolated', 'cat', '/root/data/file']).stdout).toBe('host data\n');
    // the env's own /tmp is not what a default run shows (the host's is bound there): said
    const shadowed = asUser(['cp', join(work, 'data'), 'debian-like:/tmp/']);
    expect(shadowed.code).toBe(0);
    expect(shadowed.stderr).toMatch(/debian-like:\/tmp\/data is in the env's own \/tmp; `cake enter`\/`exec` show the host's \/tmp there/);
    asUser(['exec', 'debian-like', '--isolated', 'rm', '-rf', '/tmp/data']);
    // a hostile env: a symlink that would point at a host directory if followed on the host
    const victim = join(work, 'victim');
    mkdirSync(victim);
    chownSync(victim, 65534, 65534);
    expect(asUser(['exec', 'debian-like', '--isolated', 'ln', '-s', `/../../../../../../..${victim}`, '/evil']).code).toBe(0);
    const cp = asUser(['cp', join(work, 'vars.env'), 'debian-like:/evil/']);
    expect(readdirSync(victim)).toEqual([]);
    expect(cp.code === 0 ? asUser(['exec', 'debian-like', '--isolated', 'ls', `${victim}`]).stdout : 'refused').toMatch(/vars\.env|refused/);
    const missing = asUser(['cp', 'debian-like:/nope', out]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^cake: debian-like:\/nope: no such file or directory in env debian-like\nhint: /);
    expect(asUser(['cp', 'a', 'b']).code).toBe(2);
    asUser(['exec', 'debian-like', '--isolated', 'rm', '-rf', '/root/data', '/evil']);
  });

  it('--gui passes the display, sound and runtime dir; without it nothing leaks (#11.23)', () => {
    const runtime = join(home, 'run');
    mkdirSync(runtime, { recursive: true });
    writeFileSync(join(runtime, 'wayland-0'), '');
    chownSync(runtime, 65534, 65534);
    const vars = { DISPLAY: ':7', WAYLAND_DISPLAY: 'wayland-0', XDG_RUNTIME_DIR: runtime, PULSE_SERVER: 'unix:/x/pulse' };
    const gui = asUser(['exec', 'debian-like', '--gui', '--isolated', 'sh', '-c', 'echo "$DISPLAY $WAYLAND_DISPLAY $PULSE_SERVER"; ls "$XDG_RUNTIME_DIR"'], { env: vars });
    expect([gui.code, gui.stdout]).toEqual([0, ':7 wayland-0 unix:/x/pulse\nwayland-0\n']);
    const plain = asUser(['exec', 'debian-like', 'sh', '-c', 'echo "[$DISPLAY$WAYLAND_DISPLAY$XDG_RUNTIME_DIR]"'], { env: vars });
    expect(plain.stdout).toBe('[]\n');
    const configured = asUser(['exec', 'debian-like', 'sh', '-c', 'echo "$DISPLAY"'], { env: { ...vars, CAKE_GUI: 'yes' } });
    expect(configured.stdout).toBe(':7\n');
  });

  it('export-app writes a host command and the desktop entry that run the program in the env (#11.23)', () => {
    expect(asUser(['exec', 'debian-like', '--isolated', 'sh', '-c', 'mkdir -p /usr/share/applications && printf "[Desktop Entry]\\nName=Lister\\nTryExec=ls\\nExec=ls %%F\\nType=Application\\n" > /usr/share/applications/lister.desktop']).code).toBe(0);
    const bin = join(home, 'apps-bin');
    const r = asUser(['export-app', 'debian-like', 'ls', '--bin-dir', bin], { env: { XDG_DATA_HOME: join(home, 'share') } });
    expect([r.code, r.stdout], r.stderr).toEqual([0, `${join(bin, 'ls')}\n`]);
    // run as from a menu: no CAKE_HOME of its own, the wrapper knows the store the env is in
    const run = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', 'env', '-i', `PATH=${process.env.PATH}`, `HOME=${home}`, join(bin, 'ls'), '-d', '/usr/share/applications/lister.desktop'], { encoding: 'utf8' });
    expect([run.status, run.stdout], run.stderr).toEqual([0, '/usr/share/applications/lister.desktop\n']);
    const desktop = readFileSync(join(home, 'share/applications/cake-debian-like-lister.desktop'), 'utf8');
    expect(desktop).toContain(`Exec=${join(bin, 'ls')} %F`);
    expect(desktop).toContain('Name=Lister (debian-like)');
    expect(desktop).not.toContain('TryExec');
    writeFileSync(join(bin, 'other'), '#!/bin/sh\n');
    expect(asUser(['export-app', 'debian-like', 'nosuch', '--bin-dir', bin]).stderr).toMatch(/^cake: env debian-like has no program nosuch on its PATH\nhint: /);
  });

  it('help pull shows the docker://, oci:, docker-archive: and oci-archive: forms (#11.22, #11.14)', async () => {
    const r = await cake(home, ['help', 'pull']);
    expect(r.stdout).toContain('docker://');
    expect(r.stdout).toContain('oci:');
    expect(r.stdout).toMatch(/image archive\s+\(docker save \/ podman save\)/);
    expect(r.stdout).toContain('cake pull ./saved.tar');
    expect(r.stdout).toContain('cake pull docker-archive:./saved.tar:localhost/app:1');
    expect(r.stdout).toContain('cake pull docker-archive:./saved.tar:@0');
    expect(r.stdout).toContain('cake pull oci-archive:./app-oci.tar');
    // a SOURCE cake cannot read lists the archive forms too
    const bad = await cake(home, ['pull', 'what?ever', '--name', 'x']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/\nhint: SOURCE is a distro .*docker-archive:FILE\[:REF\|:@N\] or oci-archive:FILE\[:REF\|:@N\]/);
  });
});
