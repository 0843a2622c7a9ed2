import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/model/logger.js';
import { foundKits } from '../../../src/kit/provider.js';
import { chooseEngine, runInEnv, type EngineChoice } from '../../../src/run/engine.js';
import { defaultRunOptions, type RunOptions } from '../../../src/model/run-options.js';
import { createBusyboxRootfs, haveBusybox, type BusyboxRootfs } from '../../helpers/busybox-rootfs.js';
import { linkProvisionedProot, provisionTestProot } from '../../helpers/provisioned-proot.js';
import { buildRunner, runGuest, type RunSpec } from './harness.js';
import { skipUnless } from '../../helpers/tools.js';

/**
 * Real engines against a busybox rootfs, through a runner process that calls runInEnv like
 * `cake exec` does. The proot half runs with the system proot when it passes the self-check, else
 * with the proot cake provisions from the Debian archive (kept in test/.cache/proot-store and
 * found through the engine cache dir, as cake finds its own); a test below asserts that a failing
 * system proot fails with the statx diagnosis and that --engine proot says so.
 */
const scratch = mkdtempSync(join(tmpdir(), 'cake-run-it-'));
const cacheDir = join(scratch, 'cache');
/** An engine cache without a provisioned proot: what the host's own proot gives. */
const bareCache = join(scratch, 'cache-bare');
const fakeHome = join(scratch, 'home');
mkdirSync(fakeHome);
writeFileSync(join(fakeHome, 'home-marker'), 'from host home\n');
let rootfs: BusyboxRootfs;
let runner: string;
let runnerDir: string | undefined;
let prootOk = false;
let systemProotError = '';
let prootChoice: EngineChoice | undefined;

beforeAll(async () => {
  if (!haveBusybox()) throw new Error('these tests need busybox-static');
  rootfs = createBusyboxRootfs();
  ({ runner, outDir: runnerDir } = buildRunner());
  try {
    await chooseEngine('proot', { logger: silentLogger, hostEnv: process.env, cacheDir: bareCache, kits: foundKits });
  } catch (err) {
    systemProotError = (err as Error).message;
  }
  if (systemProotError !== '') {
    await provisionTestProot();
    linkProvisionedProot(cacheDir);
  }
  prootChoice = await chooseEngine('proot', { logger: silentLogger, hostEnv: process.env, cacheDir, kits: foundKits });
  prootOk = true;
});
afterAll(() => {
  rootfs?.cleanup();
  if (runnerDir) rmSync(runnerDir, { recursive: true, force: true });
  rmSync(scratch, { recursive: true, force: true });
});

function spec(engine: 'userns' | 'proot', argv: string[], opts: Partial<RunOptions> = {}, config?: RunSpec['env']['config']): RunSpec {
  return {
    env: { name: 'bb', rootfs: rootfs.root, ...(config ? { config } : {}) },
    argv,
    opts: defaultRunOptions({ engine, ...opts }),
    cacheDir,
  };
}
const hostEnv = { HOME: fakeHome, TERM: 'xterm-test', CAKE_LEAK_CHECK: 'leaked' };
const run = (s: RunSpec) => runGuest(runner, s, { env: hostEnv, extendEnv: true });

