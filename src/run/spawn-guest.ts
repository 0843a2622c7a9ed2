import { spawn, type StdioOptions } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { constants } from 'node:os';
import { isatty } from 'node:tty';
import { CakeError } from '../model/errors.js';
import type { Logger } from '../model/logger.js';
import type { HostCommand } from './command.js';

/** Signals relayed to the guest whatever the terminal situation. */
const RELAYED = ['SIGTERM', 'SIGHUP', 'SIGUSR1', 'SIGUSR2'] as const;
/**
 * Signals a terminal sends to its whole foreground process group (cake and the guest alike):
 * relaying them too would deliver them twice, so with a terminal cake only notes and ignores them.
 */
const TERMINAL = ['SIGINT', 'SIGQUIT', 'SIGWINCH'] as const;

export interface SpawnGuestOptions {
  /** `enter`: the guest owns the terminal. Also implied when any of fds 0-2 is a terminal. */
  tty: boolean;
  /**
   * Where relayed signals go: `child` when the spawned process becomes the guest (userns exec
   * chain); `proot-tracee` when the guest is proot's first child (proot ignores SIGTERM, SIGINT,
   * SIGHUP... and reports a guest's death by signal as exit status 255).
   */
  target: 'child' | 'proot-tracee';
  logger: Logger;
  signal?: AbortSignal;
  stdio?: StdioOptions;
  /** Grace period between SIGTERM and SIGKILL when `signal` aborts. */
  killAfterMs?: number;
}

/** 128 + the signal's number, the shell convention for "killed by a signal". Pure. */
export function signalExitCode(signal: NodeJS.Signals | string): number {
  const n = (constants.signals as Record<string, number>)[signal];
  return 128 + (n ?? 0);
}

/** The first child of `pid`, from /proc (the children file, else a scan of every process's ppid). */
export async function firstChildPid(pid: number): Promise<number | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8');
    const first = text.trim().split(/\s+/)[0];
    if (first) return Number(first);
    return undefined;
  } catch {
    // kernels without CONFIG_PROC_CHILDREN: scan
  }
  const found: number[] = [];
  for (const name of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[1]) === pid) found.push(Number(name));
  }
  return found.sort((a, b) => a - b)[0];
}

/**
 * Starts `cmd` with cake's stdio (by default) and resolves with the guest's exit code, 128+N when
 * it died of signal N. While it runs cake relays SIGTERM, SIGHUP, SIGUSR1 and SIGUSR2 to the
 * guest; SIGINT, SIGQUIT and SIGWINCH are relayed only when no terminal is involved, and
 * otherwise merely ignored by cake (the terminal already delivered them to the guest, which
 * stays in cake's foreground process group so it can read the terminal). Handlers are removed
 * when the guest exits. An abort of `signal` sends SIGTERM, then SIGKILL after a grace period,
 * and rejects with CakeError('interrupted'). A failure to start is CakeError('engine').
 */
export function spawnGuest(cmd: HostCommand, o: SpawnGuestOptions): Promise<number> {
  const terminal = o.tty || [0, 1, 2].some((fd) => isatty(fd));
  return new Promise<number>((resolve, reject) => {
    if (o.signal?.aborted) {
      reject(new CakeError('interrupted', 'interrupted'));
      return;
    }
    const child = spawn(cmd.file, cmd.args, { env: cmd.env, stdio: o.stdio ?? 'inherit', cwd: '/' });
    let lastSignal: NodeJS.Signals | undefined;
    let aborted = false;
    let killTimer: NodeJS.Timeout | undefined;

    const deliver = async (sig: NodeJS.Signals): Promise<void> => {
      let pid = child.pid;
      if (o.target === 'proot-tracee' && pid !== undefined) {
        // The tracee may not exist yet right after spawn: look a few times.
        let tracee: number | undefined;
        for (let i = 0; i < 20 && tracee === undefined && child.exitCode === null; i++) {
          tracee = await firstChildPid(pid);
          if (tracee === undefined) await new Promise((r) => setTimeout(r, 25));
        }
        pid = tracee;
      }
      if (pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(pid, sig);
      } catch {
        // already gone
      }
    };

    const handlers = new Map<NodeJS.Signals, () => void>();
    for (const sig of [...RELAYED, ...TERMINAL]) {
      const relay = !terminal || (RELAYED as readonly string[]).includes(sig);
      const h = (): void => {
        if (sig !== 'SIGWINCH') lastSignal = sig;
        if (relay) void deliver(sig);
      };
      handlers.set(sig, h);
      process.on(sig, h);
    }
    const onAbort = (): void => {
      aborted = true;
      lastSignal = 'SIGTERM';
      void deliver('SIGTERM');
      killTimer = setTimeout(() => {
        void deliver('SIGKILL');
        child.kill('SIGKILL');
      }, o.killAfterMs ?? 5000);
    };
    o.signal?.addEventListener('abort', onAbort, { once: true });

    const cleanup = (): void => {
      for (const [sig, h] of handlers) process.removeListener(sig, h);
      o.signal?.removeEventListener('abort', onAbort);
      if (killTimer) clearTimeout(killTimer);
    };
    child.once('error', (err) => {
      cleanup();
      reject(new CakeError('engine', `cannot start ${cmd.file}: ${err.message}`, { cause: err }));
    });
    child.once('exit', (code, signal) => {
      cleanup();
      if (aborted) {
        reject(new CakeError('interrupted', 'interrupted'));
        return;
      }
      if (signal !== null) {
        resolve(signalExitCode(signal));
      } else if (o.target === 'proot-tracee' && code === 255 && lastSignal !== undefined) {
        // proot exits 255 when its tracee was killed by a signal; the signal cake saw is the best account.
        o.logger.debug(`proot exited 255 after ${lastSignal}: reporting a death by that signal`);
        resolve(signalExitCode(lastSignal));
      } else {
        resolve(code ?? 1);
      }
    });
  });
}
