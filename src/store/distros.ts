/**
 * The distro definitions shipped in cake's distros/ directory, read from disk (model/distro.ts
 * parses them and does no I/O).
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CakeError, isErrno } from '../model/errors.js';
import { parseDistros, type DistroDef } from '../model/distro.js';

/** Reads and parses every `*.yaml` in `dir` (the caller passes distros/), sorted by name. */
export async function loadDistros(dir: string): Promise<DistroDef[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.yaml')).sort();
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
    throw new CakeError('not-found', `distro definitions not found: ${dir}`, { cause: err, hint: 'reinstall cake' });
  }
  const files = await Promise.all(names.map(async (n) => ({ file: join(dir, n), text: await readFile(join(dir, n), 'utf8') })));
  return parseDistros(files);
}
