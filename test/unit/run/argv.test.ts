import { describe, expect, it } from 'vitest';
import { guestCommandWords, shQuote } from '../../../src/run/command.js';
import type { RunPlan } from '../../../src/run/plan.js';
import { buildProotCommand, type ProotLayout, type ProotTool } from '../../../src/run/proot-argv.js';
import { buildUsernsCommand, fstabLine, HOST_HELPER_ENV, usernsSetupScript, type UsernsLayout } from '../../../src/run/userns-argv.js';
import { execFileSync } from 'node:child_process';

function plan(over: Partial<RunPlan> = {}): RunPlan {
  return {
    root: '/envs/deb/rootfs',
    argv: ['/bin/sh', '-c', 'echo "$HOME"'],
    cwd: '/root',
    user: { name: 'root', uid: 0, gid: 0, home: '/root', shell: '/bin/sh' },
    env: { PATH: '/usr/bin:/bin', HOME: '/root', TERM: 'xterm', LD_PRELOAD: '/x.so' },
    mounts: [
      { src: '/tmp', dst: '/tmp', kind: 'dir', why: 'tmp' },
      { src: '/data', dst: '/mnt/data', kind: 'dir', why: 'user' },
    ],
    ...over,
  };
}
const tool: ProotTool = { binary: '/usr/bin/proot', fork: 'proot-me', killOnExit: true, env: {} };
const prootLayout: ProotLayout = { dev: '/c/runs/1/dev', initRoot: '/c/runs/1/proc-1', busybox: '/usr/bin/busybox' };
const guestTail = ['/dev/.cake/busybox', 'env', '-i', 'PATH=/usr/bin:/bin', 'HOME=/root', 'TERM=xterm', 'LD_PRELOAD=/x.so', '/bin/sh', '-c', 'echo "$HOME"'];

describe('guestCommandWords', () => {
  it('hands the whole guest environment to the static helper, as arguments', () => {
    expect(guestCommandWords({ A: '1', LD_PRELOAD: '/y' }, ['/bin/true'])).toEqual(['/dev/.cake/busybox', 'env', '-i', 'A=1', 'LD_PRELOAD=/y', '/bin/true']);
  });
});

describe('buildProotCommand', () => {
  it('builds the full argv for root: private /dev, /proc/1/root, the helper, then the binds', () => {
    const c = buildProotCommand(plan(), tool, true, prootLayout);
    expect(c.file).toBe('/usr/bin/proot');
    expect(c.args).toEqual([
      '-v', '-1', '-r', '/envs/deb/rootfs', '-w', '/root', '-0', '--kill-on-exit',
      '-b', '/c/runs/1/dev:/dev',
      ...['null', 'zero', 'full', 'random', 'urandom', 'tty'].flatMap((n) => ['-b', `/dev/${n}:/dev/${n}`]),
      '-b', '/dev/pts:/dev/pts', '-b', '/usr/bin/busybox:/dev/.cake/busybox',
      '-b', '/proc:/proc', '-b', '/c/runs/1/proc-1:/proc/1', '-b', '/sys:/sys',
      '-b', '/tmp:/tmp', '-b', '/data:/mnt/data',
      ...guestTail,
    ]);
    // proot itself gets cake's environment, never the guest's
    expect(c.env).toEqual(HOST_HELPER_ENV);
  });
  it('turns seccomp off with PROOT_NO_SECCOMP and adds the tool env (for proot only)', () => {
    const c = buildProotCommand(plan(), { ...tool, env: { PROOT_LOADER: '/x/loader' } }, false, prootLayout);
    expect(c.env).toEqual({ ...HOST_HELPER_ENV, PROOT_NO_SECCOMP: '1', PROOT_LOADER: '/x/loader' });
  });
  it('uses -i for --user, -k for an old kernel, -q for qemu, no --kill-on-exit when unsupported', () => {
    const c = buildProotCommand(
      plan({ user: { name: 'alice', uid: 1000, gid: 100, home: '/home/alice', shell: '/bin/sh' }, kernelRelease: '6.1.0', qemu: '/usr/bin/qemu-aarch64-static' }),
      { ...tool, killOnExit: false },
      true,
      { ...prootLayout, console: '/dev/pts/7' },
    );
    expect(c.args.slice(0, 13)).toEqual(['-v', '-1', '-r', '/envs/deb/rootfs', '-w', '/root', '-i', '1000:100', '-k', '6.1.0', '-q', '/usr/bin/qemu-aarch64-static', '-b']);
    expect(c.args).not.toContain('-0');
    expect(c.args).not.toContain('--kill-on-exit');
    expect(c.args).toContain('/dev/pts/7:/dev/console');
  });
  it('adds -L for the termux fork only', () => {
    expect(buildProotCommand(plan(), { ...tool, fork: 'termux' }, true, prootLayout).args).toContain('-L');
    expect(buildProotCommand(plan(), tool, true, prootLayout).args).not.toContain('-L');
  });
});

