import { BlobStore } from '../store/blobs.js';
import { EnvStore } from '../store/envs.js';
import { resolvePaths, type CakePaths } from '../store/paths.js';
import type { HttpClient } from '../net/http-client.js';
import { Chalk, type ChalkInstance } from 'chalk';
import { CliLogger, colourLevel } from './logger.js';
import { configString, readConfigFile, type ConfigValues } from './config.js';
import { PACKAGE_ROOT, readVersion } from './version.js';

export { PACKAGE_ROOT, readVersion };

/** Everything a command handler needs, built once by main() from argv and the environment. */
export interface CliContext {
  env: Record<string, string | undefined>;
  paths: CakePaths;
  blobs: BlobStore;
  envs: EnvStore;
  logger: CliLogger;
  /** Results go here. Once the reader closed it (`cake list | head -1`), writes are dropped. */
  stdout: { write(s: string): boolean; isTTY?: boolean };
  /** Colour for what goes to stdout, decided by stdout's own TTY-ness (the logger's is stderr's). */
  stdoutChalk: ChalkInstance;
  /** Aborted on SIGINT/SIGTERM (not for enter/exec, whose engine forwards signals instead). */
  signal: AbortSignal;
  verbose: boolean;
  insecure: boolean;
  /** The package root (for distros/ and the version). */
  packageRoot: string;
  version: string;
  /** The user configuration file's values (see config.ts; CAKE_* variables override them). */
  config: ConfigValues;
  /** Lazily created HTTP client (closed by main at exit). */
  http(): Promise<HttpClient>;
}

/**
 * A closed pipe on stdout or stderr (`cake list | head -1`) is not an error: the reader has what it
 * wanted. From then on the stream's writes are dropped, and the command ends with its own exit code
 * instead of an EPIPE stack trace. Installed once per process.
 */
export function ignoreClosedPipes(): void {
  for (const stream of [process.stdout, process.stderr]) {
    if (stream.listenerCount('error') > 0) continue;
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') {
        closedStreams.add(stream);
        return;
      }
      throw err;
    });
  }
}

const closedStreams = new Set<unknown>();

function quietOnClose(stream: NodeJS.WriteStream): { write(s: string): boolean; isTTY?: boolean } {
  return {
    isTTY: Boolean(stream.isTTY),
    write(s: string) {
      if (closedStreams.has(stream) || stream.destroyed) return false;
      return stream.write(s);
    },
  };
}

/** The `colour` setting as NO_COLOR/FORCE_COLOR, unless the user set one of those (they win). */
function withColourSetting(env: Record<string, string | undefined>, colour: string | undefined): Record<string, string | undefined> {
  if (env.NO_COLOR !== undefined || env.FORCE_COLOR !== undefined) return env;
  if (colour === 'never') return { ...env, NO_COLOR: '1' };
  if (colour === 'always') return { ...env, FORCE_COLOR: '1' };
  return env;
}

export function createContext(opts: {
  env: Record<string, string | undefined>;
  verbose: boolean;
  insecure: boolean;
  signal: AbortSignal;
}): CliContext & { closeHttp(): Promise<void> } {
  const paths = resolvePaths(opts.env);
  const config = readConfigFile(paths.config);
  const colourEnv = withColourSetting(opts.env, configString('colour', opts.env, config));
  const logger = new CliLogger({ stderr: process.stderr, env: colourEnv, verbose: opts.verbose });
  const version = readVersion();
  let client: HttpClient | undefined;
  return {
    env: opts.env,
    paths,
    blobs: new BlobStore(paths),
    envs: new EnvStore(paths),
    logger,
    stdout: quietOnClose(process.stdout),
    stdoutChalk: new Chalk({ level: colourLevel(colourEnv, Boolean(process.stdout.isTTY)) }),
    config,
    signal: opts.signal,
    verbose: opts.verbose,
    insecure: opts.insecure,
    packageRoot: PACKAGE_ROOT,
    version,
    async http() {
      if (!client) {
        const { HttpClient } = await import('../net/http-client.js');
        client = new HttpClient({ userAgent: `cake/${version}`, env: opts.env, logger, insecure: opts.insecure });
      }
      return client;
    },
    async closeHttp() {
      await client?.close();
    },
  };
}
