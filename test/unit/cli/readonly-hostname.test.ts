import { describe, expect, it } from 'vitest';
import type { RunPlan } from '../../../src/run/plan.js';
import { buildProotCommand } from '../../../src/run/proot-argv.js';
import { buildUsernsCommand } from '../../../src/run/userns-argv.js';

const plan = (over: Partial<RunPlan> = {}): RunPlan => ({
  root: '/envs/web/rootfs',
  argv: ['/bin/true'],
  cwd: '/',
  user: { name: 'root', uid: 0, gid: 0, home: '/root', shell: '/bin/sh' },
  env: { PATH: '/bin' },
  mounts: [
    { src: '/dev', dst: '/dev', kind: 'dir', why: 'system' },
    { src: '/data', dst: '/mnt/data', kind: 'dir', why: 'user', readonly: true },
  ],
  ...over,
});
const tools = { unshare: '/usr/bin/unshare', sh: '/bin/sh', mount: '/usr/bin/mount', env: '/usr/bin/env', hostname: '/bin/hostname' };

describe('read-only binds and the hostname in the argv builders (cake run options)', () => {
  it('userns: a read-only bind is remounted ro right after its bind; the hostname gets a UTS namespace', () => {
    const c = buildUsernsCommand(plan({ hostname: 'web' }), tools);
    const script = c.args[c.args.indexOf('-c') + 1]!;
    expect(script).toContain(`'/usr/bin/mount' --rbind '/data' '/envs/web/rootfs/mnt/data'\n'/usr/bin/mount' -o remount,bind,ro '/envs/web/rootfs/mnt/data'`);
    expect(script.match(/remount/g)).toHaveLength(1);
    expect(script).toContain(`'/bin/hostname' 'web'`);
    expect(c.args.slice(0, 4)).toEqual(['--user', '--map-root-user', '--mount', '--uts']);
  });

  it('userns: no hostname, no UTS namespace (library callers such as cook steps)', () => {
    const c = buildUsernsCommand(plan({ mounts: [] }), tools);
    expect(c.args).not.toContain('--uts');
  });

  it('proot refuses a read-only bind instead of making it writable', () => {
    const tool = { binary: '/usr/bin/proot', fork: 'proot-me' as const, killOnExit: false, env: {} };
    expect(() => buildProotCommand(plan(), tool, true)).toThrow(/cannot make a bind read-only/);
    expect(buildProotCommand(plan({ mounts: [] }), tool, true).args).toContain('/bin/true');
  });
});
