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

/**
 * The CLI's logger: everything on stderr; progress bars only on a TTY (a single final line
 * otherwise is not printed either, to keep logs clean).
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
    if (!this.isTTY) return { update() {}, stop() {} };
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
}
