/**
 * Writing into an env's root filesystem from the host side (add, copy, file and user steps).
 * Guest paths are resolved inside the root (guest symlinks followed as guest paths, never out of
 * the root); the last component is replaced, not followed. Every file is written as a new inode
 * (a temporary file renamed into place), which is what the snapshot change detection relies on.
 * On disk, directories get u+rwx and files u+rw; the real mode goes to the ownership table, and
 * what is written is root's.
 */
import { chmodSync, lstatSync, mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { posix } from 'node:path';
import { recordOwner, removeOwnerSubtree, type OwnershipTable } from '../model/ownership.js';
import { CakeError } from '../model/errors.js';
import { removeTreeSync } from '../archive/remove-tree.js';
import { copyFileKeepingHoles } from '../archive/copy-file.js';
import { resolveIn } from './closure.js';
import type { AddPlan } from './add-plan.js';

let seq = 0;

/** The host path of guest directory `dir` in `root`, created (with parents, 0755) when missing. */
export async function ensureGuestDir(root: string, table: OwnershipTable, dir: string): Promise<string> {
  const r = await resolveIn(root, dir);
  if (r.kind === 'dir') return r.hostPath;
  if (r.kind === 'file') throw new CakeError('io', `cannot create ${dir} in the env: ${r.guestPath} is not a directory`);
  const parent = posix.dirname(r.guestPath);
  if (parent !== r.guestPath) await ensureGuestDir(root, table, parent);
  mkdirSync(r.hostPath, { mode: 0o755 });
  chmodSync(r.hostPath, 0o755);
  recordOwner(table, rel(r.guestPath), { uid: 0, gid: 0, mode: 0o755 }, 0o755);
  return r.hostPath;
}

function rel(guestPath: string): string {
  return guestPath.replace(/^\/+/, '');
}

/** Where guest path `dest` goes: its parent resolved (and created), its name kept. */
async function place(root: string, table: OwnershipTable, dest: string): Promise<{ host: string; key: string }> {
  const name = posix.basename(dest);
  if (name === '' || name === '..' || name === '.') throw new CakeError('usage', `invalid destination ${dest}`, { exitCode: 2 });
  const parentHost = await ensureGuestDir(root, table, posix.dirname(dest));
  const parentGuest = (await resolveIn(root, posix.dirname(dest))).guestPath;
  return { host: posix.join(parentHost, name), key: rel(posix.join(parentGuest, name)) };
}

/** Replaces whatever is at `host` by the temporary `tmp` (a directory in the way is removed). */
function replace(tmp: string, host: string): void {
  const old = lstatSync(host, { throwIfNoEntry: false });
  if (old?.isDirectory()) removeTreeSync(host);
  renameSync(tmp, host);
}

function tmpBeside(host: string): string {
  return posix.join(posix.dirname(host), `.cake-new-${process.pid}-${seq++}`);
}

/**
 * Writes a file (content or a copy of a file) at guest path `dest`, root-owned with `mode`. The
 * copy keeps holes and never follows a symlink or opens a fifo at `copyOf` (a path resolved in
 * another env may be swapped by its guest after planning), unless `follow` (a recipe's own
 * `copy:` source, named by its author); the temporary is created new, never through a symlink.
 */
export async function writeGuestFile(root: string, table: OwnershipTable, dest: string, data: { content: string | Buffer } | { copyOf: string; follow?: boolean }, mode: number): Promise<void> {
  const { host, key } = await place(root, table, dest);
  const tmp = tmpBeside(host);
  try {
    if ('content' in data) writeFileSync(tmp, data.content, { mode: 0o600, flag: 'wx' });
    else copyFileKeepingHoles(data.copyOf, tmp, { follow: data.follow === true });
    const disk = mode | 0o600;
    chmodSync(tmp, disk);
    replace(tmp, host);
  } finally {
    rmSync(tmp, { force: true });
  }
  removeOwnerSubtree(table, key);
  recordOwner(table, key, { uid: 0, gid: 0, mode }, mode | 0o600);
}

export async function writeGuestSymlink(root: string, table: OwnershipTable, dest: string, target: string): Promise<void> {
  const { host, key } = await place(root, table, dest);
  const tmp = tmpBeside(host);
  symlinkSync(target, tmp);
  try {
    replace(tmp, host);
  } finally {
    rmSync(tmp, { force: true });
  }
  removeOwnerSubtree(table, key);
}

export async function makeGuestDir(root: string, table: OwnershipTable, dest: string, mode: number): Promise<void> {
  const r = await resolveIn(root, dest);
  if (r.kind === 'file') {
    const { host } = await place(root, table, dest);
    rmSync(host, { force: true });
  }
  const host = await ensureGuestDir(root, table, dest);
  chmodSync(host, mode | 0o700);
  const key = rel((await resolveIn(root, dest)).guestPath);
  recordOwner(table, key, { uid: 0, gid: 0, mode }, mode | 0o700);
}

/**
 * Applies an add plan to the env at `root`: store paths the target has already are skipped (they
 * are immutable by name), everything else is written. A plan with wrappers needs /bin/sh in the
 * target. Returns the number of items written.
 */
export async function applyPlan(root: string, table: OwnershipTable, plan: AddPlan, envName: string): Promise<number> {
  if (plan.needsShell && (await resolveIn(root, '/bin/sh')).kind !== 'file') {
    throw new CakeError('not-found', `env ${envName} has no /bin/sh to run the wrapper of a dynamic program`, {
      hint: 'add a static shell first (for example busybox), or take a static build of the program',
    });
  }
  const present = new Set<string>();
  for (const p of plan.storePaths) if ((await resolveIn(root, p)).kind !== 'missing') present.add(p);
  const skip = (dest: string): boolean => [...present].some((p) => dest === p || dest.startsWith(p + '/'));
  let written = 0;
  for (const it of plan.items) {
    if (skip(it.dest)) continue;
    if (it.kind === 'dir') await makeGuestDir(root, table, it.dest, it.mode);
    else if (it.kind === 'symlink') await writeGuestSymlink(root, table, it.dest, it.target);
    else if (it.kind === 'file') await writeGuestFile(root, table, it.dest, { copyOf: it.src }, it.mode);
    else await writeGuestFile(root, table, it.dest, { content: it.content }, it.mode);
    written++;
  }
  return written;
}
