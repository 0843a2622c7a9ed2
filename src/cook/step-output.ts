/**
 * The output of a cook `run` step: shown on cake's stderr as it comes (through a temporary file
 * that is copied to fd 2 every few tens of milliseconds, since a child process can write only to
 * a real file descriptor), with its tail kept so that a failure's hint can say what went wrong.
 * And that hint: from the exit code and the last lines the step printed, naming only the failure
 * that happened (a command not found, a file busy because the engine mounts it, a chown that the
 * engine could not record), never a guess about another one.
 */
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const TAIL = 16 * 1024;

/** A file the step writes its stdout and stderr to, forwarded to cake's stderr. */
export interface StepOutput {
  /** Give this to the engine as the guest's stdout and stderr. */
  fd: number;
  /** Copies what is left, removes the file and returns the last output (at most 16 KiB). */
  finish(): string;
}

export function captureStepOutput(forwardTo = 2): StepOutput {
  const dir = mkdtempSync(join(tmpdir(), 'cake-step-'));
  const file = join(dir, 'output');
  const fd = openSync(file, 'a', 0o600);
  const rd = openSync(file, 'r');
  rmSync(dir, { recursive: true, force: true }); // both fds stay valid; nothing is left behind
  const buf = Buffer.allocUnsafe(64 * 1024);
  let tail = Buffer.alloc(0);
  const pump = (): void => {
    for (;;) {
      const n = readSync(rd, buf, 0, buf.length, null);
      if (n <= 0) return;
      const chunk = buf.subarray(0, n);
      try {
        writeSync(forwardTo, chunk);
      } catch {
        // a closed stderr does not stop the step
      }
      tail = Buffer.concat([tail, chunk]);
      if (tail.length > TAIL) tail = tail.subarray(tail.length - TAIL);
    }
  };
  const timer = setInterval(pump, 40);
  return {
    fd,
    finish() {
      clearInterval(timer);
      pump();
      closeSync(fd);
      closeSync(rd);
      return tail.toString('utf8');
    },
  };
}

const RETRY = 'the steps before it are cached: fix this one and cook again';

/**
 * The hint for a `run` step that exited with `code` after printing `tail`. `engine` is the engine
 * asked for (auto, userns, proot). Pure.
 */
export function runFailureHint(code: number, tail: string, engine: string): string {
  const lines = tail.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const last = (re: RegExp): RegExpExecArray | undefined => {
    for (let i = lines.length - 1; i >= 0; i--) {
      const m = re.exec(lines[i]!);
      if (m) return m;
    }
    return undefined;
  };
  if (code === 127) {
    const m = last(/(?:^|: )([^\s:]+): (?:command )?not found$/) ?? last(/^(?:\S+: )*([^\s:]+): No such file or directory$/);
    const what = m ? `${m[1]} was not found in the env` : 'a command was not found in the env';
    return `${what} (exit 127): install it in an earlier step, or call it by its full path; ${RETRY}`;
  }
  if (code === 126) return `a command could not be executed (exit 126: not executable, or its interpreter is missing); ${RETRY}`;
  if (code > 128 && code < 160) return `the script was killed by signal ${code - 128}; ${RETRY}`;
  // EBUSY under userns (a bind mount), EACCES under proot (a bound host file) for the same cause
  const busy =
    last(/(\/etc\/(?:resolv\.conf|hosts))\b.*(?:Device or resource busy|EBUSY|Permission denied|EACCES)/) ??
    last(/(\/dev|\/proc|\/sys)\b.*(?:Device or resource busy|EBUSY)/) ??
    last(/(?:Device or resource busy|EBUSY).*?(\/\S+)/);
  if (busy) {
    return `${busy[1]} is a mount point while a step runs (the engine mounts it into the env), so it cannot be replaced or removed there; change it with a file: step, or after the step; ${RETRY}`;
  }
  // the first failed chown is the cause; later ones (apt's log files) are its echoes
  const chownRe = /\b(?:chown|chgrp|fchown|lchown|changing ownership)\b.*(?:Invalid argument|Operation not permitted)/i;
  const chown = lines.find((l) => chownRe.test(l));
  if (chown !== undefined) {
    const also = engine === 'proot' ? '' : ', or try --engine proot';
    return `a change of ownership failed (${chown.slice(0, 120)}): this engine could not record it${also}; ${RETRY}`;
  }
  return RETRY;
}