describe('buildUsernsCommand', () => {
  const tools = { unshare: '/usr/bin/unshare', setpriv: '/usr/bin/setpriv', env: '/usr/bin/env', dumbInit: '/usr/bin/dumb-init', busybox: '/usr/bin/busybox' };
  const layout: UsernsLayout = { runDir: '/c/runs/1', dev: '/dev', proc: '/proc', sys: '/sys', dsts: ['/tmp', '/run/data'], sysSubmounts: ['/sys/fs/cgroup'], terminal: false };
  it('is one exec chain: setpriv, unshare, two dumb-inits, the setup shell, env -i, inner unshare, the helper', () => {
    const c = buildUsernsCommand(plan(), tools, layout);
    expect(c.file).toBe('/usr/bin/setpriv');
    expect(c.env).toEqual(HOST_HELPER_ENV);
    const sh = c.args.indexOf('sh');
    expect(c.args.slice(0, sh)).toEqual([
      '--pdeathsig', 'KILL', '--', '/usr/bin/unshare', '--user', '--map-root-user', '--mount', '--pid', '--',
      '/usr/bin/dumb-init', '-c', '--', '/usr/bin/setpriv', '--pdeathsig', 'KILL', '--', '/usr/bin/dumb-init', '-c', '--', '/usr/bin/busybox',
    ]);
    expect(c.args.slice(sh + 3)).toEqual([
      'cake', '/usr/bin/env', '-i', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'LC_ALL=C',
      '/usr/bin/setpriv', '--bounding-set=-sys_admin', '--', '/usr/bin/unshare', '--root=/envs/deb/rootfs', '--wd=/root', '--', ...guestTail,
    ]);
    const script = c.args[sh + 2]!.split('\n');
    expect(script[0]).toBe('set -e');
    expect(script).toContain(`'/usr/bin/busybox' mount -i -t proc -o nosuid,nodev,noexec proc "$R/proc"`);
    expect(script).toContain(`'/usr/bin/busybox' mount -i -o remount,bind,ro "$R"'/sys/fs/cgroup' 2>/dev/null || :`);
    // the finished trees go in with one call each, then the binds, at the resolved destinations
    expect(script.slice(-6)).toEqual([
      `'/usr/bin/busybox' mount -i --move "$R/proc" '/envs/deb/rootfs/proc'`,
      `'/usr/bin/busybox' mount -i --rbind "$R/dev" '/envs/deb/rootfs/dev'`,
      `'/usr/bin/busybox' mount -i --move "$R/sys" '/envs/deb/rootfs/sys'`,
      `'/usr/bin/busybox' mount -i --rbind '/tmp' '/envs/deb/rootfs/tmp'`,
      `'/usr/bin/busybox' mount -i --rbind '/data' '/envs/deb/rootfs/run/data'`,
      'exec "$@"',
    ]);
    // no guest variable is in the script (it runs on the host)
    expect(c.args[sh + 2]).not.toContain('LD_PRELOAD');
  });
  it('runs the setup from a file when given one', () => {
    const c = buildUsernsCommand(plan(), tools, { ...layout, scriptFile: '/c/runs/1/setup.sh' });
    const sh = c.args.indexOf('sh');
    expect(c.args.slice(sh, sh + 3)).toEqual(['sh', '/c/runs/1/setup.sh', '/usr/bin/env']);
    expect(usernsSetupScript(plan(), tools, layout).split('\n').pop()).toBe('exec "$@"');
  });
  it('maps --user through the nested user namespace, and skips terminal signals with a terminal', () => {
    const c = buildUsernsCommand(plan({ user: { name: 'alice', uid: 1000, gid: 100, home: '/home/alice', shell: '/bin/sh' }, mounts: [] }), tools, { ...layout, terminal: true });
    expect(c.args).toContain('--map-user=1000');
    expect(c.args).toContain('--map-group=100');
    expect(c.args.filter((a) => a === '-r')).toHaveLength(6);
    expect(c.args).toContain('2:0');
  });
  it('quotes hostile paths so sh sees them verbatim', () => {
    const c = buildUsernsCommand(plan({ mounts: [{ src: `/we'ird dir "$(touch /tmp/pwned)"`, dst: '/m', kind: 'dir', why: 'user' }] }), { ...tools, busybox: '/bin/echo' }, { ...layout, runDir: '/nonexistent', dsts: undefined });
    const script = c.args[c.args.indexOf('sh') + 2]!.replace('set -e', '').replace(/^for p .*$/m, '').replace('exec "$@"', '');
    const out = execFileSync('/bin/sh', ['-c', script], { encoding: 'utf8' });
    expect(out.split('\n')).toContain(`mount -i --rbind /we'ird dir "$(touch /tmp/pwned)" /envs/deb/rootfs/m`);
  });
  it('mounts the private /dev and /sys in one mount -a call, before making them read-only', () => {
    const script = usernsSetupScript(plan(), tools, { ...layout, runDir: '/c/my runs/1', console: '/dev/pts/7' }).split('\n');
    const start = script.indexOf(`'/usr/bin/busybox' mount -i -a -T /dev/fd/0 <<'CAKE_FSTAB_END'`);
    const end = script.indexOf('CAKE_FSTAB_END');
    expect(script.slice(start + 1, end)).toEqual([
      ...['null', 'zero', 'full', 'random', 'urandom', 'tty'].map((n) => `/dev/${n} /c/my\\040runs/1/dev/${n} none bind 0 0`),
      '/dev/pts/7 /c/my\\040runs/1/dev/console none bind 0 0',
      'devpts /c/my\\040runs/1/dev/pts devpts newinstance,ptmxmode=0666,mode=0620 0 0',
      'tmpfs /c/my\\040runs/1/dev/shm tmpfs nosuid,nodev,mode=1777 0 0',
      '/usr/bin/busybox /c/my\\040runs/1/dev/.cake/busybox none bind 0 0',
      '/sys /c/my\\040runs/1/sys none rbind 0 0',
    ]);
    expect(script.slice(end + 1, end + 3)).toEqual([`'/usr/bin/busybox' mount -i -o remount,bind,ro "$R/dev/.cake/busybox"`, `'/usr/bin/busybox' mount -i -o remount,bind,ro "$R/sys"`]);
  });
  it('fstabLine escapes what getmntent splits on, so no path ends a field, a line or the here-document', () => {
    expect(fstabLine('/a b\tc', '/x\ny\\z', 'none', 'bind')).toBe('/a\\040b\\011c /x\\012y\\134z none bind 0 0');
    expect(fstabLine('/we\'ird "$(x)"', '/m', 'none', 'rbind').split('\n')).toHaveLength(1);
  });
  it('shQuote round-trips through sh', () => {
    for (const w of ["it's", '', '$(x)', "'"]) expect(execFileSync('/bin/sh', ['-c', `printf %s ${shQuote(w)}`], { encoding: 'utf8' })).toBe(w);
  });
});
