import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAKE, cake, freshHome } from '../../helpers/cli.js';
import { createBusyboxRootfs } from '../../helpers/busybox-rootfs.js';
import { linkProvisionedProot, provisionTestProot, testStore } from '../../helpers/provisioned-proot.js';

/**
 * Guest → host escapes (issue 15 items 1-3), through the built CLI, on both engines, as root and
 * as nobody. The envs are busybox rootfs trees without an `env` program (the case that leaked
 * LD_* into host helpers); the probe library is glibc's own libpcprofile.so, which writes the
 * file named by PCPROFILE_OUTPUT when any dynamically linked process loads it: the guest here is
 * static busybox, so a marker can only come from a host process.
 */
const shared = mkdtempSync('/tmp/cake-esc-');
chmodSync(shared, 0o1777);
const LIB = join(shared, 'libprobe.so');
const proofDir = mkdtempSync('/var/tmp/cake-proof-');
chmodSync(proofDir, 0o1777);

type User = 'root' | 'nobody';
const homes: Record<User, { home: string; cleanup(): void }> = { root: freshHome(), nobody: freshHome() };

async function as(user: User, args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const home = homes[user].home;
  if (user === 'root') return cake(home, args, { env });
  const vars = Object.entries({ PATH: process.env.PATH ?? '/usr/bin:/bin', CAKE_HOME: home, HOME: '/nonexistent', NO_COLOR: '1', ...env }).map(([k, v]) => `${k}=${v}`);
  const r = await execa('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', '--', 'env', '-i', ...vars, CAKE, ...args], { reject: false, stdin: 'ignore' });
  return { code: r.exitCode ?? 1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

function rootfsOf(user: User, name: string): string {
  return join(testStore(homes[user].home).paths.envs, name, 'rootfs');
}

function tarOfBusybox(dir: string, edit: (root: string) => void = () => {}): string {
  const bb = createBusyboxRootfs(join(dir, 'rootfs'));
  for (const p of ['usr/bin/env', 'bin/env']) rmSync(join(bb.root, p), { force: true });
  edit(bb.root);
  const tar = join(dir, 'rootfs.tar');
  execFileSync('tar', ['-C', bb.root, '-cf', tar, '.']);
  return tar;
}

beforeAll(async () => {
  copyFileSync(execFileSync('sh', ['-c', 'ls /lib/*/libpcprofile.so | head -1'], { encoding: 'utf8' }).trim(), LIB);
  chmodSync(LIB, 0o755);
  const work = mkdtempSync('/tmp/cake-esc-build-');
  chmodSync(work, 0o755);
  const plain = tarOfBusybox(join(work, 'plain'));
  // /etc/resolv.conf planted as a symlink to a host path (absolute: the guest means its own)
  const planted = tarOfBusybox(join(work, 'planted'), (root) => symlinkSync(join(proofDir, 'planted-resolv.conf'), join(root, 'etc/resolv.conf')));
  const recipe = join(work, 'evil.yaml');
  writeFileSync(recipe, `name: evil\nfrom: bb\nsteps:\n  - env: { LD_PRELOAD: ${LIB}, PCPROFILE_OUTPUT: ${shared}/marker-recipe }\n`);
  for (const user of ['root', 'nobody'] as const) {
    if (user === 'nobody') execFileSync('chown', ['-R', 'nobody:nogroup', homes.nobody.home]);
    for (const [tar, name] of [[plain, 'bb'], [planted, 'planted'], [plain, 'race']] as const) {
      const r = await as(user, ['import', tar, '--name', name]);
      expect(r.code, r.stderr).toBe(0);
    }
    const c = await as(user, ['cook', recipe]);
    expect(c.code, c.stderr).toBe(0);
  }
  await provisionTestProot();
  for (const user of ['root', 'nobody'] as const) {
    const engineCache = testStore(homes[user].home).engineCache;
    linkProvisionedProot(engineCache);
    if (user === 'nobody') execFileSync('chown', ['-R', 'nobody:nogroup', homes.nobody.home]);
  }
  rmSync(work, { recursive: true, force: true });
}, 600_000);

afterAll(() => {
  homes.root.cleanup();
  homes.nobody.cleanup();
  rmSync(shared, { recursive: true, force: true });
  rmSync(proofDir, { recursive: true, force: true });
});

/**
 * A guard for the tests that replace /etc/resolv.conf: when the guest's file is the host's own
 * (bound, as cake once did), the step stops (exit 99) instead of replacing the host's file.
 */
function notTheHostsResolvConf(): string {
  const st = lstatSync('/etc/resolv.conf');
  const real = st.isSymbolicLink() ? execFileSync('stat', ['-L', '-c', '%d:%i', '/etc/resolv.conf'], { encoding: 'utf8' }).trim() : `${st.dev}:${st.ino}`;
  return `[ "$(stat -L -c %d:%i /etc/resolv.conf)" != "${real}" ] || exit 99`;
}

function markers(): string[] {
  return readdirSync(shared).filter((n) => n.startsWith('marker'));
}

describe.each([
  ['root', 'userns'],
  ['root', 'proot'],
  ['nobody', 'userns'],
  ['nobody', 'proot'],
] as const)('as %s on %s', (user, engine) => {
  const exec = (name: string, args: string[], env?: Record<string, string>) => as(user, ['exec', name, '--engine', engine, ...args], env);

  it('a recipe\'s LD_PRELOAD reaches no host program (with and without --isolated), with one warning', async () => {
    for (const iso of [[], ['--isolated']]) {
      const r = await exec('evil', [...iso, '--', 'sh', '-c', 'echo "preload=[$LD_PRELOAD]"']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe('preload=[]');
      expect(r.stderr.trim()).toBe('warning: env evil: ignoring LD_PRELOAD from its image config or recipe (loader variables are not taken from images; set one with --env)');
      expect(markers()).toEqual([]);
    }
  });

  it('an explicit --env LD_PRELOAD applies inside the guest only', async () => {
    const marker = `${shared}/marker-env-${user}-${engine}`;
    const r = await exec('bb', ['--isolated', '--env', `LD_PRELOAD=${LIB}`, '--env', `PCPROFILE_OUTPUT=${marker}`, '--', 'sh', '-c', 'echo "$LD_PRELOAD"']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(LIB);
    expect(markers()).toEqual([]);
  });

  it('gives a private /dev: the devices a program needs, its own pts and shm, no host disks', async () => {
    const probe = `cake-probe-${user}-${engine}-${process.pid}`;
    const r = await exec('bb', ['--isolated', '--', 'sh', '-c', [
      'for n in null zero full random urandom tty; do [ -c /dev/$n ] || echo "missing $n"; done',
      '[ -d /dev/pts ] && [ -d /dev/shm ] || echo "no pts or shm"',
      'echo hi > /dev/null && head -c 4 /dev/zero | od -An -tx1',
      `echo x > /dev/shm/${probe}`,
      'find /dev -type b | head -3',
      '[ -e /dev/kmsg ] && echo "host kmsg visible"; :',
    ].join('\n')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('00 00 00 00');
    expect(existsSync(`/dev/shm/${probe}`)).toBe(false);
  });

  it('shows a chroot to chroot detection (/ and /proc/1/root differ)', async () => {
    const r = await exec('bb', ['--isolated', '--', 'sh', '-c', 'a=$(stat -c %d:%i /); b=$(stat -L -c %d:%i /proc/1/root); [ -n "$b" ] && [ "$a" != "$b" ] && echo chroot']);
    expect(r.stdout).toBe('chroot');
  });

  it('ends what the command started when it returns (setsid sleep)', async () => {
    const n = `31${user === 'root' ? 4 : 5}${engine === 'userns' ? 1 : 2}`;
    const started = Date.now();
    const r = await exec('bb', ['--isolated', '--', 'sh', '-c', `setsid sleep ${n} </dev/null >/dev/null 2>&1 & sleep 0.3; echo started`]);
    expect(r.stdout).toBe('started');
    expect(Date.now() - started).toBeLessThan(60_000);
    await new Promise((res) => setTimeout(res, 500));
    expect(spawnSync('pgrep', ['-f', `^sleep ${n}$`]).status).toBe(1);
  });

  it('follows a planted /etc/resolv.conf symlink inside the env only, and leaves nothing behind', async () => {
    const r = await exec('planted', ['--isolated', '--', 'cat', '/etc/resolv.conf']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(readFileSync('/etc/resolv.conf', 'utf8').trim());
    expect(existsSync(join(proofDir, 'planted-resolv.conf'))).toBe(false);
    const root = rootfsOf(user, 'planted');
    expect(readlinkSync(join(root, 'etc/resolv.conf'))).toBe(join(proofDir, 'planted-resolv.conf'));
    expect(existsSync(join(root, 'var/tmp', proofDir.split('/').pop()!))).toBe(false);
  });

  it('removes the mount points it made (a bind target, the host HOME) after the run', async () => {
    const src = mkdtempSync(join(shared, 'bindsrc-'));
    chmodSync(src, 0o755);
    const fakeHome = mkdtempSync('/var/tmp/cake-home-');
    chmodSync(fakeHome, 0o777);
    const r = await exec('bb', ['--bind', `${src}:/mnt/cake-new/deep`, '--', 'sh', '-c', `ls -d /mnt/cake-new/deep ${fakeHome}`], { HOME: fakeHome });
    expect(r.code, r.stderr).toBe(0);
    const root = rootfsOf(user, 'bb');
    expect(existsSync(join(root, 'mnt/cake-new'))).toBe(false);
    expect(existsSync(join(root, fakeHome))).toBe(false);
    expect(readdirSync(join(root, 'var/tmp'))).toEqual([]);
    rmSync(fakeHome, { recursive: true, force: true });
    expect(existsSync(join(root, 'etc/resolv.conf'))).toBe(false);
  });

  it('lets a run replace /etc/resolv.conf (DNS works meanwhile) and keeps its version', async () => {
    const r = await exec('bb', ['--isolated', '--', 'sh', '-c', `${notTheHostsResolvConf()}; grep -q . /etc/resolv.conf && ln -snf /lib/resolv.conf /etc/resolv.conf && echo replaced`]);
    expect(r.stdout, r.stderr).toBe('replaced');
    const root = rootfsOf(user, 'bb');
    expect(readlinkSync(join(root, 'etc/resolv.conf'))).toBe('/lib/resolv.conf');
    rmSync(join(root, 'etc/resolv.conf'));
  });
});

describe.each(['userns', 'proot'] as const)('on %s, as root', (engine) => {
  // proot shares the host's /proc and /sys (README "What an env shares with the host")
  if (engine === 'userns') it('/proc and /sys: own PID namespace and read-only kernel knobs, no way to undo them', async () => {
    const r = await as('root', ['exec', 'bb', '--engine', engine, '--isolated', '--', 'sh', '-c', [
      `[ -e /proc/${process.pid} ] && echo "host pid visible"`,
      'ls /proc | grep -c "^[0-9]"',
      'cat /proc/sys/kernel/hostname > /proc/sys/kernel/hostname 2>/dev/null && echo "proc/sys writable"',
      'grep " /sys " /proc/mounts | grep -q " ro[ ,]" || echo "sys not read-only"',
      'grep " /proc/sys " /proc/mounts | grep -q " ro[ ,]" || echo "proc/sys not read-only"',
      'mount -o remount,rw /sys 2>/dev/null && echo "remounted sys"',
      'umount /proc/sys 2>/dev/null && echo "unmounted proc/sys"; :',
    ].join('\n')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^\d$/); // only the count: no "visible", "writable", "not read-only" line
    expect(Number(r.stdout)).toBeLessThan(10);
  });

  it('a recipe step replaces /etc/resolv.conf (DNS works meanwhile) and its version stays in the cooked env', async () => {
    const dir = mkdtempSync(join(shared, 'recipe-'));
    const recipe = join(dir, 'dns.yaml');
    writeFileSync(recipe, `name: dns-${engine}\nfrom: bb\nsteps:\n  - run: ${JSON.stringify(`${notTheHostsResolvConf()}; grep -q . /etc/resolv.conf && ln -snf /lib/resolv.conf /etc/resolv.conf`)}\n`);
    const r = await as('root', ['cook', recipe, '--engine', engine]);
    expect(r.code, r.stderr).toBe(0);
    expect(readlinkSync(join(rootfsOf('root', `dns-${engine}`), 'etc/resolv.conf'))).toBe('/lib/resolv.conf');
  });

  // proot: its tracees outlive a proot killed with SIGKILL (README), and it makes no mount points
  if (engine === 'userns') it('a cake killed by SIGKILL takes its guest with it, and the next run removes the mount point it left', async () => {
    const src = mkdtempSync(join(shared, 'crash-'));
    chmodSync(src, 0o755);
    const n = engine === 'userns' ? '3161' : '3162';
    const victim = execa(CAKE, ['exec', 'bb', '--engine', engine, '--isolated', '--bind', `${src}:/mnt/cake-crash`, '--', 'sh', '-c', `echo ready; exec sleep ${n}`], {
      reject: false, stdin: 'ignore', env: { CAKE_HOME: homes.root.home, NO_COLOR: '1' },
    });
    await new Promise<void>((res) => victim.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && res()));
    victim.kill('SIGKILL');
    await victim;
    await new Promise((res) => setTimeout(res, 1000));
    expect(spawnSync('pgrep', ['-f', `^sleep ${n}$`]).status).toBe(1);
    const r = await as('root', ['exec', 'bb', '--engine', engine, '--isolated', '--', 'true']);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(rootfsOf('root', 'bb'), 'mnt/cake-crash'))).toBe(false);
  });

  it('a guest swapping /etc for a symlink to a host directory never makes cake write there', async () => {
    rmSync(join(proofDir, 'resolv.conf'), { force: true });
    const attacker = execa(CAKE, ['exec', 'race', '--engine', engine, '--isolated', '--', 'sh', '-c',
      // /etc is a real directory half the time and a symlink to a host directory the other half
      `ln -s ${proofDir} /etc.link; end=$(($(date +%s) + 40)); while [ $(date +%s) -lt $end ]; do for i in 1 2 3 4 5 6 7 8; do mv /etc /etc.real; mv /etc.link /etc; mv /etc /etc.link; mv /etc.real /etc; done; done`], {
      reject: false, stdin: 'ignore', env: { CAKE_HOME: homes.root.home, NO_COLOR: '1' },
    });
    await new Promise((res) => setTimeout(res, 1500));
    for (let i = 0; i < 40; i++) await as('root', ['exec', 'race', '--engine', engine, '--isolated', '--', 'true']);
    attacker.kill('SIGTERM');
    await attacker;
    expect(readdirSync(proofDir).filter((n) => !n.startsWith('planted'))).toEqual([]);
    const root = rootfsOf('root', 'race');
    // the attacker was stopped somewhere in its loop: put the real /etc back
    const names = ['etc', 'etc.real', 'etc.link'];
    const real = names.find((n) => lstatSync(join(root, n), { throwIfNoEntry: false })?.isDirectory());
    for (const n of names) if (lstatSync(join(root, n), { throwIfNoEntry: false })?.isSymbolicLink()) rmSync(join(root, n));
    if (real !== undefined && real !== 'etc') execFileSync('mv', [join(root, real), join(root, 'etc')]);
    expect(lstatSync(join(root, 'etc')).isDirectory()).toBe(true);
  }, 240_000);
});