describe.each(['userns', 'proot'] as const)('%s engine', (engine) => {
  const t = (name: string, fn: () => Promise<void>) =>
    it(name, async (ctx) => {
      if (engine === 'proot') skipUnless(ctx, 'a proot that passes the self-check (the host\'s or a provisioned one)', prootOk);
      await fn();
    });

  t('passes the exit code through', async () => {
    expect((await run(spec(engine, ['sh', '-c', 'exit 7']))).code).toBe(7);
    expect((await run(spec(engine, ['true']))).code).toBe(0);
  });

  t('keeps stdout and stderr apart', async () => {
    const r = await run(spec(engine, ['sh', '-c', 'echo out; echo err >&2']));
    expect(r).toMatchObject({ code: 0, stdout: 'out', stderr: 'err' });
  });

  t('reports a death by signal as 128+N', async (): Promise<void> => {
    if (engine === 'proot') return; // proot hides a self-inflicted signal (exit 255); see the relayed-signal test
    expect((await run(spec(engine, ['sh', '-c', 'kill -TERM $$']))).code).toBe(143);
    expect((await run(spec(engine, ['sh', '-c', 'kill -KILL $$']))).code).toBe(137);
  });

  t('starts from a clean environment with HOME, USER, TERM, LANG, image env, then --env', async () => {
    const r = await run(spec(engine, ['sh', '-c', 'env; echo "CWD=$(pwd)"'], { env: { FOO: 'bar', LANG: 'C' } }, { env: ['IMAGE_VAR=1', 'LANG=xx'], workingDir: '/etc' }));
    const env = Object.fromEntries(r.stdout.split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    expect(env).toMatchObject({ HOME: '/root', USER: 'root', TERM: 'xterm-test', LANG: 'C', FOO: 'bar', IMAGE_VAR: '1', CWD: '/etc' });
    expect(env.PATH).toContain('/usr/bin');
    expect(env.CAKE_LEAK_CHECK).toBeUndefined();
    expect(Object.keys(env).filter((k) => k.startsWith('PROOT_') && k !== 'PROOT_NO_SECCOMP')).toEqual([]);
  });

  t('applies --env LD_* inside the guest only, and drops the image config\'s with a warning', async () => {
    const r = await run(spec(engine, ['sh', '-c', 'echo "[$LD_PRELOAD] [$LD_LIBRARY_PATH]"'], { env: { LD_PRELOAD: '/guest-only/libnothing.so' } }, { env: ['LD_LIBRARY_PATH=/image/lib', 'PROOT_LOADER=/x'] }));
    expect(r.stdout).toBe('[/guest-only/libnothing.so] []');
    // Only the guest's loader would complain; busybox is static, so nobody should.
    expect(r.stderr).toBe('warn: env bb: ignoring LD_LIBRARY_PATH, PROOT_LOADER from its image config or recipe (loader variables are not taken from images; set one with --env)');
  });

  t('runs in --cwd, rejects a missing one with exit 2', async () => {
    expect((await run(spec(engine, ['pwd'], { cwd: '/etc' }))).stdout).toBe('/etc');
    const bad = await run(spec(engine, ['pwd'], { cwd: '/no/such/dir' }));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--cwd \/no\/such\/dir/);
  });

  t('shows --bind sources, checks they exist', async () => {
    const src = join(scratch, `bind-${engine}`);
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, 'f'), 'bound\n');
    expect((await run(spec(engine, ['cat', '/mnt/b/f'], { binds: [{ src, dst: '/mnt/b' }] }))).stdout).toBe('bound');
    expect((await run(spec(engine, ['cat', join(src, 'f')], { binds: [{ src, dst: src }], isolated: true }))).stdout).toBe('bound');
    const missing = await run(spec(engine, ['true'], { binds: [{ src: '/no/such/src', dst: '/x' }] }));
    expect(missing.code).toBe(2);
  });

  t('runs as --user with its HOME and USER from the guest passwd', async () => {
    const r = await run(spec(engine, ['sh', '-c', 'id -u; id -g; echo "$HOME $USER"; pwd'], { user: 'cakeuser', isolated: true }));
    expect(r.stdout.split('\n')).toEqual(['1234', '1234', '/home/cakeuser cakeuser', '/home/cakeuser']);
    expect((await run(spec(engine, ['id', '-u'], { user: '4321:55' }))).stdout).toBe('4321');
    expect((await run(spec(engine, ['id', '-u']))).stdout).toBe('0');
  });

  t('binds host /tmp and $HOME unless --isolated', async () => {
    const hostTmp = mkdtempSync(join(tmpdir(), 'cake-host-tmp-'));
    writeFileSync(join(hostTmp, 'tmp-marker'), 'x');
    const probe = `cat ${fakeHome}/home-marker; ls ${hostTmp}`;
    const shared = await run(spec(engine, ['sh', '-c', probe]));
    expect(shared.stdout).toBe('from host home\ntmp-marker');
    const isolated = await run(spec(engine, ['sh', '-c', `${probe} 2>&1; ls /tmp`], { isolated: true }));
    expect(isolated.stdout).not.toContain('from host home');
    expect(isolated.stdout).not.toContain('tmp-marker');
    rmSync(hostTmp, { recursive: true, force: true });
  });

  t('cannot reach host files outside the binds', async () => {
    const outside = mkdtempSync('/var/tmp/cake-outside-');
    writeFileSync(join(outside, 'secret'), 'host secret\n');
    const r = await run(spec(engine, ['sh', '-c', `cat ${outside}/secret; ls ${outside}; cat /etc/passwd`]));
    expect(r.stdout).not.toContain('host secret');
    expect(r.stdout).toContain('cake guest root'); // the guest's passwd, not the host's
    rmSync(outside, { recursive: true, force: true });
  });

  t('sees files it creates with stat and ls', async () => {
    const name = `new-${engine}`;
    const r = await run(spec(engine, ['sh', '-c', `echo hello > /var/${name} && stat -c %s /var/${name} && ls /var`]));
    expect(r.code).toBe(0);
    const [size, ...listing] = r.stdout.split('\n');
    expect(size).toBe('6');
    expect(listing).toContain(name);
    expect(readFileSync(join(rootfs.root, 'var', name), 'utf8')).toBe('hello\n');
    expect(statSync(join(rootfs.root, 'var', name)).uid).toBe(process.getuid!());
  });

  t('has a working /etc/resolv.conf and /etc/hosts', async () => {
    const r = await run(spec(engine, ['sh', '-c', 'cat /etc/resolv.conf; echo ---; cat /etc/hosts']));
    const [resolv, hosts] = r.stdout.split('---\n');
    expect(resolv!.trim()).toBe(readFileSync('/etc/resolv.conf', 'utf8').trim());
    expect(hosts).toMatch(/localhost/);
  });

  t('has /dev, /proc and /sys', async () => {
    const r = await run(spec(engine, ['sh', '-c', 'echo x > /dev/null && readlink /proc/self/exe && ls /sys/kernel >/dev/null && echo ok']));
    expect(r.stdout).toBe('/bin/busybox\nok');
  });

  t('stops the guest and rejects with interrupted when the AbortSignal fires', async () => {
    const ac = new AbortController();
    const started = Date.now();
    const running = runInEnv({ name: 'bb', rootfs: rootfs.root }, ['sleep', '30'], defaultRunOptions({ engine, isolated: true }), {
      logger: silentLogger,
      hostEnv: process.env,
      cacheDir,
      kits: foundKits,
      signal: ac.signal,
      stdio: 'ignore',
    });
    setTimeout(() => ac.abort(), 500);
    await expect(running).rejects.toMatchObject({ code: 'interrupted', exitCode: 130 });
    expect(Date.now() - started).toBeLessThan(5000);
  });

  t('opens a login shell for an empty argv', async () => {
    const r = await runGuest(runner, spec(engine, []), { env: hostEnv, stdin: 'pipe', input: 'echo "shell:$0"; exit 5\n' });
    expect(r.code).toBe(5);
    expect(r.stdout).toMatch(/shell:-?\/?(bin\/)?sh/);
  });
});

