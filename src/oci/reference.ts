/**
 * Image references as docker, podman and skopeo read them: `[HOST[:PORT]/]REPO[:TAG][@sha256:HEX]`.
 * Pure: no I/O. Docker Hub's rules (distribution/reference `splitDockerDomain`): the first path
 * element names a registry only when it is `localhost`, contains `.` or `:`, or has uppercase
 * letters; otherwise the image lives on docker.io, and a one-element repository there gets the
 * `library/` prefix. `index.docker.io` is docker.io. Requests for docker.io go to
 * registry-1.docker.io.
 */
import { CakeError } from '../model/errors.js';

export interface ImageReference {
  /** The registry as named (`docker.io`, `127.0.0.1:5000`, `[::1]:5000`, `ghcr.io`). */
  registry: string;
  /** `library/alpine`, `org/app`: lowercase path components. */
  repository: string;
  /** Absent only when a digest is given without a tag. */
  tag?: string;
  /** `sha256:<64 hex>`. */
  digest?: string;
}

export const DOCKER_HUB = 'docker.io';
/** Where Docker Hub's /v2/ API answers. */
export const DOCKER_HUB_API = 'registry-1.docker.io';
/** The key Docker Hub credentials are stored under in ~/.docker/config.json. */
export const DOCKER_HUB_AUTH_KEY = 'https://index.docker.io/v1/';

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::[0-9]{1,5})?$/;
const MAX_NAME = 255;

function bad(text: string, why: string): CakeError {
  return new CakeError('bad-source', `invalid image reference ${JSON.stringify(text)}: ${why}`, {
    exitCode: 2,
    hint: 'an image reference is [HOST[:PORT]/]REPO[:TAG][@sha256:DIGEST], e.g. alpine:3.22 or 127.0.0.1:5000/team/app:1.0',
  });
}

/**
 * Parses and normalises a reference (without the `docker://` prefix). The tag defaults to
 * `latest` when neither a tag nor a digest is given; with a digest only, `tag` stays absent.
 * Throws CakeError('bad-source', exit 2) naming what is wrong.
 */
export function parseReference(text: string): ImageReference {
  if (text === '' || /\s/.test(text)) throw bad(text, text === '' ? 'empty' : 'contains whitespace');
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) {
      throw bad(text, digest.includes(':') && !digest.startsWith('sha256:') ? `unsupported digest algorithm ${JSON.stringify(digest.split(':')[0])} (cake verifies sha256)` : 'a digest is sha256: and 64 lowercase hex characters');
    }
  }
  let tag: string | undefined;
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > slash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(text, `invalid tag ${JSON.stringify(tag)}`);
  }
  const parts = rest.split('/');
  let registry = DOCKER_HUB;
  const first = parts[0]!;
  if (parts.length > 1 && (first === 'localhost' || first.includes('.') || first.includes(':') || first !== first.toLowerCase())) {
    if (!HOST.test(first)) throw bad(text, `invalid registry host ${JSON.stringify(first)}`);
    registry = first.toLowerCase();
    parts.shift();
  }
  if (registry === 'index.docker.io') registry = DOCKER_HUB;
  for (const c of parts) {
    if (c !== c.toLowerCase()) throw bad(text, 'repository names must be lowercase');
    if (!COMPONENT.test(c)) throw bad(text, `invalid repository component ${JSON.stringify(c)}`);
  }
  if (registry === DOCKER_HUB && parts.length === 1) parts.unshift('library');
  const repository = parts.join('/');
  if (registry.length + 1 + repository.length > MAX_NAME) throw bad(text, `longer than ${MAX_NAME} characters`);
  if (tag === undefined && digest === undefined) tag = 'latest';
  return { registry, repository, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/** `registry/repository[:tag][@digest]`, the canonical form (docker.io spelled out). */
export function formatReference(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

/**
 * A tag's canonical spelling (`app:1` → `docker.io/library/app:1`, `localhost/app` →
 * `localhost/app:latest`), as docker, podman and skopeo compare image names; undefined for text
 * that is not a reference, or one with a digest.
 */
export function normalizedTag(text: string): string | undefined {
  try {
    const r = parseReference(text);
    return r.digest === undefined ? formatReference(r) : undefined;
  } catch {
    return undefined;
  }
}

/** The manifest to ask for: the digest when pinned (the tag is then only informative), else the tag. */
export function manifestReference(ref: ImageReference): string {
  return ref.digest ?? ref.tag ?? 'latest';
}

/** True for `host[:port]` as a registry is named (`[::1]:5000` included). */
export function isRegistryHost(text: string): boolean {
  return HOST.test(text);
}

/** The host (and port) that serves the registry's /v2/ API. */
export function apiHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API : registry;
}

/**
 * Registries spoken to over plain HTTP without `--insecure`, as docker does: localhost and
 * `*.localhost`, 127.0.0.0/8 and ::1.
 */
export function isLocalRegistry(registry: string): boolean {
  const host = hostName(registry);
  return host === 'localhost' || host.endsWith('.localhost') || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) || host === '::1';
}

/** The host name of `host[:port]` (IPv6 without brackets). */
export function hostName(registry: string): string {
  if (registry.startsWith('[')) return registry.slice(1, registry.indexOf(']')).toLowerCase();
  return registry.replace(/:\d+$/, '').toLowerCase();
}

/** A default environment name for an image: the last repository component (`alpine`, `app`). */
export function imageBaseName(ref: ImageReference): string {
  return ref.repository.slice(ref.repository.lastIndexOf('/') + 1);
}
