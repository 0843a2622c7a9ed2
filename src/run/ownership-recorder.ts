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
 *    host helpers: libfakeroot in proot itself deadlocks under ptrace) and FAKEROOTKEY;
 * 3. faked is stopped (SIGTERM: it writes its save file) and the save file is turned back into
 *    the table: a walk of the tree matches inodes to paths (faked-apply.ts). When faked saw no
 *    change and every recorded path still has its inode, the walk is skipped.
 *
 * Not recorded (the command runs as without recording): statically linked programs (they do not
 * load libfakeroot; their chmods of recorded paths are seen on disk afterwards and adopted, with a
 * warning: unrecorded-modes.ts), programs that clear the environment, envs of a
 * foreign architecture (the kit's faked cannot run on the host).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { machine } from 'node:os';
import { closeSync, lstatSync, openSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpSibling } from '../store/atomic-write.js';
import { applyFakedOwnership } from '../archive/faked-apply.js';
import { canonicalSave, formatFakedSave, inodeKey, parseFakedSave, snapshotTable, type FakedEntry, type TableSnapshot } from '../archive/faked-save.js';
import { diffOwnership, isEmptyDiff, type OwnershipDiff } from '../archive/ownership-diff.js';
import { bytesFromKey, type OwnershipTable } from '../model/ownership.js';
import { CakeError } from '../model/errors.js';
import type { Logger } from '../model/logger.js';
import { isForeignArch } from './arch.js';
import { glibcMismatch } from './guest-libc.js';
import { readGuestUser } from './guest-user.js';
import { GROUPS_GUEST_DIR, GROUPS_SHIM, prepareGroupsShim } from './groups-shim.js';
import { adoptUnrecordedModes, unrecordedModesWarning } from './unrecorded-modes.js';
import type { FakerootKit } from './kit-provider.js';
import { findHostProgram } from './host-tools.js';
import type { RunOptions } from '../model/run-options.js';

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

/**
 * `opts` with libfakeroot preloaded against the faked with `key`, its directory bound; with `ids`
 * (a `--user` run), libfakeroot's real, effective, saved and fs ids are that user's, and with
 * `groupsDir` the groups shim (groups-shim.ts) is bound and preloaded first. Pure.
 */
export function withFakeroot(opts: RunOptions, kit: Pick<FakerootKit, 'libDir'>, key: string, ids?: { uid: number; gid: number }, groupsDir?: string): RunOptions {
  const faked: Record<string, string> = {};
  if (ids !== undefined && (ids.uid !== 0 || ids.gid !== 0)) {
    for (const k of ['UID', 'EUID', 'SUID', 'FUID']) faked[`FAKEROOT${k}`] = String(ids.uid);
    for (const k of ['GID', 'EGID', 'SGID', 'FGID']) faked[`FAKEROOT${k}`] = String(ids.gid);
  }
  // the groups shim answers getgroups before libfakeroot does (groups-shim.ts)
  const lib = `${groupsDir !== undefined ? `${GROUPS_GUEST_DIR}/${GROUPS_SHIM}:` : ''}${FAKEROOT_GUEST_DIR}/libfakeroot-sysv.so`;
  const preload = opts.env.LD_PRELOAD;
  return {
    ...opts,
    binds: [...opts.binds, { src: kit.libDir, dst: FAKEROOT_GUEST_DIR }, ...(groupsDir !== undefined ? [{ src: groupsDir, dst: GROUPS_GUEST_DIR }] : [])],
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
    let groupsDir: string | undefined;
    if (ids !== undefined && (ids.uid !== 0 || ids.gid !== 0)) {
      groupsDir = await prepareGroupsShim(deps.cacheDir, ids.groups);
      if (groupsDir === undefined) deps.logger.debug(`no groups shim for ${process.arch}: ${ids.name} shows only its primary group`);
    }
    const code = await run(withFakeroot(opts, rec.kit, faked.key, ids, groupsDir));
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

/** faked-sysv on the host, run in the foreground as cake's child (its own session), dying with cake. */
export class FakedDaemon {
  private constructor(
    private readonly child: ChildProcess,
    private readonly work: string,
    readonly key: string,
    readonly pid: number,
    private readonly onExit: () => void,
  ) {}

  /** Starts faked loaded with `entries`; `workParent` gets a private dir for the save file. */
  static async start(kit: FakerootKit, entries: readonly FakedEntry[], workParent: string): Promise<FakedDaemon> {
    await mkdir(workParent, { recursive: true });
    // named in the temporary scheme gc knows: a run killed with -9 leaves it, and gc removes it
    const work = tmpSibling(join(workParent, 'run'));
    await mkdir(work, { mode: 0o700 });
    const save = join(work, 'save');
    let loadFd: number | undefined;
    try {
      const args = ['--inhibit-cache', '--library-path', kit.libraryPath, kit.faked, '--foreground', '--save-file', save];
      if (entries.length > 0) {
        await writeFile(join(work, 'load'), formatFakedSave(entries));
        loadFd = openSync(join(work, 'load'), 'r');
        args.push('--load');
      }
      // faked must not outlive cake (it would keep its message queues): the kernel sends it SIGTERM
      // when cake dies, even by SIGKILL (PR_SET_PDEATHSIG, kept across setpriv's exec; faked
      // --foreground does not fork); SIGTERM, not KILL, so faked removes its queues as it goes
      const setpriv = await findHostProgram('setpriv', {});
      const argv: [string, string[]] = setpriv === undefined ? [kit.ldso, args] : [setpriv, ['--pdeathsig', 'TERM', '--', kit.ldso, ...args]];
      const child = spawn(argv[0], argv[1], { stdio: [loadFd ?? 'ignore', 'pipe', 'pipe'], detached: true, env: { PATH: '/usr/bin:/bin' } });
      const { key, pid } = await readKey(child);
      // and on a normal exit that skipped stop()
      const onExit = (): void => void child.kill('SIGTERM');
      process.once('exit', onExit);
      return new FakedDaemon(child, work, key, pid, onExit);
    } catch (err) {
      await rm(work, { recursive: true, force: true });
      throw err;
    } finally {
      if (loadFd !== undefined) closeSync(loadFd);
    }
  }

  /** Stops faked (SIGTERM makes it write its save file) and returns what it saved. */
  async stop(): Promise<FakedEntry[]> {
    process.removeListener('exit', this.onExit);
    try {
      if (this.child.exitCode === null && this.child.signalCode === null) {
        const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
        this.child.kill('SIGTERM');
        const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      let text: string;
      try {
        text = readFileSync(join(this.work, 'save'), 'utf8');
      } catch {
        throw new CakeError('engine', 'faked wrote no save file');
      }
      return parseFakedSave(text);
    } finally {
      await rm(this.work, { recursive: true, force: true });
    }
  }
}

/** faked prints `KEY:PID` once its message queues exist. */
function readKey(child: ChildProcess): Promise<{ key: string; pid: number }> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const done = (): void => {
      clearTimeout(timer);
      child.stdout!.removeListener('data', onData);
      child.removeListener('exit', onExit);
      child.removeListener('error', onError);
      child.stdout!.resume();
    };
    const fail = (why: string): void => {
      done();
      child.kill('SIGKILL');
      reject(new CakeError('engine', `faked did not start: ${why}`));
    };
    const onData = (d: Buffer): void => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      const m = /^(\d+):(\d+)$/.exec(out.slice(0, nl).trim());
      if (m === null) return fail(`unexpected output ${JSON.stringify(out.slice(0, 80))}`);
      done();
      resolve({ key: m[1]!, pid: Number(m[2]) });
    };
    const onExit = (code: number | null, sig: NodeJS.Signals | null): void => fail(err.trim() || `exited with ${code ?? sig}`);
    const onError = (e: Error): void => fail(e.message);
    const timer = setTimeout(() => fail('no key after 10 s'), 10_000);
    child.stderr!.on('data', (d: Buffer) => {
      if (err.length < 2000) err += d.toString();
    });
    child.stdout!.on('data', onData);
    child.once('exit', onExit);
    child.once('error', onError);
  });
}
