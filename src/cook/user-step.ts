/**
 * The recipe `user` step: adds a user (and its group) by editing /etc/passwd, /etc/group and,
 * when the env has them, /etc/shadow and /etc/gshadow (password locked, no aging date, so the
 * result does not depend on the day), then creates the home directory owned by the user in the
 * ownership table. Works in any env, with or without useradd.
 */
import { lstatSync, readFileSync } from 'node:fs';
import { getOwner, recordOwner, type OwnershipTable } from '../model/ownership.js';
import { CakeError } from '../model/errors.js';
import { resolveIn } from './closure.js';
import { ensureGuestDir, writeGuestFile } from './add-apply.js';
import type { Step } from './recipe-types.js';

type UserStep = Extract<Step, { kind: 'user' }>;

async function readGuest(root: string, path: string): Promise<{ text: string; key: string; mode: number } | undefined> {
  const r = await resolveIn(root, path);
  if (r.kind !== 'file') return undefined;
  return { text: readFileSync(r.hostPath, 'utf8'), key: r.guestPath.slice(1), mode: lstatSync(r.hostPath).mode & 0o7777 };
}

function ids(text: string, field: number): Set<number> {
  const out = new Set<number>();
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length > field && /^\d+$/.test(f[field]!)) out.add(Number(f[field]));
  }
  return out;
}

function names(text: string): Set<string> {
  return new Set(text.split('\n').filter((l) => l.includes(':')).map((l) => l.slice(0, l.indexOf(':'))));
}

function freeId(used: Set<number>, from = 1000): number {
  let id = from;
  while (used.has(id)) id++;
  return id;
}

function appendLine(text: string, line: string): string {
  return (text === '' || text.endsWith('\n') ? text : text + '\n') + line + '\n';
}

/** Rewrites a guest file keeping its owner and mode from the ownership table. */
async function rewrite(root: string, table: OwnershipTable, path: string, key: string, text: string, diskMode: number): Promise<void> {
  const rec = getOwner(table, key);
  const mode = rec?.mode ?? diskMode;
  await writeGuestFile(root, table, path, { content: text }, mode);
  if (rec) recordOwner(table, key, { uid: rec.uid, gid: rec.gid, mode }, mode | 0o600);
}

export async function addUser(root: string, table: OwnershipTable, step: UserStep, where: string): Promise<void> {
  const fail = (msg: string) => new CakeError('recipe', `${where}: ${msg}`);
  const passwd = await readGuest(root, '/etc/passwd');
  const group = await readGuest(root, '/etc/group');
  if (!passwd || !group) throw fail('the env has no /etc/passwd or /etc/group');
  if (names(passwd.text).has(step.name)) throw fail(`user ${step.name} exists already`);
  const uids = ids(passwd.text, 2);
  const gids = ids(group.text, 2);
  const uid = step.uid ?? freeId(uids);
  if (step.uid !== undefined && uids.has(step.uid)) throw fail(`uid ${step.uid} is taken`);
  let groupText = group.text;
  let gid = step.gid;
  if (gid === undefined || !gids.has(gid)) {
    if (names(groupText).has(step.name)) throw fail(`group ${step.name} exists already; give its gid`);
    gid ??= gids.has(uid) ? freeId(gids) : uid;
    groupText = appendLine(groupText, `${step.name}:x:${gid}:`);
  }
  const lines = groupText.split('\n');
  for (const g of step.groups) {
    const i = lines.findIndex((l) => l.startsWith(g + ':'));
    if (i < 0) throw fail(`no group ${g} in the env`);
    const f = lines[i]!.split(':');
    const members = (f[3] ?? '').split(',').filter((m) => m !== '');
    f[3] = [...members, step.name].join(',');
    lines[i] = f.join(':');
  }
  groupText = lines.join('\n');
  const home = step.home ?? `/home/${step.name}`;
  const shell = step.shell ?? ((await resolveIn(root, '/bin/bash')).kind === 'file' ? '/bin/bash' : '/bin/sh');
  await rewrite(root, table, '/etc/passwd', passwd.key, appendLine(passwd.text, `${step.name}:x:${uid}:${gid}::${home}:${shell}`), passwd.mode);
  await rewrite(root, table, '/etc/group', group.key, groupText, group.mode);
  const shadow = await readGuest(root, '/etc/shadow');
  if (shadow) await rewrite(root, table, '/etc/shadow', shadow.key, appendLine(shadow.text, `${step.name}:!::0:99999:7:::`), shadow.mode);
  const gshadow = await readGuest(root, '/etc/gshadow');
  if (gshadow && !names(gshadow.text).has(step.name)) await rewrite(root, table, '/etc/gshadow', gshadow.key, appendLine(gshadow.text, `${step.name}:!::`), gshadow.mode);
  await ensureGuestDir(root, table, home);
  const h = await resolveIn(root, home);
  recordOwner(table, h.guestPath.slice(1), { uid, gid, mode: 0o755 }, 0o755);
}
