/**
 * The hash of every pulled env (issue 14): computed on the staged rootfs before the env is
 * committed, recorded as env.json's `treeSha256` (with `treeHashFormat`), and checked against
 * `--expect-sha256` there, so a mismatch installs nothing. The hash function is given by the
 * caller (the CLI passes envTreeHash of src/store/tree-hash.ts: the files and the settings, the
 * hash cook pins with expect_sha256).
 */
import { CakeError } from '../model/errors.js';
import type { EnvRecord } from '../store/env-record.js';
import type { EnvStore } from '../store/envs.js';
import { ENV_HASH_FORMAT, hasSettings, type HashOptions } from '../store/tree-hash.js';

/** sha256 hex of a root filesystem with its record's ownership table and settings (interruptible: see HashOptions). */
export type TreeHasher = (rootfs: string, record: Pick<EnvRecord, 'ownership' | 'config' | 'run'>, o?: HashOptions) => Promise<string>;

/** The check of `--expect-sha256`: CakeError('digest-mismatch') naming both hashes. */
export function checkTreeHash(name: string, got: string, expected: string | undefined): void {
  const want = expected?.toLowerCase().replace(/^sha256:/, '');
  if (want === undefined || want === got) return;
  throw new CakeError('digest-mismatch', `${name}: the tree hash is sha256:${got}, not the expected sha256:${want}`, {
    hint: 'the inputs changed (another archive state, request or cake version); pin the build with --lock/--locked, or drop --expect-sha256 to accept the new tree',
  });
}

/**
 * An EnvStore whose `create` hashes the staged tree and records `treeSha256` (checked against
 * `expected`) before the env is committed. Every other method is the store's own.
 */
export function sealingEnvs(envs: EnvStore, hash: TreeHasher, expected: string | undefined, o: HashOptions = {}): EnvStore {
  const sealed = Object.create(envs) as EnvStore;
  sealed.create = (name, build, opts) =>
    envs.create(
      name,
      async (staging) => {
        const record = await build(staging);
        const treeSha256 = await hash(staging.rootfs, record, o);
        checkTreeHash(name, treeSha256, expected);
        return { ...record, treeSha256, treeHashFormat: ENV_HASH_FORMAT } satisfies EnvRecord;
      },
      opts,
    );
  return sealed;
}

/**
 * For an env that was kept as it was: its recorded hash, checked. An older cake left none, or the
 * plain tree hash of an env with settings (no treeHashFormat): then it is computed and recorded now.
 */
export async function sealKept(envs: EnvStore, record: EnvRecord, hash: TreeHasher, expected: string | undefined, o: HashOptions = {}): Promise<EnvRecord> {
  if (record.treeSha256 !== undefined && (record.treeHashFormat === ENV_HASH_FORMAT || !hasSettings(record))) {
    checkTreeHash(record.name, record.treeSha256, expected);
    return record;
  }
  const treeSha256 = await hash(envs.rootfs(record.name), record, o);
  checkTreeHash(record.name, treeSha256, expected);
  return envs.update(record.name, (r) => ({ ...r, treeSha256, treeHashFormat: ENV_HASH_FORMAT }));
}
