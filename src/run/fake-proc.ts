import { mkdir, open } from 'node:fs/promises';
import { writeFileAtomic } from '../store/atomic-write.js';
import { join } from 'node:path';

/**
 * Stand-ins for /proc files that some hosts (Android, hardened kernels, some containers) refuse
 * to read and that guest programs (top, ps, uptime, libuv, glibc's sysconf) expect. The list and
 * the idea are proot-distro's; the contents are cake's own snapshot of an idle
 * 4-CPU machine. They are bound only where the host's file cannot be read.
 */
export const FAKE_PROC_FILES: Readonly<Record<string, string>> = {
  '/proc/loadavg': '0.12 0.07 0.02 2/165 765\n',
  '/proc/uptime': '124.08 932.80\n',
  '/proc/version': 'Linux version 6.1.0-cake (cake@localhost) (gcc (GCC) 12.2.0) #1 SMP PREEMPT_DYNAMIC\n',
  '/proc/stat': [
    'cpu  1957 0 2877 93280 262 342 254 87 0 0',
    'cpu0 31 0 226 12027 82 10 4 9 0 0',
    'cpu1 45 0 664 11144 21 263 233 12 0 0',
    'cpu2 494 0 537 11283 27 10 3 8 0 0',
    'cpu3 359 0 234 11723 24 26 5 7 0 0',
    'intr 53261 0 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0',
    'ctxt 38014093',
    'btime 1694292441',
    'processes 26442',
    'procs_running 1',
    'procs_blocked 0',
    'softirq 75663 0 5903 6 25375 10774 0 243 11685 0 21677',
    '',
  ].join('\n'),
  '/proc/vmstat': ['nr_free_pages 1743136', 'nr_zone_inactive_anon 179281', 'nr_zone_active_anon 7183', 'nr_dirty 3', 'pgpgin 890508', 'pgpgout 4038932', ''].join('\n'),
  '/proc/sys/kernel/cap_last_cap': '40\n',
  '/proc/sys/fs/inotify/max_user_watches': '4096\n',
};

/** True when the file can be opened and read (one byte is enough: some files open but EACCES on read). */
export async function canRead(path: string): Promise<boolean> {
  try {
    const fh = await open(path, 'r');
    try {
      await fh.read(Buffer.alloc(1), 0, 1, null);
      return true;
    } finally {
      await fh.close();
    }
  } catch {
    return false;
  }
}

/**
 * Finds the /proc files of FAKE_PROC_FILES that this host refuses to read, writes fakes for them
 * into `dir` (atomically, idempotent, safe for concurrent runs) and returns the binds to add.
 * `readable` is injectable for tests. An empty list on ordinary Linux hosts.
 */
export async function fakeProcBinds(dir: string, readable: (path: string) => Promise<boolean> = canRead): Promise<{ src: string; dst: string }[]> {
  const out: { src: string; dst: string }[] = [];
  for (const [guest, content] of Object.entries(FAKE_PROC_FILES)) {
    if (await readable(guest)) continue;
    const file = join(dir, guest.slice('/proc/'.length).replaceAll('/', '.'));
    await mkdir(dir, { recursive: true });
    writeFileAtomic(file, content);
    out.push({ src: file, dst: guest });
  }
  return out;
}
