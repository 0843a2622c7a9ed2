/**
 * What the kernel cache serves is what it unpacked (issue 15 item 7: a truncated vmlinuz in the
 * cache gave an image that did not boot, with exit 0). When an entry is made, `manifest.json`
 * records every file's size, mtime, inode and sha256; before each use the cheap part is compared
 * (one lstat per file) and only a file whose size, mtime or inode differs is read and hashed. A
 * file whose content is still the recorded one gets its new identity recorded (so the next check
 * is cheap again); any other difference — a file missing, added, changed — makes the entry
 * damaged, and the caller unpacks it again. The depmod index a bake keeps beside the modules
 * (`modules/RELEASE.depmod/`) is derived from them and not part of the entry.
 */
import { lstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { listTree } from '../archive/tree-walk.js';
import { writeFileAtomic } from '../store/atomic-write.js';
import { hashFile, type HashOptions } from '../store/tree-hash.js';

const NAME = 'manifest.json';
const FORMAT = 1;

interface Sealed {
  size: number;
  mtimeMs: number;
  ino: number;
  sha256: string;
}

interface Manifest {
  format: typeof FORMAT;
  files: Record<string, Sealed>;
}

function counted(rel: string): boolean {
  return rel !== NAME && !/^modules\/[^/]+\.depmod(\/|$)/.test(rel);
}

/** The entry's files (relative paths) and what is not a file or directory, as listed now. */
function listEntry(dir: string): { files: string[]; odd: string[] } {
  const { entries, restore } = listTree(dir);
  restore();
  const files: string[] = [];
  const odd: string[] = [];
  for (const e of entries) {
    const rel = e.rel.toString();
    if (!counted(rel) || e.st.isDirectory()) continue;
    (e.st.isFile() ? files : odd).push(rel);
  }
  return { files: files.sort(), odd };
}

/** Records every file of the entry at `dir` in its manifest (hashing each: once per entry). */
export async function sealKernelEntry(dir: string, o: HashOptions = {}): Promise<void> {
  const files: Record<string, Sealed> = {};
  for (const rel of listEntry(dir).files) {
    const st = lstatSync(join(dir, rel));
    files[rel] = { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, sha256: await hashFile(join(dir, rel), o) };
  }
  writeFileAtomic(join(dir, NAME), JSON.stringify({ format: FORMAT, files } satisfies Manifest) + '\n');
}

/** True when the entry at `dir` has a manifest (an entry of an older cake has none). */
export function isSealed(dir: string): boolean {
  return readManifest(dir) !== undefined;
}

function readManifest(dir: string): Manifest | undefined {
  try {
    const m = JSON.parse(readFileSync(join(dir, NAME), 'utf8')) as Manifest;
    return m.format === FORMAT && typeof m.files === 'object' && m.files !== null ? m : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Checks the entry at `dir` against its manifest (see the module comment): undefined when it is
 * intact, else what is wrong, for a one-line warning (the first difference found).
 */
export async function kernelEntryDamage(dir: string, o: HashOptions = {}): Promise<string | undefined> {
  const m = readManifest(dir);
  if (m === undefined) return 'it has no manifest';
  const { files, odd } = listEntry(dir);
  if (odd.length > 0) return `${odd[0]} is not a regular file`;
  const extra = files.find((f) => m.files[f] === undefined);
  if (extra !== undefined) return `${extra} was added`;
  let restamped = false;
  for (const [rel, want] of Object.entries(m.files)) {
    const st = lstatSync(join(dir, rel), { throwIfNoEntry: false });
    if (st === undefined || !st.isFile()) return `${rel} is missing`;
    if (st.size === want.size && st.mtimeMs === want.mtimeMs && st.ino === want.ino) continue;
    if (st.size !== want.size) return `${rel} has ${st.size} bytes, ${want.size} were written`;
    const got = await hashFile(join(dir, rel), o);
    if (got !== want.sha256) return `${rel} was changed (sha256 ${got.slice(0, 12)}…, ${want.sha256.slice(0, 12)}… was written)`;
    m.files[rel] = { ...want, mtimeMs: st.mtimeMs, ino: st.ino };
    restamped = true;
  }
  if (restamped) writeFileAtomic(join(dir, NAME), JSON.stringify(m) + '\n');
  return undefined;
}
