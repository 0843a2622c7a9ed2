/**
 * Recording what programs inside an env do to ownership (chown, chgrp, chmod, mknod) into its
 * ownership table. A rootless user namespace maps only uid 0 (a chown to 42 fails with EINVAL) and
 * proot -0 fakes success without keeping anything, so neither engine can keep such changes on
 * disk. For a glibc env with a fakeroot kit (src/kit/fakeroot.ts):
 *
 * 1. faked-sysv starts on the HOST (the kit's own binary and loader, in its own session so a
 *    terminal's Ctrl-C does not stop it early, under `setpriv --pdeathsig TERM` so it ends when
 *    cake does, even killed), loaded with the env's table: each recorded path's
 *    inode with its real owner and mode, so programs inside see them;
 * 2. the command runs with the kit's libfakeroot-sysv.so preloaded *inside the guest only*
 *    (bound at /.cake/fakeroot; LD_* variables are set by the guest's `env`, never in proot or the
 *    host helpers: libfakeroot in proot itself deadlocks under ptrace) and FAKEROOTKEY, after
 *    cake's owner shim (owner-shim.ts: what a program creates under a faked euid/egid, after su or
 *    setuid, is recorded as that user's) and, for `--user`, the groups shim (groups-shim.ts);
 * 3. faked is stopped (SIGTERM: it writes its save file) and the save file is turned back into
 *    the table: a walk of the tree matches inodes to paths (faked-apply.ts). When faked saw no
 *    change and every recorded path still has its inode, the walk is skipped.
 *
 * Not recorded (the command runs as without recording): statically linked programs (they do not
 * load libfakeroot; their chmods of recorded paths are seen on disk afterwards and adopted, with a
 * warning: unrecorded-modes.ts), programs that clear the environment, envs of a
 * foreign architecture (the kit's faked cannot run on the host).
 */
import { machine } from 'node:os';
import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import { applyFakedOwnership } from '../archive/faked-apply.js';
import { canonicalSave, inodeKey, snapshotTable, type FakedEntry, type TableSnapshot } from '../archive/faked-save.js';
import { diffOwnership, isEmptyDiff, type OwnershipDiff } from '../archive/ownership-diff.js';
import { bytesFromKey, type OwnershipTable } from '../model/ownership.js';
import type { Logger } from '../model/logger.js';
import { isForeignArch } from './arch.js';
import { glibcMismatch } from './guest-libc.js';
import { readGuestUser } from './guest-user.js';
import { GROUPS_GUEST_DIR, GROUPS_SHIM, prepareGroupsShim } from './groups-shim.js';
import { OWNER_GUEST_DIR, OWNER_SHIM, prepareOwnerShim } from './owner-shim.js';
import { adoptUnrecordedModes, unrecordedModesWarning } from './unrecorded-modes.js';
import type { FakerootKit } from './kit-provider.js';
import { FakedDaemon } from './faked-daemon.js';
import type { RunOptions } from '../model/run-options.js';

export { FakedDaemon } from './faked-daemon.js';

/** Where the guest sees the directory holding libfakeroot-sysv.so. */
export const FAKEROOT_GUEST_DIR = '/.cake/fakeroot';
/** Top-level entry of cake's mount points in an env (never recorded). */
const CAKE_TOP = '.cake';

export interface OwnershipRecording {
  /** The env's table: read to load faked, updated in place with what the command did. */
  table: OwnershipTable;
  kit: FakerootKit;
  /** Called after the command when the table changed, with the changes (to persist them). */
  onChange?: (diff: OwnershipDiff) => void | Promise<void>;
}

/**
 * Why a run cannot be recorded, or undefined when it can. Pure apart from the host's machine().
 * A `--user` run is recorded too: libfakeroot then reports that user's ids (getuid, getgid) and
 * the recorded owners of files, and what the user chowns is kept.
 */
export function whyNotRecorded(env: { arch?: string }, _opts: Pick<RunOptions, 'user'>): string | undefined {
  if (isForeignArch(env.arch, machine())) return `the env is ${env.arch}: its fakeroot cannot run on this ${machine()} host`;
  return undefined;
}

