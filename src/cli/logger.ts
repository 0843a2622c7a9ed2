import { Chalk, type ChalkInstance } from 'chalk';
import { createRequire } from 'node:module';
import type { Logger, Progress } from '../model/logger.js';

export interface CliLoggerOptions {
  stderr: NodeJS.WriteStream | { write(s: string): boolean; isTTY?: boolean };
  env: Record<string, string | undefined>;
  verbose: boolean;
}

/** Colour follows NO_COLOR / FORCE_COLOR and whether stderr is a TTY. */
export function colourLevel(env: Record<string, string | undefined>, isTTY: boolean): 0 | 1 {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return 0;
  if (env.FORCE_COLOR !== undefined) return env.FORCE_COLOR === '0' ? 0 : 1;
  return isTTY ? 1 : 0;
}

function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}
export { formatBytes };

/** How often a progress that runs long says where it is on a non-TTY (a log, CI). */
export const NON_TTY_PROGRESS_MS = 30_000;

/**
 * The CLI's logger: everything on stderr; progress bars only on a TTY. On a non-TTY a progress
 * prints nothing for short work and one "what is happening" line every NON_TTY_PROGRESS_MS for
 * long work (a slow download), so a log shows it is alive and how far it got.
 */
export class CliLogger implements Logger {
  readonly chalk: ChalkInstance;
  private readonly isTTY: boolean;

  constructor(private readonly opts: CliLoggerOptions) {
    this.isTTY = Boolean(opts.stderr.isTTY);
    this.chalk = new Chalk({ level: colourLevel(opts.env, this.isTTY) });
  }

  info(message: string): void {
    this.opts.stderr.write(`${message}\n`);
  }

  warn(message: string): void {
    this.opts.stderr.write(`${this.chalk.yellow('warning:')} ${message}\n`);
  }

  debug(message: string): void {
    if (this.opts.verbose) this.opts.stderr.write(`${this.chalk.dim(message)}\n`);
  }

  error(message: string, hint?: string): void {
    this.opts.stderr.write(`${this.chalk.red('cake:')} ${message}\n`);
    if (hint) this.opts.stderr.write(`${this.chalk.cyan('hint:')} ${hint}\n`);
  }

  progress(label: string, total: number | undefined, unit: 'bytes' | 'items'): Progress {
    if (!this.isTTY) return this.lineProgress(label, total, unit);
    const fmt =
      total === undefined
        ? `${label} {value_fmt}`
        : `${label} [{bar}] {percentage}% {value_fmt}/{total_fmt}`;
    // Loaded on first use: most commands never draw a bar, and start-up time matters for `exec`.
    const cliProgress = createRequire(import.meta.url)('cli-progress') as typeof import('cli-progress');
    const bar = new cliProgress.SingleBar(
      {
        format: fmt,
        stream: this.opts.stderr as NodeJS.WritableStream,
        hideCursor: true,
        clearOnComplete: true,
        barsize: 30,
        fps: 10,
        formatValue: (v: number, _o: unknown, type: string) =>
          unit === 'bytes' && (type === 'value' || type === 'total') ? formatBytes(v) : String(v),
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total ?? 0, 0, { value_fmt: '0', total_fmt: total === undefined ? '?' : unit === 'bytes' ? formatBytes(total) : String(total) });
    return {
      update(done: number) {
        bar.update(done, { value_fmt: unit === 'bytes' ? formatBytes(done) : String(done) });
      },
      stop() {
        bar.stop();
      },
    };
  }

  private lineProgress(label: string, total: number | undefined, unit: 'bytes' | 'items'): Progress {
    const fmt = (n: number): string => (unit === 'bytes' ? formatBytes(n) : String(n));
    let next = Date.now() + NON_TTY_PROGRESS_MS;
    return {
      update: (done: number) => {
        const now = Date.now();
        if (now < next) return;
        next = now + NON_TTY_PROGRESS_MS;
        const of = total === undefined || total <= 0 ? '' : ` of ${fmt(total)} (${Math.floor((done / total) * 100)}%)`;
        this.opts.stderr.write(`${label}: ${fmt(done)}${of} so far\n`);
      },
      stop() {},
    };
  }
}
