import type { OwnershipTable } from '../archive/ownership.js';

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
  /** The tree hash of the rootfs as built (src/cook/tree-hash.ts), recorded by `cake pull`. */
  treeSha256?: string;
  /** Real ownership of entries that differ from root:root with the on-disk mode. */
  ownership: OwnershipTable;
  /** Default run options recorded by recipes or the user (binds, env). */
  run?: { binds?: { src: string; dst: string }[]; env?: Record<string, string> };
}