describe('userns run directory paths', () => {
  it('a cache dir with a space, a tab, a newline and a backslash still gets the private /dev and a read-only /sys (the setup escapes them in its fstab)', async () => {
    const odd = join(scratch, 'odd \t\n\\dir');
    const check = 'echo x > /dev/null && test -c /dev/null && test -d /dev/pts && touch /dev/shm/a && grep -q " /sys ro," /proc/self/mountinfo && echo ok';
    const r = await run({ ...spec('userns', ['sh', '-c', check]), cacheDir: odd });
    expect(r).toMatchObject({ code: 0, stdout: 'ok' });
  });
});

describe('engine selection on this host', () => {
  it('auto picks userns, whose self-check passes in full', async () => {
    const c = await chooseEngine('auto', { logger: silentLogger, hostEnv: process.env, cacheDir, kits: foundKits });
    expect(c.engine).toBe('userns');
    expect(c.checks.map((x) => `${x.name}:${x.ok}`)).toEqual([
      'stat-size:true',
      'new-file:true',
      'owner:true',
      'script-by-path:true',
      'proc-self-exe:true',
      'cwd:true',
      'confined:true',
      'change-id:true',
    ]);
  });

  it('explains a host without user namespaces (a stand-in unshare that is refused)', async () => {
    const bin = join(scratch, 'fake-bin');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'unshare'), '#!/bin/sh\necho "unshare: unshare failed: Operation not permitted" >&2\nexit 1\n', { mode: 0o755 });
    const deps = { logger: silentLogger, hostEnv: { ...process.env, PATH: `${bin}:${process.env.PATH}` }, cacheDir: join(scratch, 'cache-nouserns'), kits: foundKits };
    if (systemProotError !== '') linkProvisionedProot(deps.cacheDir);
    await expect(chooseEngine('userns', deps)).rejects.toMatchObject({
      code: 'engine',
      message: 'user namespaces failed the self-check: could not run a command: unshare: unshare failed: Operation not permitted',
    });
    const auto = chooseEngine('auto', deps);
    if (prootOk) await expect(auto).resolves.toMatchObject({ engine: 'proot' });
    else await expect(auto).rejects.toThrow(/^no engine works on this host: user namespaces failed .*; proot at \S+ failed the self-check/);
  });

  it('a failing system proot fails the self-check with the statx diagnosis, and --engine proot says so', async (ctx) => {
    if (systemProotError === '') ctx.skip();
    expect(systemProotError).toMatch(/^proot at \/\S+ failed the self-check: stat shows host files \(statx not translated\)$/);
    const r = await run({ ...spec('proot', ['true']), cacheDir: bareCache });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`cake: ${systemProotError}`);
    expect(r.stderr).toMatch(/hint: /);
  });

  it('then uses the provisioned proot, which passes every check (seccomp only where it passes)', async (ctx) => {
    if (systemProotError === '') ctx.skip();
    expect(prootChoice?.binary).toMatch(/\/proot\/[0-9a-f]{20}\/proot$/);
    expect(prootChoice?.reason).toMatch(/provisioned proot 5\.\d+\.\d+-\S+ passes the self-check (with seccomp|without seccomp \(PROOT_NO_SECCOMP=1\))$/);
    expect(prootChoice?.checks.every((c) => c.ok)).toBe(true);
    expect(prootChoice?.checks.map((c) => c.name)).toEqual(['stat-size', 'new-file', 'owner', 'script-by-path', 'proc-self-exe', 'cwd', 'confined', 'change-id']);
    // On this kernel seccomp acceleration breaks statx translation: the engine must have turned it
    // off (PROOT_NO_SECCOMP=1 for proot itself; the guest sees none of proot's variables), so stat
    // reports the guest's file, not the host's.
    const r = await run(spec('proot', ['sh', '-c', 'echo "seccomp-off=${PROOT_NO_SECCOMP:-}"; stat -c %s /etc/passwd']));
    expect(r.stdout).toBe(`seccomp-off=\n${statSync(join(rootfs.root, 'etc/passwd')).size}`);
  });
});

