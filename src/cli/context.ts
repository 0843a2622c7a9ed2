import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BlobStore } from '../store/blobs.js';
import { EnvStore } from '../store/envs.js';
import { resolvePaths, type CakePaths } from '../store/paths.js';
import type { HttpClient } from '../net/http-client.js';
import { CliLogger } from './logger.js';

/** Everything a command handler needs, built once by main() from argv and the environment. */
export interface CliContext {
  env: Record<string, string | undefined>;
  paths: CakePaths;
  blobs: BlobStore;
  envs: EnvStore;
  logger: CliLogger;
  stdout: { write(s: string): boolean };
  /** Aborted on SIGINT/SIGTERM (not for enter/exec, whose engine forwards signals instead). */
  signal: AbortSignal;
  verbose: boolean;
  insecure: boolean;
  /** The package root (for distros/ and the version). */
  packageRoot: string;
  version: string;
  /** Lazily created HTTP client (closed by main at exit). */
  http(): Promise<HttpClient>;
}

export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export function readVersion(): string {
  try {
    return (JSON.parse(readFileSync(`${PACKAGE_ROOT}package.json`, 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

export function createContext(opts: {
  env: Record<string, string | undefined>;
  verbose: boolean;
  insecure: boolean;
  signal: AbortSignal;
}): CliContext & { closeHttp(): Promise<void> } {
  const paths = resolvePaths(opts.env);
  const logger = new CliLogger({ stderr: process.stderr, env: opts.env, verbose: opts.verbose });
  const version = readVersion();
  let client: HttpClient | undefined;
  return {
    env: opts.env,
    paths,
    blobs: new BlobStore(paths),
    envs: new EnvStore(paths),
    logger,
    stdout: process.stdout,
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
