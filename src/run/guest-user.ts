import { readFile } from 'node:fs/promises';
import { OptionError } from '../model/errors.js';
import { resolveGuestPath } from './guest-path.js';

/** One line of a guest's /etc/passwd. */
export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

/** Who the command runs as inside the guest. */
export interface GuestUser {
  /** The name for USER/LOGNAME: the passwd name, else the uid as text. */
  name: string;
  uid: number;
  gid: number;
  /** From passwd; `/root` for root and `/` for others when the user has no entry. */
  home: string;
  /** Login shell from passwd; `/bin/sh` when unknown or a no-login shell. */
  shell: string;
}

/** Parses /etc/passwd text; malformed lines are skipped (a guest file is not ours to fix). Pure. */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 7) continue;
    const uid = toId(f[2]);
    const gid = toId(f[3]);
    if (uid === undefined || gid === undefined || f[0] === '') continue;
    out.push({ name: f[0]!, uid, gid, home: f[5]! || '/', shell: f[6]! });
  }
  return out;
}

/** Parses /etc/group text into name -> gid. Pure. */
export function parseGroup(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const f = line.split(':');
    const gid = toId(f[2]);
    if (f.length >= 3 && f[0] && gid !== undefined && !out.has(f[0])) out.set(f[0], gid);
  }
  return out;
}

/**
 * The groups a login of `name` (primary group `gid`) gets from /etc/group text, as initgroups
 * gives them: `gid` first, then each group listing `name` as a member, in file order, once. Pure.
 */
export function userGroups(name: string, gid: number, groupText: string): number[] {
  const out = [gid];
  for (const line of groupText.split('\n')) {
    const f = line.split(':');
    const g = toId(f[2]);
    if (f.length < 4 || g === undefined || out.includes(g)) continue;
    if (f[3]!.split(',').some((m) => m.trim() === name)) out.push(g);
  }
  return out;
}

function toId(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d{1,10}$/.test(text)) return undefined;
  const n = Number(text);
  return n <= 0xfffffffe ? n : undefined;
}

const NOLOGIN = /(^|\/)(nologin|false)$/;

/**
 * Resolves `--user` (a name, `uid`, `uid:gid`, `name:group`) against the guest's passwd and group.
 * Undefined means root. A name that the guest does not know is a UsageError; a numeric uid need
 * not exist (like docker), then HOME is `/` and USER the number. Pure.
 */
export function resolveGuestUser(spec: string | undefined, passwd: PasswdEntry[], groups: Map<string, number>): GuestUser {
  const text = spec ?? '0';
  const colon = text.indexOf(':');
  const userPart = colon < 0 ? text : text.slice(0, colon);
  const groupPart = colon < 0 ? undefined : text.slice(colon + 1);
  if (userPart === '' || groupPart === '') throw badUser(text, 'empty user or group');
  let entry: PasswdEntry | undefined;
  let uid = toId(userPart);
  if (uid === undefined) {
    entry = passwd.find((e) => e.name === userPart);
    if (!entry) throw badUser(text, `no user ${JSON.stringify(userPart)} in the guest's /etc/passwd`);
    uid = entry.uid;
  } else {
    entry = passwd.find((e) => e.uid === uid);
  }
  let gid = entry?.gid ?? uid;
  if (groupPart !== undefined) {
    const g = toId(groupPart) ?? groups.get(groupPart);
    if (g === undefined) throw badUser(text, `no group ${JSON.stringify(groupPart)} in the guest's /etc/group`);
    gid = g;
  }
  const shell = entry && entry.shell !== '' && !NOLOGIN.test(entry.shell) ? entry.shell : '/bin/sh';
  // A guest without a passwd entry for root (scratch images) still gets the conventional names.
  const fallbackName = uid === 0 ? 'root' : String(uid);
  const fallbackHome = uid === 0 ? '/root' : '/';
  return { name: entry?.name ?? fallbackName, uid, gid, home: entry?.home ?? fallbackHome, shell };
}

function badUser(text: string, why: string): OptionError {
  return new OptionError(['user'], `invalid {user} ${JSON.stringify(text)}: ${why}`, 'use {user} NAME, {user} UID or {user} UID:GID');
}

/** A guest text file read through guest symlinks only; empty when absent. */
async function readGuestText(root: string, guestPath: string): Promise<string> {
  const r = await resolveGuestPath(root, [], guestPath).catch(() => undefined);
  return r?.kind === 'file' ? readFile(r.hostPath, 'utf8').catch(() => '') : '';
}

/**
 * Resolves `spec` (see resolveGuestUser) against the passwd and group files of the guest at
 * `root`, with the user's supplementary groups (userGroups: the primary gid first).
 */
export async function readGuestUser(root: string, spec: string | undefined): Promise<GuestUser & { groups: number[] }> {
  const [passwd, group] = await Promise.all([readGuestText(root, '/etc/passwd'), readGuestText(root, '/etc/group')]);
  const user = resolveGuestUser(spec, parsePasswd(passwd), parseGroup(group));
  return { ...user, groups: userGroups(user.name, user.gid, group) };
}
