import { describe, expect, it } from 'vitest';
import { shQuote, splitLoaderVars } from '../../../src/run/command.js';
import type { RunPlan } from '../../../src/run/plan.js';
import { buildProotCommand, type ProotTool } from '../../../src/run/proot-argv.js';
import { buildUsernsCommand, HOST_HELPER_ENV } from '../../../src/run/userns-argv.js';
import { execFileSync } from 'node:child_process';

function plan(over: Partial<RunPlan> = {}): RunPlan {
  return {
    root: '/envs/deb/rootfs',
    argv: ['sh', '-c', 'echo "$HOME"'],
    cwd: '/root',
    user: { name: 'root', uid: 0, gid: 0, home: '/root', shell: '/bin/sh' },
    env: { PATH: '/usr/bin:/bin', HOME: '/root', TERM: 'xterm' },
    mounts: [
      { src: '/dev', dst: '/dev', kind: 'dir', why: 'system' },
      { src: '/proc', dst: '/proc', kind: 'dir', why: 'system' },
      { src: '/etc/resolv.conf', dst: '/etc/resolv.conf', kind: 'file', why: 'dns' },
      { src: '/data', dst: '/mnt/data', kind: 'dir', why: 'user' },
    ],
    ...over,
  };
}
const tool: ProotTool = { binary: '/usr/bin/proot', fork: 'proot-me', killOnExit: true, env: {} };

describe('buildProotCommand', () => {
  it('builds the full argv for root', () => {
    const c = buildProotCommand(plan(), tool, true);
    expect(c.file).toBe('/usr/bin/proot');
    expect(c.args).toEqual([
      '-v', '-1', '-r', '/envs/deb/rootfs', '-w', '/root', '-0', '--kill-on-exit',
      '-b', '/dev:/dev', '-b', '/proc:/proc', '-b', '/etc/resolv.conf:/etc/resolv.conf', '-b', '/data:/mnt/data',
      'sh', '-c', 'echo "$HOME"',
    ]);
    expect(c.env).toEqual({ PATH: '/usr/bin:/bin', HOME: '/root', TERM: 'xterm' });
  });
  it('turns seccomp off with PROOT_NO_SECCOMP and adds the tool env', () => {
    const c = buildProotCommand(plan(), { ...tool, env: { PROOT_LOADER: '/x/loader' } }, false);
    expect(c.env).toMatchObject({ PROOT_NO_SECCOMP: '1', PROOT_LOADER: '/x/loader' });
  });
  it('uses -i for --user, -k for an old kernel, -q for qemu, no --kill-on-exit when unsupported', () => {
    const c = buildProotCommand(
      plan({ user: { name: 'alice', uid: 1000, gid: 100, home: '/home/alice', shell: '/bin/sh' }, kernelRelease: '6.1.0', qemu: '/usr/bin/qemu-aarch64-static' }),
      { ...tool, killOnExit: false },
      true,
    );
    expect(c.args.slice(0, 13)).toEqual(['-v', '-1', '-r', '/envs/deb/rootfs', '-w', '/root', '-i', '1000:100', '-k', '6.1.0', '-q', '/usr/bin/qemu-aarch64-static', '-b']);
    expect(c.args).not.toContain('-0');
    expect(c.args).not.toContain('--kill-on-exit');
  });
  it('adds -L for the termux fork only', () => {
    expect(buildProotCommand(plan(), { ...tool, fork: 'termux' }, true).args).toContain('-L');
    expect(buildProotCommand(plan(), tool, true).args).not.toContain('-L');
  });
  it('sets LD_* through the guest env program', () => {
    const c = buildProotCommand(plan({ env: { PATH: '/bin', LD_PRELOAD: '/usr/lib/libfakeroot.so' }, guestEnvProgram: '/usr/bin/env' }), tool, true);
    expect(c.env).toEqual({ PATH: '/bin' });
    expect(c.args.slice(-5)).toEqual(['/usr/bin/env', 'LD_PRELOAD=/usr/lib/libfakeroot.so', 'sh', '-c', 'echo "$HOME"']);
  });
});

