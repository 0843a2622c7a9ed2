import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CakeError, isErrno } from '../model/errors.js';
import { validateEnvName } from '../model/names.js';
import { removeTree } from '../archive/remove-tree.js';
import { pidAlive, withLock } from './lock.js';
import type { CakePaths } from './paths.js';
import type { EnvRecord } from './env-record.js';

const STAGING = /^\.staging-(.+)\.(\d+)\.[0-9a-f]+$/;
const TRASH = /^\.trash-(.+)\.(\d+)\.[0-9a-f]+$/;

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
    try {
      return JSON.parse(text) as EnvRecord;
    } catch (err) {
      throw new CakeError('io', `environment ${name} has a corrupt env.json: ${(err as Error).message}`, {
        hint: `remove it with \`cake rm ${name}\` and pull it again`,
      });
    }
  }

  /** All complete envs, sorted by name. */
  list(): EnvRecord[] {
    if (!existsSync(this.paths.envs)) return [];
    const out: EnvRecord[] = [];
    for (const entry of readdirSync(this.paths.envs).sort()) {
      if (entry.startsWith('.')) continue;
      if (!existsSync(join(this.paths.envs, entry, 'env.json'))) continue;
      try {
        out.push(this.get(entry));
      } catch {
        // A corrupt record must not hide the others; `cake doctor` reports it.
      }
    }
    return out;
  }

  /** Rewrites env.json atomically (write a sibling, rename). Caller holds the env lock. */
  writeRecord(dir: string, record: EnvRecord): void {
    const tmp = join(dir, `.env.json.${process.pid}`);
    writeFileSync(tmp, JSON.stringify(record, null, 1) + '\n', { mode: 0o644 });
    renameSync(tmp, join(dir, 'env.json'));
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
      const existing = this.get(name);
      if (opts.reuse?.(existing)) return existing;
      if (!opts.force) throw this.existsError(name);
      return undefined;
    };
    const early = settled();
    if (early) return early;
    mkdirSync(this.paths.envs, { recursive: true });
    await this.sweep();
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
          await removeTree(trash);
        } else {
          renameSync(dir, final);
        }
        return record;
      } catch (err) {
        await removeTree(dir);
        throw err;
      }
    });
  }

  private existsError(name: string): CakeError {
    return new CakeError('exists', `environment ${name} already exists`, {
      hint: `use --force to replace it, --name to pick another name, or \`cake rm ${name}\``,
    });
  }

  /** Removes an env whatever the modes of its files. */
  async remove(name: string): Promise<void> {
    await withLock(this.lockPath(name), { what: `environment ${name}` }, async () => {
      if (!this.exists(name)) this.get(name); // throws the not-found error
      const suffix = `${process.pid}.${Math.random().toString(16).slice(2, 10)}`;
      const trash = join(this.paths.envs, `.trash-${name}.${suffix}`);
      // Rename first so the env disappears atomically, then delete at leisure.
      renameSync(this.dir(name), trash);
      await removeTree(trash);
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

  /** Removes staging and trash dirs left by processes that no longer run. Returns how many. */
  async sweep(): Promise<number> {
    if (!existsSync(this.paths.envs)) return 0;
    let removed = 0;
    for (const entry of readdirSync(this.paths.envs)) {
      const m = STAGING.exec(entry) ?? TRASH.exec(entry);
      if (!m) continue;
      if (pidAlive(Number(m[2])) && Number(m[2]) !== process.pid) continue;
      if (Number(m[2]) === process.pid && STAGING.test(entry)) continue;
      await removeTree(join(this.paths.envs, entry));
      removed++;
    }
    return removed;
  }

  /** Bytes used on disk by an env (apparent sizes). */
  static diskUsage(dir: string): number {
    let total = 0;
    const walk = (d: string): void => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.isFile()) total += statSync(p).size;
      }
    };
    try {
      walk(dir);
    } catch {
      // Unreadable parts (mode 000 dirs) are not counted.
    }
    return total;
  }
}