/**
 * Issue 17 item 1, the binfmt_misc path. This host has no binfmt_misc mounted, so the handler is
 * a fixture directory laid out as /proc/sys/fs/binfmt_misc (what Debian's qemu-user-static
 * registers for aarch64, F flag): the engine choice and the plan are checked, not a guest run
 * through the kernel's handler (unverified here).
 */
describe('a foreign (aarch64) guest: the kernel handler decides the engine', () => {
  const AARCH64 = 'enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: POF\noffset 0\nmagic 7f454c460201010000000000000000000200b700\nmask ffffffffffffff00fffffffffffffffffeffffff\n';
  const withHandler = join(scratch, 'binfmt-aarch64');
  const without = join(scratch, 'binfmt-none');
  const arm = (): { name: string; rootfs: string; arch: string } => ({ name: 'arm', rootfs: rootfs.root, arch: 'aarch64' });
  beforeAll(() => {
    mkdirSync(withHandler, { recursive: true });
    writeFileSync(join(withHandler, 'status'), 'enabled\n');
    writeFileSync(join(withHandler, 'register'), '');
    writeFileSync(join(withHandler, 'qemu-aarch64'), AARCH64);
    mkdirSync(without, { recursive: true });
    writeFileSync(join(without, 'status'), 'enabled\n');
  });
  const deps = (binfmtDir: string) => ({ logger: silentLogger, hostEnv: process.env, cacheDir, kits: foundKits, binfmtDir });

  it.skipIf(process.arch !== 'x64')('with an F-flag handler: auto and userns pick userns, and the plan runs no qemu', async () => {
    for (const requested of ['auto', 'userns'] as const) {
      const c = await chooseEngine(requested, deps(withHandler), arm());
      expect(c.engine).toBe('userns');
      expect(c.reason).toMatch(/^env arm is aarch64: the kernel runs aarch64 programs through \/usr\/libexec\/qemu-binfmt\/aarch64-binfmt-P \(binfmt_misc qemu-aarch64, F flag\); /);
    }
    // --engine proot still means proot (with qemu-user's -q)
    expect((await chooseEngine('proot', deps(withHandler), arm())).engine).toBe('proot');
    const { preparePlan } = await import('../../../src/run/prepare.js');
    const kernel = await preparePlan(arm(), ['true'], defaultRunOptions(), { logger: silentLogger, hostEnv: process.env, cacheDir, emulate: false });
    expect(kernel.qemu).toBeUndefined();
    const emulated = await preparePlan(arm(), ['true'], defaultRunOptions(), { logger: silentLogger, hostEnv: process.env, cacheDir });
    expect(emulated.qemu).toMatch(/\/qemu-aarch64(-static)?$/);
  });

  it.skipIf(process.arch !== 'x64')('without one: auto picks proot with qemu-user, and --engine userns is a one-line refusal', async () => {
    const c = await chooseEngine('auto', deps(without), arm());
    expect(c.engine).toBe('proot');
    expect(c.reason).toMatch(/^env arm is aarch64: no binfmt_misc handler with the F flag for aarch64: proot with \/\S+\/qemu-aarch64(-static)?; /);
    await expect(chooseEngine('userns', deps(without), arm())).rejects.toMatchObject({
      code: 'engine',
      message: 'the userns engine cannot run aarch64 programs on this x86_64 host: the kernel has no binfmt_misc handler for them',
    });
  });
});
