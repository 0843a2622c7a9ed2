/**
 * What a use case below the CLI (pull, cook, bake, push) is handed to reach the store, the
 * network and the user (never globals): one shape, extended by each use case's own deps.
 */
import type { Logger } from '../model/logger.js';
import type { HttpClient } from '../net/http-client.js';
import type { BlobStore } from './blobs.js';
import type { EnvStore } from './envs.js';
import type { CakePaths } from './paths.js';

export interface UseCaseDeps {
  paths: CakePaths;
  blobs: BlobStore;
  envs: EnvStore;
  logger: Logger;
  signal: AbortSignal;
  /** The command's one HTTP client, made on first use. */
  http: () => Promise<HttpClient>;
  /** The user's environment: PATH to find tools, registry credentials files, HOME. */
  hostEnv: Record<string, string | undefined>;
}
