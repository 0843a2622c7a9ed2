import type { Logger } from '../model/logger.js';
import type { HttpClient } from '../net/http-client.js';
import { RegistryAuth } from './auth.js';
import { CredentialStore } from './credentials.js';
import { RegistryClient } from './registry-client.js';

/** What a registry connection needs: the HTTP client, the user's environment (credentials files) and --insecure. */
export interface RegistryConnectDeps {
  http: () => Promise<HttpClient>;
  logger: Logger;
  signal?: AbortSignal;
  /** The user's environment: DOCKER_CONFIG, REGISTRY_AUTH_FILE, HOME, … (see credentials.ts). */
  env: Record<string, string | undefined>;
  /** Plain HTTP and unverified TLS allowed (--insecure). */
  insecure?: boolean;
}

/** One registry client for a command, for the pull side and the push side alike: credentials from `env`, tokens cached per scope. */
export async function connectRegistry(d: RegistryConnectDeps): Promise<RegistryClient> {
  const http = await d.http();
  const credentials = new CredentialStore(d.env);
  const auth = new RegistryAuth({ http, credentials, logger: d.logger, ...(d.signal ? { signal: d.signal } : {}) });
  return new RegistryClient({ http, auth, logger: d.logger, ...(d.signal ? { signal: d.signal } : {}), insecure: d.insecure ?? false });
}
