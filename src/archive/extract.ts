/**
 * The safe extractor: the security boundary between hostile archives and the user's files.
 * See docs/ARCHITECTURE.md, "Why cake reads tar itself". Parsing is in tar-reader.ts, applying
 * entries in extractor.ts, the stay-inside-the-root walk in safe-path.ts, whiteouts in whiteout.ts.
 */
import { lstatSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { CakeError, toCakeError } from '../model/errors.js';
import type { OwnershipTable } from '../model/ownership.js';
import { Extractor } from './extractor.js';
import { BAD_ARCHIVE_HINT } from './tar-header.js';
import { TarReader, type EntrySink } from './tar-reader.js';

export interface ExtractOptions {
  /** absolute path of an existing directory: the env rootfs (or a staging dir) */
  root: string;
  /** updated in place (layers share one table) */
  ownership: OwnershipTable;
  /** like tar --strip-components (proot-distro tarballs use 1) */
  stripComponents?: number;
  /** OCI layer semantics: .wh.NAME and .wh..wh..opq (default false) */
  whiteouts?: boolean;
  signal?: AbortSignal;
  /** progress hook, called for each entry: archive bytes consumed up to and including its header */
  onEntry?: (bytesSoFar: number) => void;
  /** one-line notes for the user about what was read differently from what the archive says (e.g. absolute names) */
  onNote?: (message: string) => void;
}

export interface ExtractStats {
  entries: number;
  files: number;
  dirs: number;
  symlinks: number;
  hardlinks: number;
  devicesSkipped: number;
  fifos: number;
  bytes: number;
  whiteouts: number;
}

/**
 * Extracts an uncompressed tar stream into `opts.root`, never writing outside it.
 *
 * Absolute member names (and hard-link targets) are taken relative to the root, as GNU tar and
 * bsdtar do (leading '/'s removed), with one `onNote` line for the first such name.
 * Rejects with CakeError 'unsafe-archive' (naming the entry) on '..' components,
 * names deeper than 1024, a root entry that is not a directory, hard links whose target is outside
 * the root, a symlink or reached through a symlink, and any entry whose parent is a symlink
 * (symlinks themselves may point anywhere: nothing is ever created through one). Rejects with
 * 'bad-archive' on malformed or truncated tar data. Later entries replace earlier ones (unlink or
 * remove recursively, then create: never truncate in place). Directories get u+rwx and files u+rw
 * on disk, setuid/setgid bits are kept; device nodes are skipped; real uid/gid/mode (and devices)
 * go to `opts.ownership`. Directory mtimes are set at the end.
 *
 * Consumes `input` to its end (data after the end-of-archive marker is drained). On failure or
 * abort the input is destroyed and what was extracted so far stays in `root` (the caller removes
 * its staging dir). Not idempotent over a non-empty root: entries are applied over what is there.
 * Several extractions into one root may run at once in a process (they share the cache of
 * verified directories, so one replacing a directory is seen by the others).
 */
export async function extractTar(input: Readable, opts: ExtractOptions): Promise<ExtractStats> {
  const rootStat = lstatSync(opts.root, { throwIfNoEntry: false });
  if (!rootStat?.isDirectory()) throw new CakeError('io', `extraction root ${opts.root} is not a directory`);
  const signal = opts.signal;
  if (signal?.aborted) throw new CakeError('interrupted', 'interrupted');
  const x = new Extractor(opts);
  const reader: TarReader = new TarReader((e): EntrySink | null => x.entry(e, reader.position));
  const onAbort = () => input.destroy(new CakeError('interrupted', 'interrupted'));
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const chunk of input) {
      if (signal?.aborted) throw new CakeError('interrupted', 'interrupted');
      reader.write(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
    }
    reader.end();
    x.finish();
    return x.stats;
  } catch (err) {
    x.abort();
    if (!input.destroyed) input.destroy();
    if (signal?.aborted) throw new CakeError('interrupted', 'interrupted', { cause: err });
    throw withHint(toCakeError(err, 'extracting the archive'));
  } finally {
    x.close();
    signal?.removeEventListener('abort', onAbort);
  }
}

/** Every refusal carries a hint: the ones raised without one get the hint of their kind. */
function withHint(err: CakeError): CakeError {
  if (err.hint !== undefined) return err;
  const hint =
    err.code === 'bad-archive'
      ? BAD_ARCHIVE_HINT
      : err.code === 'io'
        ? 'check the free space and permissions of the cake store (CAKE_HOME); nothing was installed'
        : undefined;
  if (hint === undefined) return err;
  return new CakeError(err.code, err.message, { hint, exitCode: err.exitCode, cause: err.cause ?? err });
}
