/**
 * The logger passed to every layer below the CLI. Results go to stdout through the CLI only;
 * everything a Logger prints goes to stderr. Implementations decide colour and TTY progress.
 */
export interface Progress {
  /** Advance to `done` units (bytes, files, packages) out of the total given at creation. */
  update(done: number): void;
  /** Finish and remove the bar (or print a final line when not on a TTY). */
  stop(): void;
}

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  /** Only shown with --verbose / CAKE_VERBOSE=1. */
  debug(message: string): void;
  /** A progress indicator; `total` may be undefined when unknown. No-op off a TTY. */
  progress(label: string, total: number | undefined, unit: 'bytes' | 'items'): Progress;
}

/** A logger that prints nothing: for tests and library use. */
export const silentLogger: Logger = {
  info() {},
  warn() {},
  debug() {},
  progress() {
    return { update() {}, stop() {} };
  },
};
