/**
 * The ownership recorder's faked-sysv dies with cake (issue 15 item 10): `cake exec` killed with
 * SIGKILL in the middle of a command leaves no faked-sysv running and no message queue of it
 * (PR_SET_PDEATHSIG through `setpriv --pdeathsig TERM`). A glibc env (Debian minbase written by
 * mmdebstrap, imported) so that the standard fakeroot kit records ownership.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAKE, cake, freshHome } from '../../helpers/cli.js';
import { debianMinbaseTarball } from '../../helpers/debian-minbase.js';

/** Processes whose command line runs `faked-sysv` from under `home`. */
function fakedUnder(home: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'latin1');
      if (cmd.includes(home) && cmd.includes('faked-sysv')) out.push(Number(p));
    } catch {
      // gone
    }
  }
  return out;
}

/** Ids of the SysV message queues that exist now. */
function queues(): Set<string> {
  const ids = readFileSync('/proc/sysvipc/msg', 'utf8').trim().split('\n').slice(1).map((l) => l.trim().split(/\s+/)[1]!);
  return new Set(ids);
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

describe('faked-sysv dies with cake (built CLI)', () => {
  let h: { home: string; cleanup(): void };
  beforeAll(async () => {
    h = freshHome('cake-faked-dies-');
    const imp = await cake(h.home, ['import', debianMinbaseTarball(), '--name', 'deb']);
    expect(imp.code, imp.stderr).toBe(0);
    // the first exec fetches the standard fakeroot kit
    const first = await cake(h.home, ['exec', 'deb', '--', 'true'], { timeout: 300_000 });
    expect(first.code, first.stderr).toBe(0);
  }, 600_000);
  afterAll(() => h?.cleanup());

  it('kill -9 of cake during an exec leaves no faked-sysv and no message queue', async () => {
    const before = queues();
    const child = spawn(CAKE, ['exec', 'deb', '--', 'sleep', '60'], { env: { ...process.env, CAKE_HOME: h.home, NO_COLOR: '1' }, stdio: 'ignore' });
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    // the command runs under libfakeroot once faked is up and the guest's sleep exists
    const sleeping = (): boolean => readdirSync('/proc').some((p) => {
      try {
        return /^\d+$/.test(p) && readFileSync(`/proc/${p}/cmdline`, 'latin1').startsWith('/usr/bin/sleep\x0060') && readlinkSync(`/proc/${p}/root`).includes(h.home);
      } catch {
        return false;
      }
    });
    expect(await until(() => fakedUnder(h.home).length === 1 && sleeping(), 60_000)).toBe(true);
    const faked = fakedUnder(h.home)[0]!;
    // the cake process is the node under bin/cake (a shell wrapper may sit between)
    const node = Number(readFileSync(`/proc/${faked}/stat`, 'latin1').split(') ')[1]!.split(' ')[1]);
    expect(readFileSync(`/proc/${node}/cmdline`, 'latin1')).toContain('cake');
    const mine = [...queues()].filter((q) => !before.has(q));
    expect(mine.length).toBeGreaterThan(0);
    process.kill(node, 'SIGKILL');
    await exited;
    expect(await until(() => fakedUnder(h.home).length === 0, 2_000), `faked ${faked} outlived cake`).toBe(true);
    expect(await until(() => mine.every((q) => !queues().has(q)), 2_000), 'faked left its message queues').toBe(true);
    expect(await until(() => !sleeping(), 2_000), 'the guest command outlived cake').toBe(true);
    // the next exec works
    const again = await cake(h.home, ['exec', 'deb', '--', 'true']);
    expect(again.code, again.stderr).toBe(0);
  }, 120_000);
});
