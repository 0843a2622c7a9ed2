/**
 * The first stage of a bootstrap: the essential set's data.tar members extracted by cake's safe
 * extractor into the empty root (so that the guest has a shell, a libc and dpkg), then /usr merged.
 * The guest's dpkg later installs the same packages properly (scripts, database); this stage only
 * has to produce a tree that dpkg can run in.
 */
import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import { extractTar, type ExtractStats } from '../archive/extract.js';
import type { OwnershipTable } from '../model/ownership.js';
import { CakeError } from '../model/errors.js';
import type { Logger } from '../model/logger.js';
import { mergeUsr, type MergeReport } from './bootstrap-merged-usr.js';
import { openDeb } from './deb-file.js';

export interface UnpackResult {
  stats: ExtractStats;
  merge: MergeReport;
  /** Where the packages ship these programs, relative to the root (before the merge). */
  programs: { startStopDaemon?: string; ischroot?: string };
}

const PROGRAMS = {
  startStopDaemon: ['sbin/start-stop-daemon', 'usr/sbin/start-stop-daemon'],
  ischroot: ['bin/ischroot', 'usr/bin/ischroot'],
} as const;

/**
 * Extracts each .deb's data.tar into `root` (`concurrency` at a time: decompression runs in child
 * processes, so two or three overlap well), recording ownership in `table`, then merges /usr
 * (`mergedDirs`). The packages must not ship the same file twice (the essential set does not);
 * directories shared between them are merged.
 */
export async function unpackEssential(
  root: string,
  debs: ReadonlyArray<{ name: string; path: string }>,
  o: { table: OwnershipTable; mergedDirs: readonly string[]; logger: Logger; signal?: AbortSignal; concurrency?: number },
): Promise<UnpackResult> {
  const total: ExtractStats = { entries: 0, files: 0, dirs: 0, symlinks: 0, hardlinks: 0, devicesSkipped: 0, fifos: 0, bytes: 0, whiteouts: 0 };
  const bar = o.logger.progress('unpacking', debs.length, 'items');
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < debs.length) {
      const d = debs[next++]!;
      if (o.signal?.aborted) throw new CakeError('interrupted', 'interrupted');
      const deb = await openDeb(d.path, { control: false });
      const stream = await deb.dataStream(o.signal ? { signal: o.signal } : {});
      let stats: ExtractStats;
      try {
        stats = await extractTar(stream, { root, ownership: o.table, ...(o.signal ? { signal: o.signal } : {}) });
      } catch (err) {
        next = debs.length; // the other workers stop after their current package
        if (err instanceof CakeError) throw new CakeError(err.code, `unpacking ${d.name}: ${err.message}`, { cause: err, ...(err.hint ? { hint: err.hint } : {}) });
        throw err;
      }
      for (const k of Object.keys(total) as (keyof ExtractStats)[]) total[k] += stats[k];
      bar.update(++done);
    }
  };
  try {
    const n = Math.max(1, Math.min(o.concurrency ?? 3, debs.length));
    const results = await Promise.allSettled(Array.from({ length: n }, () => worker()));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
  } finally {
    bar.stop();
  }
  const programs: UnpackResult['programs'] = {};
  for (const [key, candidates] of Object.entries(PROGRAMS) as [keyof typeof PROGRAMS, readonly string[]][]) {
    const found = candidates.find((c) => lstatSync(join(root, c), { throwIfNoEntry: false })?.isFile());
    if (found !== undefined) programs[key] = found;
  }
  const merge = mergeUsr(root, o.mergedDirs, o.table);
  if (merge.conflicts.length > 0) o.logger.debug(`merged /usr: kept the /usr copy of ${merge.conflicts.join(', ')}`);
  return { stats: total, merge, programs };
}
