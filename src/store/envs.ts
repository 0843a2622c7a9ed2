import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { CakeError, isErrno } from '../model/errors.js';
import { validateEnvName } from '../model/names.js';
import { removeTree } from '../archive/remove-tree.js';
import { fsJoin, relJoin } from '../archive/tree-walk.js';
import { writeFileAtomic } from './atomic-write.js';
import { checkRecord } from './env-record.js';
import { holdLease, liveLeases, type Lease } from './lease.js';
import { lockIsStale, withLock } from './lock.js';
import type { CakePaths } from './paths.js';
import type { EnvRecord } from './env-record.js';
import { sweepLeftovers } from './env-sweep.js';

/** A staged env under construction: fill `rootfs`, then `commit` with the record. */
export interface Staging {
  dir: string;
  rootfs: string;
}

/**
 * Named environments: `envs/<name>/rootfs/` and `envs/<name>/env.json`. An env appears only when
 * complete: it is built in `envs/.staging-<name>.<pid>.<rand>` and renamed into place. Every
 * mutation holds the env's lock, so concurrent cake processes are safe. Leftovers of killed
 * processes (staging and trash dirs whose pid is gone) are removed by `sweep()`.
 */
export class EnvStore {
  constructor(private readonly paths: CakePaths) {}

  dir(name: string): string {
    return join(this.paths.envs, validateEnvName(name));
  }

  rootfs(name: string): string {
    return join(this.dir(name), 'rootfs');
  }

  lockPath(name: string): string {
    return join(this.paths.locks, `env-${validateEnvName(name)}.lock`);
  }

  exists(name: string): boolean {
    return existsSync(join(this.dir(name), 'env.json'));
  }

