import { describe, expect, it } from 'vitest';
import type { RunPlan } from '../../../src/run/plan.js';
import { buildProotCommand, type ProotLayout } from '../../../src/run/proot-argv.js';
import { buildUsernsCommand, usernsSetupScript, type UsernsLayout } from '../../../src/run/userns-argv.js';

const plan = (over: Partial<RunPlan> = {}): RunPlan => ({
  root: '/envs/web/rootfs',
  argv: ['/bin/true'],
  cwd: '/',
  user: { name: 'root', uid: 0, gid: 0, home: '/root', shell: '/bin/sh' },
  env: { PATH: '/bin' },
  mounts: [{ src: '/data', dst: '/mnt/data', kind: 'dir', why: 'user', readonly: true }],
  ...over,
});
const tools = { unshare: '/usr/bin/unshare', setpriv: '/usr/bin/setpriv', env: '/usr/bin/env', dumbInit: '/usr/bin/dumb-init', busybox: '/bin/busybox' };
const layout: UsernsLayout = { runDir: '/c/runs/1', dev: '/dev', proc: '/proc', sys: '/sys', sysSubmounts: [], terminal: false };
const prootLayout: ProotLayout = { dev: '/c/runs/1/dev', initRoot: '/c/runs/1/proc-1', busybox: '/bin/busybox' };

describe('read-only binds and the hostname in the argv builders (cake run options)', () => {
  it('userns: a read-only bind is remounted ro right after its bind; the hostname gets a UTS namespace', () => {
    const p = plan({ hostname: 'web' });
    const script = usernsSetupScript(p, tools, layout);
    expect(script).toContain(`'/bin/busybox' mount -i --rbind '/data' '/envs/web/rootfs/mnt/data'\n'/bin/busybox' mount -i -o remount,bind,ro '/envs/web/rootfs/mnt/data'`);
    expect(script).toContain(`'/bin/busybox' hostname 'web'`);
    expect(buildUsernsCommand(p, tools, layout).args).toContain('--uts');
  });

  it('userns: no hostname, no UTS namespace (library callers such as cook steps)', () => {
    const c = buildUsernsCommand(plan({ mounts: [] }), tools, layout);
    expect(c.args).not.toContain('--uts');
  });

  it('proot refuses a read-only bind instead of making it writable', () => {
    const tool = { binary: '/usr/bin/proot', fork: 'proot-me' as const, killOnExit: false, env: {} };
    expect(() => buildProotCommand(plan(), tool, true, prootLayout)).toThrow(/cannot make a bind read-only/);
    expect(buildProotCommand(plan({ mounts: [] }), tool, true, prootLayout).args).toContain('/bin/true');
  });
});
