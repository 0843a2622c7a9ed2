import { chmodSync, copyFileSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { isatty } from 'node:tty';
import type { StdioOptions } from 'node:child_process';
import type { HostCommand } from './command.js';
import { createFileWithin, ensureWithin } from './env-fs.js';
import { findStaticBusybox, findUsernsTools } from './host-tools.js';
import type { RunPlan } from './plan.js';
import { prepareMountPoints } from './prepare.js';
import { buildProotCommand, type ProotTool } from './proot-argv.js';
import { createRunDir, sweepRuns, type CreatedEntry } from './run-dir.js';
import { buildUsernsCommand, usernsSetupScript, type UsernsLayout } from './userns-argv.js';

/** A guest ready to start: the host command, and what to undo once it has ended. */
export interface Launch {
  cmd: HostCommand;
  /** Removes the run's files from the env and its run directory. Idempotent; never throws. */
  finish(): void;
}

/** Whether a terminal is involved in a run: `tty`, or cake's own fds when the guest inherits them. */
export function involvesTerminal(tty: boolean, stdio?: StdioOptions): boolean {
  return tty || ((stdio === undefined || stdio === 'inherit') && [0, 1, 2].some((fd) => isatty(fd)));
}

/** The caller's terminal device (from fd 0, 1 or 2), shown to the guest as /dev/console. */
function terminalDevice(): string | undefined {
  for (const fd of [0, 1, 2]) {
    if (!isatty(fd)) continue;
    try {
      const p = readlinkSync(`/proc/self/fd/${fd}`);
      if (/^\/dev\/(pts\/\d+|tty\w*)$/.test(p)) return p;
    } catch {
      // not resolvable: no console
    }
  }
  return undefined;
}

/** Host mount points below /sys, from /proc/self/mountinfo (octal escapes decoded), parents first. */
export function sysSubmounts(mountinfo: string): string[] {
  const out = new Set<string>();
  for (const line of mountinfo.split('\n')) {
    const mp = line.split(' ')[4];
    if (mp === undefined) continue;
    const p = mp.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (p.startsWith('/sys/')) out.add(p);
  }
  return [...out].sort((a, b) => a.split('/').length - b.split('/').length);
}

/**
 * Prepares a run of `plan` on the chosen engine: sweeps what killed runs left (run-dir.ts), makes
 * this run's directory, writes the files the guest lacks (plan.files) and, for userns, the mount
 * points, all through the symlink-refusing walk of env-fs.ts, then builds the host command.
 * Whatever it created is recorded before the guest starts and removed by `finish`.
 */
export async function prepareLaunch(
  plan: RunPlan,
  engine: { engine: 'userns' | 'proot'; binary: string; proot?: ProotTool; seccomp?: boolean },
  deps: { cacheDir: string; hostEnv: Record<string, string | undefined>; terminal: boolean },
): Promise<Launch> {
  sweepRuns(deps.cacheDir);
  const run = createRunDir(deps.cacheDir, plan.root);
  try {
    const created: CreatedEntry[] = [];
    const uses: string[] = [];
    for (const f of plan.files ?? []) {
      for (const path of ensureWithin(plan.root, dirname(f.dst), 'dir')) created.push({ path });
      const st = createFileWithin(plan.root, f.dst, f.content);
      if (st !== undefined) created.push({ path: f.dst, ino: st.ino, size: st.size });
    }
    run.record([], created);
    const console = deps.terminal ? terminalDevice() : undefined;
    let cmd: HostCommand;
    if (engine.engine === 'userns') {
      const tools = await findUsernsTools(deps.hostEnv, engine.binary);
      const stages = { dev: run.dev, proc: join(run.dir, 'proc'), sys: join(run.dir, 'sys') };
      const mp = await prepareMountPoints(plan, stages);
      uses.push(mp.system.dev, mp.system.proc, mp.system.sys, ...mp.dsts);
      run.record(uses, mp.created);
      const layout: UsernsLayout = {
        runDir: run.dir,
        ...mp.system,
        dsts: mp.dsts,
        sysSubmounts: sysSubmounts(readFileSync('/proc/self/mountinfo', 'utf8')),
        ...(console !== undefined ? { console } : {}),
        terminal: deps.terminal,
      };
      const scriptFile = join(run.dir, 'setup.sh');
      writeFileSync(scriptFile, usernsSetupScript(plan, tools, layout), { mode: 0o600 });
      cmd = buildUsernsCommand(plan, tools, { ...layout, scriptFile });
    } else {
      // A copy for this run: proot cannot bind read-only, and what a guest does to a bound file
      // (rm, a write by a root caller) it does to the host's.
      const busybox = join(run.dev, '.cake/busybox');
      copyFileSync(await findStaticBusybox(deps.hostEnv), busybox);
      chmodSync(busybox, 0o555);
      cmd = buildProotCommand(plan, engine.proot!, engine.seccomp ?? false, {
        dev: run.dev,
        initRoot: run.initRoot,
        busybox,
        ...(console !== undefined ? { console } : {}),
      });
    }
    return { cmd, finish: () => {
      try {
        run.finish();
      } catch {
        // best effort: the next run sweeps what is left
      }
    } };
  } catch (err) {
    try {
      run.finish();
    } catch {
      // the next run sweeps it
    }
    throw err;
  }
}