/** cake's own shims preloaded before libfakeroot, by host directory. */
export interface Shims {
  /** The groups shim (groups-shim.ts), for a `--user` run. */
  groupsDir?: string;
  /** The owner shim (owner-shim.ts): creations under a faked euid/egid are that user's. */
  ownerDir?: string;
}

/**
 * `opts` with libfakeroot preloaded against the faked with `key`, its directory bound; with `ids`
 * (a `--user` run), libfakeroot's real, effective, saved and fs ids are that user's, and each of
 * `shims` is bound and preloaded before libfakeroot (the groups shim first). Pure.
 */
export function withFakeroot(opts: RunOptions, kit: Pick<FakerootKit, 'libDir'>, key: string, ids?: { uid: number; gid: number }, shims: Shims = {}): RunOptions {
  const faked: Record<string, string> = {};
  if (ids !== undefined && (ids.uid !== 0 || ids.gid !== 0)) {
    for (const k of ['UID', 'EUID', 'SUID', 'FUID']) faked[`FAKEROOT${k}`] = String(ids.uid);
    for (const k of ['GID', 'EGID', 'SGID', 'FGID']) faked[`FAKEROOT${k}`] = String(ids.gid);
  }
  // the shims answer before libfakeroot does (groups-shim.ts, owner-shim.ts)
  const pre: Array<{ src: string; dst: string; lib: string }> = [];
  if (shims.groupsDir !== undefined) pre.push({ src: shims.groupsDir, dst: GROUPS_GUEST_DIR, lib: GROUPS_SHIM });
  if (shims.ownerDir !== undefined) pre.push({ src: shims.ownerDir, dst: OWNER_GUEST_DIR, lib: OWNER_SHIM });
  const lib = [...pre.map((p) => `${p.dst}/${p.lib}`), `${FAKEROOT_GUEST_DIR}/libfakeroot-sysv.so`].join(':');
  const preload = opts.env.LD_PRELOAD;
  return {
    ...opts,
    binds: [...opts.binds, { src: kit.libDir, dst: FAKEROOT_GUEST_DIR }, ...pre.map(({ src, dst }) => ({ src, dst }))],
    env: {
      ...opts.env,
      LD_PRELOAD: preload ? `${lib}:${preload}` : lib,
      FAKEROOTKEY: key,
      // files faked has no record of are root's (they are: the engine runs as root)
      FAKED_MODE: 'unknown-is-root',
      // the real chown would fail (EINVAL: one uid mapped); faked keeps the owner
      FAKEROOTDONTTRYCHOWN: '1',
      ...faked,
    },
  };
}

/**
 * Runs `run` (the engine, given the options to use) with ownership recorded into `rec.table` as
 * described above. When recording is impossible here (see whyNotRecorded) or faked does not start
 * (a warning), `run` gets `opts` unchanged. Recording errors after the command are warnings:
 * the command's exit code (or error) is what the caller gets.
 */
