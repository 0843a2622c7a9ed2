/**
 * Running QEMU for `cake boot`: interactively (the serial console is the terminal: QEMU's own
 * stdio in raw mode, Ctrl-A X quits) or scripted (`--expect TEXT`: the console is copied to
 * stdout and watched; stdin goes to the guest). The guest is stopped when TEXT appears (exit 0),
 * when the timeout passes (exit 1), or when cake itself is interrupted (the signal is passed on).
 * QEMU dies with cake: it runs under `setpriv --pdeathsig` where util-linux has it.
 */
import { spawn } from 'node:child_process';
import type { Writable } from 'node:stream';

export interface RunOptions {
  qemu: string;
  args: string[];
  /** Wrap QEMU in `setpriv --pdeathsig SIGKILL` (path of setpriv) so it cannot outlive cake. */
  setpriv?: string;
  interactive: boolean;
  expect?: string;
  timeoutSeconds?: number;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  stdout: Writable;
  /** Where QEMU's own messages go. */
  stderr: Writable;
  /** Reports on stderr. */
  say(message: string): void;
}

export interface RunOutcome {
  /** The exit code for cake. */
  code: number;
  reason: 'expected' | 'timeout' | 'exited' | 'signal';
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
    const child = spawn(argv[0], [...argv[1]], { stdio: o.interactive ? ['inherit', 'inherit', 'pipe'] : ['pipe', 'pipe', 'pipe'] });
    let outcome: RunOutcome | undefined;
    // QEMU's own messages go on to stderr, except its note that cake stopped it.
    let errTail = '';
    child.stderr?.on('data', (c: Buffer) => {
      const lines = (errTail + c.toString('utf8')).split('\n');
      errTail = lines.pop() ?? '';
      for (const l of lines) if (!(outcome !== undefined && /terminating on signal \d+/.test(l))) o.stderr.write(`${l}\n`);
    });
    const stop = (result: RunOutcome): void => {
      if (outcome !== undefined) return;
      outcome = result;
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 5000).unref();
    };
    const onSignal = (): void => stop({ code: 130, reason: 'signal' });
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    process.on('SIGHUP', onSignal);
    let timer: NodeJS.Timeout | undefined;
    if (o.timeoutSeconds !== undefined) {
      timer = setTimeout(() => {
        o.say(o.expect !== undefined ? `"${o.expect}" did not appear on the console within ${o.timeoutSeconds} s` : `stopping the guest after ${o.timeoutSeconds} s`);
        stop({ code: 1, reason: 'timeout' });
      }, o.timeoutSeconds * 1000);
    }
    if (!o.interactive) {
      // a closed stdout (a pipe whose reader left) stops the guest instead of killing cake
      o.stdout.on('error', () => stop({ code: 1, reason: 'exited' }));
      const match = o.expect !== undefined ? consoleMatcher(o.expect) : undefined;
      child.stdout?.on('data', (c: Buffer) => {
        o.stdout.write(c);
        if (match?.(c.toString('utf8'))) {
          o.say(`saw "${o.expect}" on the console: stopping the guest`);
          stop({ code: 0, reason: 'expected' });
        }
      });
      const toGuest = (c: Buffer): void => {
        if (child.stdin?.writable) child.stdin.write(c);
      };
      o.stdin.on('data', toGuest);
      o.stdin.on('error', () => {});
      child.stdin?.on('error', () => {});
      child.on('close', () => o.stdin.off('data', toGuest));
    }
    child.on('error', (err) => {
      o.say(`cannot start QEMU: ${err.message}`);
      stop({ code: 1, reason: 'exited' });
    });
    child.on('close', (code, sig) => {
      if (timer !== undefined) clearTimeout(timer);
      if (errTail !== '' && !/terminating on signal/.test(errTail)) o.stderr.write(`${errTail}\n`);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.off('SIGHUP', onSignal);
      if (!o.interactive && 'pause' in o.stdin && typeof o.stdin.pause === 'function') o.stdin.pause();
      if (outcome === undefined) {
        if (o.expect !== undefined) o.say(`QEMU exited (${sig ?? `status ${code}`}) before "${o.expect}" appeared`);
        outcome = { code: o.expect !== undefined ? 1 : (code ?? 1), reason: 'exited' };
      }
      resolve(outcome);
    });
  });
}
