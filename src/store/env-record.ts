import type { OwnershipTable } from '../model/ownership.js';

/** OCI-style defaults a source may bring (image config), used by enter/exec. */
export interface GuestConfig {
  env?: string[];
  workingDir?: string;
  user?: string;
  cmd?: string[];
  entrypoint?: string[];
}

/** What `env.json` holds. Versioned; unknown fields are preserved by readers that rewrite it. */
export interface EnvRecord {
  version: 1;
  name: string;
  /** ISO timestamp of creation. */
  created: string;
  /** What the user asked for, as typed, and its parsed kind. */
  source: { kind: string; ref: string };
  /** Everything resolved to pin the result: blob digests, manifest digests, URLs, archive snapshots. */
  resolved: Record<string, unknown>;
  /** Distro-style architecture name of the rootfs (x86_64, aarch64, ...). */
  arch: string;
  config?: GuestConfig;
  /** Counters from extraction (entries, devicesSkipped, ...). */
  stats?: Record<string, number>;
  /**
   * The env's hash as built (envHash in src/store/tree-hash.ts: the tree hash with the settings
   * folded in), recorded by `cake pull` and `cake cook`.
   */
  treeSha256?: string;
  /** The scheme of treeSha256 (ENV_HASH_FORMAT); absent: an older cake's plain tree hash. */
  treeHashFormat?: number;
  /** Real ownership of entries that differ from root:root with the on-disk mode. */
  ownership: OwnershipTable;
  /** Default run options recorded by recipes or the user (binds, env). */
  run?: { binds?: { src: string; dst: string }[]; env?: Record<string, string> };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * What is wrong with a parsed env.json, or undefined when it can be used: an object with
 * `source` {kind, ref} strings, `resolved` an object, `arch` a string, `ownership` an object
 * (missing: empty), `config` and `run` objects when present. `name` is not checked: the
 * directory names the env.
 */
export function checkRecord(v: unknown): string | undefined {
  if (!isObject(v)) return `expected an object, found ${v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v}`;
  if (!isObject(v.source) || typeof v.source.kind !== 'string' || typeof v.source.ref !== 'string') return 'source is not {kind, ref}';
  if (!isObject(v.resolved)) return 'resolved is not an object';
  if (typeof v.arch !== 'string') return 'arch is not a string';
  if (v.created !== undefined && typeof v.created !== 'string') return 'created is not a string';
  if (v.ownership === undefined) v.ownership = {};
  else if (!isObject(v.ownership)) return 'ownership is not an object';
  if (v.config !== undefined && !isObject(v.config)) return 'config is not an object';
  if (v.run !== undefined && !isObject(v.run)) return 'run is not an object';
  if (v.created === undefined) v.created = '';
  return undefined;
}
