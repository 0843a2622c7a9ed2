/**
 * Registry mirrors, as docker's `registry-mirrors` and podman's registries.conf `[[registry.mirror]]`
 * configure them: for a registry, a list of other registries tried in order before it when pulling.
 * Pure: no I/O. Each entry is `MIRROR` (a mirror of Docker Hub, as in docker's daemon.json) or
 * `REGISTRY=MIRROR`; a MIRROR is `[http://|https://]HOST[:PORT][/PREFIX]`, PREFIX a namespace the
 * mirror keeps the registry's repositories under (podman's `location = "host/prefix"`). `http://`
 * lets a mirror that is not local be spoken to over plain HTTP. A mirror only serves what the
 * digests say: every manifest and blob it sends is verified as the registry's would be.
 */
import { CakeError } from '../model/errors.js';
import { DOCKER_HUB, isRegistryHost } from './reference.js';

export interface RegistryMirror {
  /** `host[:port]` of the mirror. */
  host: string;
  /** Repository namespace on the mirror (`''`, or `dockerhub` for `host/dockerhub`). */
  prefix: string;
  /** `http://` was written: plain HTTP allowed. */
  insecure: boolean;
}

/** Mirrors per registry (`docker.io`, `127.0.0.1:5000`), each list in the order given. */
export type RegistryMirrors = Record<string, RegistryMirror[]>;

export const MIRROR_FORMS = 'give MIRROR (for Docker Hub) or REGISTRY=MIRROR, MIRROR as [http://|https://]HOST[:PORT][/PREFIX], e.g. mirror.gcr.io or quay.io=127.0.0.1:5001/quay';

function bad(entry: string, why: string): CakeError {
  return new CakeError('usage', `invalid registry mirror ${JSON.stringify(entry)}: ${why}`, { exitCode: 2, hint: MIRROR_FORMS });
}

/** The registry as references name it: Docker Hub's other spellings are docker.io. */
function registryKey(text: string): string {
  const r = text.toLowerCase();
  return r === 'index.docker.io' || r === 'registry-1.docker.io' ? DOCKER_HUB : r;
}

/** Parses one MIRROR. */
export function parseMirror(text: string, entry = text): RegistryMirror {
  const m = /^(?:(https?):\/\/)?([^/]+)((?:\/[^/]+)*)\/?$/i.exec(text);
  if (!m) throw bad(entry, 'not HOST[:PORT][/PREFIX]');
  const host = m[2]!.toLowerCase();
  if (!isRegistryHost(host)) throw bad(entry, `invalid host ${JSON.stringify(m[2])}`);
  const prefix = (m[3] ?? '').replace(/^\//, '');
  if (prefix !== '' && !prefix.split('/').every((c) => /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/.test(c))) throw bad(entry, `invalid repository prefix ${JSON.stringify(prefix)}`);
  return { host, prefix, insecure: m[1]?.toLowerCase() === 'http' };
}

/** Parses the `registry-mirrors` entries (see the module comment); the same registry may be named several times. */
export function parseRegistryMirrors(entries: readonly string[]): RegistryMirrors {
  const out: RegistryMirrors = {};
  for (const raw of entries) {
    const entry = raw.trim();
    if (entry === '') continue;
    const eq = entry.indexOf('=');
    const registry = eq >= 0 ? registryKey(entry.slice(0, eq).trim()) : DOCKER_HUB;
    if (eq >= 0 && !isRegistryHost(registry)) throw bad(entry, `invalid registry ${JSON.stringify(entry.slice(0, eq))}`);
    (out[registry] ??= []).push(parseMirror(eq >= 0 ? entry.slice(eq + 1).trim() : entry, entry));
  }
  return out;
}

/** The repository on `mirror` for `repository` of the mirrored registry. */
export function mirrorRepository(mirror: RegistryMirror, repository: string): string {
  return mirror.prefix === '' ? repository : `${mirror.prefix}/${repository}`;
}
