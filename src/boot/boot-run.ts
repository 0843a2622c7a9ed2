/**
 * Running QEMU for `cake boot`. The console always passes through cake, which copies it to stdout
 * and watches it, and passes stdin to the guest: when stdin is a terminal it is put in raw mode
 * (every key goes to the guest; QEMU's serial/monitor multiplexer takes Ctrl-A X to quit and
 * Ctrl-A C for the monitor) and given back as it was at the end. The guest is stopped when
 * `--expect` TEXT appears (exit 0), when the timeout passes (exit 1), when the watchdog sees no
 * console output for its time before a login prompt appeared (exit 1, "the guest looks hung"), or
 * when cake itself is interrupted (the signal is passed on). QEMU dies with cake: it runs under
 * `setpriv --pdeathsig` where util-linux has it.
 */
import { spawn } from 'node:child_process';
import type { Writable } from 'node:stream';

export interface RunOptions {
  qemu: string;
  args: string[];
  /** Wrap QEMU in `setpriv --pdeathsig SIGKILL` (path of setpriv) so it cannot outlive cake. */
  setpriv?: string;
  /** stdin is a terminal: raw mode while the guest runs. */
  interactive: boolean;
  expect?: string;
  timeoutSeconds?: number;
  /** Stop the guest when the console is silent this long before a login prompt. */
  watchdogSeconds?: number;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  stdout: Writable;
  /** Where QEMU's own messages go. */
  stderr: Writable;
  /** Reports on stderr. */
  say(message: string): void;
}

export interface RunOutcome {
  /** The exit code for cake. */
  code: number;
  reason: 'expected' | 'timeout' | 'watchdog' | 'exited' | 'signal';
}

/** Strips ANSI escape sequences (so TEXT matches what a person reads on the console). */
export function stripAnsi(s: string): string {
  return s.replace(/\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>78cDEHMZ]/g, '');
}

/** A matcher over a stream of console chunks that finds TEXT even when it is split between chunks. */
export function consoleMatcher(text: string): (chunk: string) => boolean {
  let tail = '';
  return (chunk) => {
    const hay = tail + stripAnsi(chunk);
    if (hay.includes(text)) return true;
    tail = hay.slice(-Math.max(text.length * 2, 64));
    return false;
  };
}

export function runQemu(o: RunOptions): Promise<RunOutcome> {
  return new Promise((resolve) => {
    const argv = o.setpriv !== undefined ? [o.setpriv, ['--pdeathsig', 'SIGKILL', '--', o.qemu, ...o.args]] as const : ([o.qemu, o.args] as const);
    const child = spawn(argv[0], [...argv[1]], { stdio: ['pipe', 'pipe', 'pipe'] });
    let outcome: RunOutcome | undefined;
    // QEMU's own messages go on to stderr, except its note that cake stopped it.
    let errTail = '';
    child.stderr?.on('data', (c: Buffer) => {
      const lines = (errTail + c.toString('utf8')).split('\n');
      errTail = lines.pop() ?? '';
      for (const l of lines) if (!(outcome !== undefined && /terminating on signal \d+/.test(l))) o.stderr.write(`${l}\n`);
    });
    const raw = o.interactive && typeof o.stdin.setRawMode === 'function';
    const unraw = (): void => {
      if (raw) o.stdin.setRawMode?.(false);
    };
    const stop = (result: RunOutcome): void => {
      if (outcome !== undefined) return;
      outcome = result;
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 5000).unref();
    };
    const say = (m: string): void => {
      unraw();
      o.say(raw ? `\r\n${m}` : m);
    };
    const onSignal = (): void => stop({ code: 130, reason: 'signal' });
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    process.on('SIGHUP', onSignal);
    const timers: NodeJS.Timeout[] = [];
    if (o.timeoutSeconds !== undefined) {
      timers.push(setTimeout(() => {
        say(o.expect !== undefined ? `"${o.expect}" did not appear on the console within ${o.timeoutSeconds} s` : `stopping the guest after ${o.timeoutSeconds} s`);
        stop({ code: 1, reason: 'timeout' });
      }, o.timeoutSeconds * 1000));
    }
    let lastOutput = Date.now();
    let atLogin = false;
    const login = consoleMatcher('login:');
    if (o.watchdogSeconds !== undefined) {
      const limit = o.watchdogSeconds * 1000;
      const dog = setInterval(() => {
        if (atLogin || Date.now() - lastOutput < limit) return;
        say(`the guest printed nothing for ${o.watchdogSeconds} s before a login prompt: it looks hung, stopping it (--watchdog SECONDS waits longer, 0 never stops it)`);
        stop({ code: 1, reason: 'watchdog' });
      }, Math.min(1000, limit));
      timers.push(dog);
    }
    // a closed stdout (a pipe whose reader left) stops the guest instead of killing cake
    o.stdout.on('error', () => stop({ code: 1, reason: 'exited' }));
    const match = o.expect !== undefined ? consoleMatcher(o.expect) : undefined;
    child.stdout?.on('data', (c: Buffer) => {
      lastOutput = Date.now();
      o.stdout.write(c);
      const text = c.toString('utf8');
      if (!atLogin && login(text)) atLogin = true;
      if (match?.(text)) {
        say(`saw "${o.expect}" on the console: stopping the guest`);
        stop({ code: 0, reason: 'expected' });
      }
    });
    const toGuest = (c: Buffer): void => {
      if (child.stdin?.writable) child.stdin.write(c);
    };
    if (raw) o.stdin.setRawMode?.(true);
    o.stdin.on('data', toGuest);
    if ('resume' in o.stdin && typeof o.stdin.resume === 'function') o.stdin.resume();
    o.stdin.on('error', () => {});
    child.stdin?.on('error', () => {});
    child.on('error', (err) => {
      say(`cannot start QEMU: ${err.message}`);
      stop({ code: 1, reason: 'exited' });
    });
    child.on('close', (code, sig) => {
      for (const t of timers) clearTimeout(t);
      unraw();
      o.stdin.off('data', toGuest);
      if (errTail !== '' && !/terminating on signal/.test(errTail)) o.stderr.write(`${errTail}\n`);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.off('SIGHUP', onSignal);
      if ('pause' in o.stdin && typeof o.stdin.pause === 'function') o.stdin.pause();
      if (outcome === undefined) {
        if (o.expect !== undefined) o.say(`QEMU exited (${sig ?? `status ${code}`}) before "${o.expect}" appeared`);
        outcome = { code: o.expect !== undefined ? 1 : (code ?? 1), reason: 'exited' };
      }
      resolve(outcome);
    });
  });
}
