/**
 * Who owns a lock, a lease or a temporary file: a process named by more than its pid, so that a
 * reused pid (another program, or a cake started after a reboot) is not taken for the owner.
 * An owner is `PID START BOOT NS`: START is field 22 of /proc/PID/stat (clock ticks after boot at
 * which the process started), BOOT the kernel's boot id, NS the inode of the owner's pid
 * namespace. An owner is alive when the same boot runs a process with that pid and that start
 * time. An owner from another pid namespace cannot be checked from here and counts as alive.
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { isErrno } from '../model/errors.js';

export interface Owner {
  pid: number;
  start: string;
  boot: string;
  ns: string;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Field 22 (starttime) of /proc/PID/stat, or undefined when there is no such process. */
export function processStart(pid: number): string | undefined {
  const stat = readText(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  // comm (field 2) may hold spaces and parentheses: fields 3.. follow the last ')'
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return rest[19];
}

let self: Owner | undefined;

/** The identity of this process. */
export function selfOwner(): Owner {
  if (self === undefined || self.pid !== process.pid) {
    let ns = '-';
    try {
      ns = readlinkSync('/proc/self/ns/pid').replace(/^pid:\[(\d+)\]$/, '$1');
    } catch {
      // no /proc/self/ns: the namespace is not recorded
    }
    self = { pid: process.pid, start: processStart(process.pid) ?? '-', boot: (readText('/proc/sys/kernel/random/boot_id') ?? '-').trim(), ns };
  }
  return self;
}

/** The one-line text form: `PID START BOOT NS`. */
export function formatOwner(o: Owner = selfOwner()): string {
  return `${o.pid} ${o.start} ${o.boot} ${o.ns}`;
}

/** Parses {@link formatOwner}'s text (first line); undefined for anything else. */
export function parseOwner(text: string): Owner | undefined {
  const m = /^(\d+) (\d+|-) ([0-9a-f-]+) (\d+|-)$/.exec(text.split('\n')[0] ?? '');
  if (!m) return undefined;
  return { pid: Number(m[1]), start: m[2]!, boot: m[3]!, ns: m[4]! };
}

/** True when a process with this pid exists (EPERM: it exists but belongs to someone else). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return isErrno(err, 'EPERM');
  }
}

/**
 * Whether `o` still runs, with the reason when it does not (for notes): another boot, no such
 * pid, or a pid that now belongs to a process started at another time.
 */
export function ownerState(o: Owner): { alive: true } | { alive: false; why: string } {
  const me = selfOwner();
  if (o.boot !== '-' && me.boot !== '-' && o.boot !== me.boot) return { alive: false, why: 'written before the last reboot' };
  if (o.ns !== '-' && me.ns !== '-' && o.ns !== me.ns) return { alive: true }; // another pid namespace: cannot tell
  if (o.pid === me.pid) return o.start === me.start || o.start === '-' ? { alive: true } : { alive: false, why: `pid ${o.pid} is reused` };
  const start = processStart(o.pid);
  if (start === undefined) return pidAlive(o.pid) ? { alive: true } : { alive: false, why: `pid ${o.pid} is gone` };
  if (o.start !== '-' && start !== o.start) return { alive: false, why: `pid ${o.pid} is now another process` };
  return { alive: true };
}

/** True when the process `pid` (a pid alone, from a file name) may still be the cake that wrote it. */
export function pidMayOwn(pid: number): boolean {
  return pid === process.pid || pidAlive(pid);
}