describe('buildUsernsCommand', () => {
  const tools = { unshare: '/usr/bin/unshare', sh: '/bin/sh', mount: '/bin/mount', env: '/usr/bin/env' };
  it('is one exec chain: outer unshare, mounts, env -i, inner unshare --root', () => {
    const c = buildUsernsCommand(plan(), tools, ['/dev', '/proc', '/run/resolv.conf', '/mnt/data']);
    expect(c.file).toBe('/usr/bin/unshare');
    expect(c.args.slice(0, 6)).toEqual(['--user', '--map-root-user', '--mount', '--', '/bin/sh', '-c']);
    expect(c.args.slice(7)).toEqual(['cake', 'sh', '-c', 'echo "$HOME"']);
    expect(c.env).toEqual(HOST_HELPER_ENV);
    const script = c.args[6]!;
    expect(script.split('\n')).toEqual([
      'set -e',
      "'/bin/mount' --rbind '/dev' '/envs/deb/rootfs/dev'",
      "'/bin/mount' --rbind '/proc' '/envs/deb/rootfs/proc'",
      "'/bin/mount' --rbind '/etc/resolv.conf' '/envs/deb/rootfs/run/resolv.conf'",
      "'/bin/mount' --rbind '/data' '/envs/deb/rootfs/mnt/data'",
      `exec '/usr/bin/env' -i -- 'PATH=/usr/bin:/bin' 'HOME=/root' 'TERM=xterm' '/usr/bin/unshare' '--root=/envs/deb/rootfs' '--wd=/root' -- "$@"`,
    ]);
  });
  it('maps --user through a nested user namespace', () => {
    const c = buildUsernsCommand(plan({ user: { name: 'alice', uid: 1000, gid: 100, home: '/home/alice', shell: '/bin/sh' }, mounts: [] }), tools);
    expect(c.args[6]).toContain("'/usr/bin/unshare' --user --map-user=1000 --map-group=100 '--root=/envs/deb/rootfs'");
  });
  it('quotes hostile values so sh sees them verbatim', () => {
    const nasty = `a'b "$(touch /tmp/pwned)" \`x\` \\ $HOME`;
    const c = buildUsernsCommand(plan({ env: { X: nasty }, mounts: [{ src: `/we'ird dir`, dst: '/m', kind: 'dir', why: 'user' }] }), {
      ...tools,
      mount: '/bin/echo',
      env: '/usr/bin/env',
      unshare: '/usr/bin/printenv',
    });
    // Run the script with harmless stand-ins: echo for mount, printenv X for the inner unshare.
    const script = c.args[6]!.replace("'--root=/envs/deb/rootfs' '--wd=/root' -- \"$@\"", 'X');
    const out = execFileSync('/bin/sh', ['-c', script], { encoding: 'utf8' });
    expect(out).toBe(`--rbind /we'ird dir /envs/deb/rootfs/m\n${nasty}\n`);
  });
  it('shQuote round-trips through sh', () => {
    for (const w of ["it's", '', '$(x)', "'"]) expect(execFileSync('/bin/sh', ['-c', `printf %s ${shQuote(w)}`], { encoding: 'utf8' })).toBe(w);
  });
});

describe('splitLoaderVars', () => {
  it('moves LD_* inside only when the guest has an env program', () => {
    expect(splitLoaderVars({ A: '1', LD_LIBRARY_PATH: '/x' }, undefined)).toEqual({ outer: { A: '1', LD_LIBRARY_PATH: '/x' }, inner: [] });
    expect(splitLoaderVars({ A: '1', LD_LIBRARY_PATH: '/x' }, '/bin/env')).toEqual({ outer: { A: '1' }, inner: ['/bin/env', 'LD_LIBRARY_PATH=/x'] });
    expect(splitLoaderVars({ A: '1' }, '/bin/env')).toEqual({ outer: { A: '1' }, inner: [] });
  });
});