export async function runRecordingOwnership(
  env: { name: string; rootfs: string; arch?: string },
  opts: RunOptions,
  rec: OwnershipRecording,
  deps: { logger: Logger; cacheDir: string },
  run: (opts: RunOptions) => Promise<number>,
): Promise<number> {
  const why = whyNotRecorded(env, opts);
  if (why !== undefined) {
    deps.logger.debug(`ownership changes are not recorded: ${why}`);
    return run(opts);
  }
  const mismatch = await glibcMismatch(env.rootfs, rec.kit.needs ?? []);
  if (mismatch !== undefined && !mismatch.glibc) {
    // musl/busybox/static guests: libfakeroot cannot load there (README: ownership)
    deps.logger.debug(`ownership changes in ${env.name} are not recorded: ${mismatch.why}`);
    return run(opts);
  }
  if (mismatch !== undefined) {
    warnOnce(deps.logger, `ownership changes in ${env.name} are not recorded: ${mismatch.why}; a chown to another user fails as without cake (use an env with glibc 2.34 or newer, or set CAKE_NO_FAKEROOT=1 to silence this)`);
    return run(opts);
  }
  const snap = snapshotTable(env.rootfs, rec.table);
  let faked: FakedDaemon;
  try {
    faked = await FakedDaemon.start(rec.kit, snap.entries, join(deps.cacheDir, 'faked'));
  } catch (err) {
    deps.logger.warn(`ownership changes in ${env.name} are not recorded this time: ${(err as Error).message}`);
    return run(opts);
  }
  deps.logger.debug(`faked ${faked.pid} (key ${faked.key}) records ownership with ${snap.entries.length} inodes loaded`);
  let failed = true;
  try {
    const ids = opts.user === undefined ? undefined : await readGuestUser(env.rootfs, opts.user);
    const shims: Shims = {};
    if (ids !== undefined && (ids.uid !== 0 || ids.gid !== 0)) {
      shims.groupsDir = await prepareGroupsShim(deps.cacheDir, ids.groups);
      if (shims.groupsDir === undefined) deps.logger.debug(`no groups shim for ${process.arch}: ${ids.name} shows only its primary group`);
    }
    shims.ownerDir = await prepareOwnerShim(deps.cacheDir);
    if (shims.ownerDir === undefined) deps.logger.debug(`no owner shim for ${process.arch}: files created under another guest user are recorded as root's`);
    const code = await run(withFakeroot(opts, rec.kit, faked.key, ids, shims));
    failed = false;
    return code;
  } finally {
    try {
      const saved = await faked.stop();
      const adopted: string[] = [];
      const diff = applySaved(env.rootfs, rec.table, snap, saved, adopted);
      if (adopted.length > 0) warnOnce(deps.logger, unrecordedModesWarning(env.name, adopted), 'unrecorded-modes');
      if (!isEmptyDiff(diff)) {
        deps.logger.debug(`ownership: ${diff.set.length} record(s) set, ${diff.removed.length} removed`);
        await rec.onChange?.(diff);
      }
    } catch (err) {
      const msg = `ownership changes in ${env.name} could not be recorded: ${(err as Error).message}`;
      if (failed) deps.logger.debug(msg);
      else deps.logger.warn(msg);
    }
  }
}

const warned = new Set<string>();

/** Warns with `message` once per cake run (a cook runs many steps); `key` names the kind of warning when messages differ. */
export function warnOnce(logger: Logger, message: string, key = message): void {
  if (warned.has(key)) return;
  warned.add(key);
  logger.warn(message);
}

/**
 * Updates `table` from faked's save and returns what changed. Skips the walk of the tree when
 * faked's records are exactly those it was loaded with and every recorded path kept its inode.
 * Modes changed on disk behind faked's back (a static chmod) are adopted too, their keys pushed
 * to `adopted` (unrecorded-modes.ts).
 */
export function applySaved(root: string, table: OwnershipTable, snap: TableSnapshot, saved: readonly FakedEntry[], adopted: string[] = []): OwnershipDiff {
  const before: OwnershipTable = { ...table };
  const walk = canonicalSave(saved) !== canonicalSave(snap.entries) || !inodesKept(root, snap.baseline);
  if (walk) applyFakedOwnership(root, saved, table, { skip: [CAKE_TOP], baseline: snap.baseline });
  const modes = adoptUnrecordedModes(root, table, snap);
  adopted.push(...modes);
  return walk || modes.length > 0 ? diffOwnership(before, table) : { set: [], removed: [] };
}

function inodesKept(root: string, baseline: ReadonlyMap<string, string>): boolean {
  for (const [key, ik] of baseline) {
    const st = lstatSync(Buffer.concat([Buffer.from(`${root}/`), bytesFromKey(key)]), { bigint: true, throwIfNoEntry: false });
    if (st === undefined || inodeKey(st.dev, st.ino) !== ik) return false;
  }
  return true;
}
