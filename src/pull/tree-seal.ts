/**
 * The tree hash of every pulled env (issue 14): computed on the staged rootfs before the env is
 * committed, recorded as env.json's `treeSha256`, and checked against `--expect-sha256` there, so
 * a mismatch installs nothing. The hash function is given by the caller (the CLI passes
 * src/store/tree-hash.ts, the one cook pins with expect_sha256), so this tier imports no cook code.
 */
import type { OwnershipTable } from '../model/ownership.js';
import { CakeError } from '../model/errors.js';
import type { EnvRecord } from '../store/env-record.js';
import type { EnvStore } from '../store/envs.js';
import type { HashOptions } from '../store/tree-hash.js';

/** sha256 hex of a root filesystem with its ownership table (interruptible: see HashOptions). */
export type TreeHasher = (rootfs: string, ownership: OwnershipTable, o?: HashOptions) => Promise<string>;

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
        const treeSha256 = await hash(staging.rootfs, record.ownership, o);
        checkTreeHash(name, treeSha256, expected);
        return { ...record, treeSha256 } satisfies EnvRecord;
      },
      opts,
    );
  return sealed;
}

/** For an env that was kept as it was: its recorded hash (computed and recorded now when older cake left none), checked. */
export async function sealKept(envs: EnvStore, record: EnvRecord, hash: TreeHasher, expected: string | undefined, o: HashOptions = {}): Promise<EnvRecord> {
  if (record.treeSha256 !== undefined) {
    checkTreeHash(record.name, record.treeSha256, expected);
    return record;
  }
  const treeSha256 = await hash(envs.rootfs(record.name), record.ownership, o);
  checkTreeHash(record.name, treeSha256, expected);
  return envs.update(record.name, (r) => ({ ...r, treeSha256 }));
}
