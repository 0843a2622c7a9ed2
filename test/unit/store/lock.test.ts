import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { acquireLock, clearStaleLock, lockIsStale, withLock } from '../../../src/store/lock.js';
import { formatOwner, processStart, selfOwner } from '../../../src/store/owner.js';
import { REPO } from '../../helpers/cli.js';

const run = promisify(execFile);
const dirs: string[] = [];
afterEach(() => {
  while (dirs.length) rmSync(dirs.pop()!, { recursive: true, force: true });
});

function lockDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'cake-lock-'));
  dirs.push(d);
  return d;
}

/** A pid that ran and is gone now. */
function deadPid(): number {
  const r = spawnSync('sh', ['-c', 'echo $$']);
  return Number(String(r.stdout).trim());
}

const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();

describe('locks', () => {
  it('names the holder by pid, start time, boot id and pid namespace; written whole; removed on release', async () => {
    const path = join(lockDir(), 'a.lock');
    const lock = await acquireLock(path, { what: 'a' });
    expect(readFileSync(path, 'utf8')).toBe(`${formatOwner()}\n`);
    expect(selfOwner().start).toBe(processStart(process.pid));
    expect(selfOwner().boot).toBe(boot);
    lock.release();
    expect(existsSync(path)).toBe(false);
    // no temporary is left beside it
    expect(readdirSync(join(path, '..'))).toEqual([]);
  });

  const stale: Array<[string, () => string, RegExp]> = [
    ['an empty file (ENOSPC while it was written)', () => '', /the lock file is empty/],
    ['garbage', () => 'not a lock at all\n', /holds no owner/],
    ['a dead pid', () => `${deadPid()} 1 ${boot} ${selfOwner().ns}\n`, /pid \d+ is gone/],
    ['a live pid that is another process (pid reuse)', () => `1 999999999 ${boot} ${selfOwner().ns}\n`, /pid 1 is now another process/],
    ['a holder of another boot', () => `${process.pid} ${selfOwner().start} 00000000-0000-0000-0000-000000000000 ${selfOwner().ns}\n`, /before the last reboot/],
    ['the old format: a live pid that is not cake', () => '1\n', /pid 1 is not cake/],
  ];
  for (const [what, content, why] of stale) {
    it(`takes over a lock left by ${what} at once, with a note`, async () => {
      const path = join(lockDir(), 'env-x.lock');
      writeFileSync(path, content());
      expect(lockIsStale(path)).toBe(true);
      const notes: string[] = [];
      const lock = await acquireLock(path, { what: 'x', waitMs: 0, onTakeover: (n) => notes.push(n) });
      expect(notes).toHaveLength(1);
      expect(notes[0]).toMatch(why);
      expect(readFileSync(path, 'utf8')).toBe(`${formatOwner()}\n`);
      lock.release();
    });
  }

  it('waits for a live holder, fails after waitMs naming it, and stops waiting on abort', async () => {
    const path = join(lockDir(), 'b.lock');
    const held = await acquireLock(path, { what: 'b' });
    expect(lockIsStale(path)).toBe(false);
    await expect(acquireLock(path, { what: 'environment b', waitMs: 100 })).rejects.toThrow(`environment b is busy: another cake process (pid ${process.pid}) holds`);
    const ac = new AbortController();
    const waiting = acquireLock(path, { what: 'b', signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await expect(waiting).rejects.toMatchObject({ code: 'interrupted' });
    held.release();
  });

  it('serves two waiters one after the other when the holder releases', async () => {
    const path = join(lockDir(), 'c.lock');
    const first = await acquireLock(path, { what: 'c' });
    let inside = 0;
    let most = 0;
    const order: string[] = [];
    const waiter = (name: string) =>
      withLock(path, { what: 'c' }, async () => {
        inside++;
        most = Math.max(most, inside);
        order.push(name);
        await new Promise((r) => setTimeout(r, 30));
        inside--;
      });
    const both = Promise.all([waiter('one'), waiter('two')]);
    await new Promise((r) => setTimeout(r, 50));
    expect(order).toEqual([]);
    first.release();
    await both;
    expect(order.sort()).toEqual(['one', 'two']);
    expect(most).toBe(1);
  });

  it('two processes waiting on a stale lock: exactly one takes it over, the other waits its turn', async () => {
    const dir = lockDir();
    const path = join(dir, 'd.lock');
    writeFileSync(path, `${deadPid()} 1 ${boot} ${selfOwner().ns}\n`);
    const log = join(dir, 'log');
    const script = `
      import { appendFileSync } from 'node:fs';
      import { withLock } from '${join(REPO, 'dist/store/lock.js')}';
      const notes = [];
      await withLock(${JSON.stringify(path)}, { what: 'd', onTakeover: (n) => notes.push(n) }, async () => {
        appendFileSync(${JSON.stringify(log)}, 'in ' + process.pid + '\\n');
        await new Promise((r) => setTimeout(r, 300));
        appendFileSync(${JSON.stringify(log)}, 'out ' + process.pid + '\\n');
      });
      process.stdout.write(String(notes.length));
    `;
    const outs = await Promise.all([0, 1, 2].map(() => run(process.execPath, ['--input-type=module', '-e', script])));
    // one takeover in all (the others found a live holder)
    expect(outs.map((o) => Number(o.stdout)).reduce((a, b) => a + b, 0)).toBe(1);
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(6);
    for (let i = 0; i < 6; i += 2) {
      expect(lines[i]).toMatch(/^in \d+$/);
      expect(lines[i + 1]).toBe(lines[i]!.replace('in', 'out'));
    }
    expect(existsSync(path)).toBe(false);
  });

  it('clearStaleLock removes the lock of a dead holder and keeps a live one', async () => {
    const dir = lockDir();
    writeFileSync(join(dir, 'dead.lock'), `${deadPid()} 1 ${boot} ${selfOwner().ns}\n`);
    expect(clearStaleLock(join(dir, 'dead.lock'))).toBe(true);
    expect(existsSync(join(dir, 'dead.lock'))).toBe(false);
    const live = await acquireLock(join(dir, 'live.lock'), { what: 'live' });
    expect(clearStaleLock(join(dir, 'live.lock'))).toBe(false);
    expect(existsSync(join(dir, 'live.lock'))).toBe(true);
    live.release();
  });
});