  get(name: string): EnvRecord {
    const file = join(this.dir(name), 'env.json');
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) {
        throw new CakeError('not-found', `no environment named ${name}`, {
          hint: 'see `cake list` for your environments, or `cake pull SOURCE --name ' + name + '` to create it',
        });
      }
      throw err;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw corrupt(name, (err as Error).message);
    }
    const problem = checkRecord(parsed);
    if (problem !== undefined) throw corrupt(name, problem);
    // The directory names the env: a record moved by hand (or naming ../../x) does not decide it.
    return { ...(parsed as EnvRecord), name };
  }

  /** All complete envs, sorted by name; an unreadable record is skipped (see {@link survey}). */
  list(): EnvRecord[] {
    return this.survey().records;
  }

  /** All complete envs, and the ones whose env.json cannot be used (name and what is wrong). */
  survey(): { records: EnvRecord[]; bad: { name: string; problem: string }[] } {
    const records: EnvRecord[] = [];
    const bad: { name: string; problem: string }[] = [];
    if (!existsSync(this.paths.envs)) return { records, bad };
    for (const entry of readdirSync(this.paths.envs).sort()) {
      if (entry.startsWith('.')) continue;
      try {
        validateEnvName(entry);
      } catch {
        continue; // not made by cake
      }
      if (!existsSync(join(this.paths.envs, entry, 'env.json'))) continue;
      try {
        records.push(this.get(entry));
      } catch (err) {
        bad.push({ name: entry, problem: err instanceof CakeError ? err.message : String(err) });
      }
    }
    return { records, bad };
  }

  /** Rewrites env.json atomically (write a sibling, rename). Caller holds the env lock. */
  writeRecord(dir: string, record: EnvRecord): void {
    writeFileAtomic(join(dir, 'env.json'), JSON.stringify(record, null, 1) + '\n');
  }

  /** Where the use leases of envs live (one per running enter/exec). */
  private get useDir(): string {
    return join(this.paths.locks, 'use');
  }

  /**
   * Marks env `name` as in use until the lease is released (or the process ends): `cake rm`
   * refuses to remove it meanwhile. Taken under the env's lock, after checking the env exists,
   * so an exec racing an rm either runs in the env or fails with "no environment". A command
   * that holds the env's lock (a cook, export or push of it) is waited for: the run starts after.
   */
  async holdUse(name: string, signal?: AbortSignal, onWait?: () => void): Promise<Lease> {
    return withLock(this.lockPath(name), { what: `environment ${name}`, ...(signal ? { signal } : {}), ...(onWait ? { onWait } : {}) }, async () => {
      if (!this.exists(name)) this.get(name); // throws the not-found error
      const lease = holdLease(this.useDir, name);
      try {
        // the mtime of `last-used` beside env.json is the env's last use (`cake list`, `cake inspect`)
        writeFileAtomic(join(this.dir(name), 'last-used'), '');
      } catch {
        // informational only
      }
      return lease;
    });
  }

  /**
   * How env `name` (created at `created`) is used: the pids of the enter/exec commands running in it
   * and the time of its last use since it was created (an older mark belongs to a removed env of
   * that name). Never throws.
   */
  usage(name: string, created: string): { lastUsed?: string; usedBy: number[] } {
    const usedBy = liveLeases(this.useDir, name).map((o) => o.pid);
    try {
      const mtime = lstatSync(join(this.dir(name), 'last-used')).mtime;
      if (mtime.getTime() >= Date.parse(created)) return { lastUsed: mtime.toISOString(), usedBy };
    } catch {
      // never used
    }
    return { usedBy };
  }

  update(name: string, change: (r: EnvRecord) => EnvRecord): Promise<EnvRecord> {
    return withLock(this.lockPath(name), { what: `environment ${name}` }, async () => {
      const next = change(this.get(name));
      this.writeRecord(this.dir(name), next);
      return next;
    });
  }

  /**
   * Builds a new env atomically. `build` fills the staging rootfs and returns the record; on
   * success the staging dir is renamed to the env's name (replacing an existing env only with
   * `force`). On any failure, including an abort, the staging dir is removed and nothing changes.
   */
  async create(
    name: string,
    build: (staging: Staging) => Promise<EnvRecord>,
    opts: { force?: boolean; signal?: AbortSignal; onWait?: () => void; reuse?: (existing: EnvRecord) => boolean } = {},
  ): Promise<EnvRecord> {
    validateEnvName(name);
    const settled = (): EnvRecord | undefined => {
      if (!this.exists(name)) return undefined;
      let existing: EnvRecord;
      try {
        existing = this.get(name);
      } catch (err) {
        if (opts.force) return undefined; // a corrupt record is replaced
        throw err;
      }
      if (opts.reuse?.(existing)) return existing;
      if (!opts.force) throw this.existsError(name);
      return undefined;
    };
    const early = settled();
    if (early) return early;
    mkdirSync(this.paths.envs, { recursive: true });
    await this.sweep(); // never fails: a leftover that cannot be removed stays for gc to report
    const lockOpts = { what: `environment ${name}`, ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.onWait ? { onWait: opts.onWait } : {}) };
    return withLock(this.lockPath(name), lockOpts, async () => {
      // Another process may have created it while we waited for the lock.
      const late = settled();
      if (late) return late;
      const suffix = `${process.pid}.${Math.random().toString(16).slice(2, 10)}`;
      const dir = join(this.paths.envs, `.staging-${name}.${suffix}`);
      const rootfs = join(dir, 'rootfs');
      mkdirSync(rootfs, { recursive: true, mode: 0o755 });
      try {
        const record = await build({ dir, rootfs });
        record.name = name;
        this.writeRecord(dir, record);
        const final = this.dir(name);
        if (existsSync(final)) {
          const trash = join(this.paths.envs, `.trash-${name}.${suffix}`);
          renameSync(final, trash);
          renameSync(dir, final);
          await removeTree(trash).catch(() => {}); // a leftover for the next sweep
        } else {
          renameSync(dir, final);
        }
        return record;
      } catch (err) {
        await removeTree(dir).catch(() => {}); // the error that matters is err; the sweep removes the rest
        throw err;
      }
    });
  }

  private existsError(name: string): CakeError {
    return new CakeError('exists', `environment ${name} already exists`, {
      hint: `use --force to replace it, --name to pick another name, or \`cake rm ${name}\``,
    });
  }

  /**
   * Removes an env whatever the modes and the depth of its files: the env disappears at once (a
   * rename), its files are then deleted; files that cannot be deleted now stay in a trash dir that
   * the next command sweeps (a warning through `onLeftover`), so removal itself always succeeds.
   * An env in use (a running enter/exec holds a lease) is refused unless `force`. A directory
   * without env.json (a skeleton left by a killed command) is removed too.
   */
  async remove(name: string, opts: { force?: boolean; signal?: AbortSignal; onWait?: () => void; onLeftover?: (msg: string) => void } = {}): Promise<void> {
    const lockOpts = { what: `environment ${name}`, ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.onWait ? { onWait: opts.onWait } : {}) };
    await withLock(this.lockPath(name), lockOpts, async () => {
      if (!existsSync(this.dir(name))) this.get(name); // throws the not-found error
      const users = liveLeases(this.useDir, name);
      if (users.length > 0 && !opts.force) {
        throw new CakeError('locked', `environment ${name} is in use by ${users.length === 1 ? 'a cake enter/exec' : `${users.length} cake enter/exec commands`} (pid ${users.map((u) => u.pid).join(', ')})`, {
          hint: `leave the shell or end the command first, or \`cake rm --force ${name}\``,
        });
      }
      const suffix = `${process.pid}.${Math.random().toString(16).slice(2, 10)}`;
      const trash = join(this.paths.envs, `.trash-${name}.${suffix}`);
      // Rename first so the env disappears atomically, then delete at leisure.
      renameSync(this.dir(name), trash);
      try {
        await removeTree(trash);
      } catch (err) {
        opts.onLeftover?.(`some files of ${name} could not be deleted yet (${(err as Error).message}); \`cake gc\` retries`);
      }
    });
  }

  async rename(from: string, to: string): Promise<void> {
    validateEnvName(to);
    await withLock(this.lockPath(from), { what: `environment ${from}` }, () =>
      withLock(this.lockPath(to), { what: `environment ${to}` }, async () => {
        const record = this.get(from);
        if (this.exists(to) || existsSync(this.dir(to))) throw this.existsError(to);
        renameSync(this.dir(from), this.dir(to));
        record.name = to;
        this.writeRecord(this.dir(to), record);
      }),
    );
  }

  /**
   * Removes staging and trash dirs left by processes that no longer run, and (with `skeletons`)
   * env dirs without env.json that nobody holds. Never throws: what cannot be removed is
   * listed in `failed` (a bad env never blocks the commands of the others).
   */
  async sweep(opts: { skeletons?: boolean } = {}): Promise<number> {
    return (await this.sweepReport(opts)).removed;
  }

  async sweepReport(opts: { skeletons?: boolean } = {}): Promise<{ removed: number; failed: string[] }> {
    // a dir without env.json is garbage when no live cake holds its lock or a use lease
    return sweepLeftovers(this.paths.envs, opts, (name) => lockIsStale(this.lockPath(name)) && liveLeases(this.useDir, name).length === 0);
  }

  /** Bytes used on disk by an env (apparent sizes). */
  static diskUsage(dir: string): number {
    let total = 0;
    const todo: Buffer[] = [Buffer.alloc(0)];
    while (todo.length > 0) {
      const rel = todo.pop()!;
      let names: Buffer[];
      try {
        names = readdirSync(fsJoin(dir, rel), { encoding: 'buffer' });
      } catch {
        continue; // unreadable parts (mode 000 dirs) are not counted
      }
      for (const n of names) {
        const r = relJoin(rel, n);
        const st = lstatSync(fsJoin(dir, r), { throwIfNoEntry: false });
        if (st?.isDirectory()) todo.push(r);
        else if (st?.isFile()) total += st.size;
      }
    }
    return total;
  }
}

function corrupt(name: string, problem: string): CakeError {
  return new CakeError('io', `environment ${name} has a corrupt env.json: ${problem}`, {
    hint: `remove it with \`cake rm ${name}\` and pull it again`,
  });
}
