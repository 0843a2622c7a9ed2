/**
 * The scratch directories of `cake bake` and `cake boot` in the store's tmp area, named
 * `<kind>-<pid>-<random>`: made fresh for each command and removed by it; those of commands that
 * were killed (their process is gone) are removed by the next one.
 */
import { pidMayOwn } from '../store/owner.js';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { removeTree } from '../archive/remove-tree.js';

const NAME = /^(bake|boot)-(\d+)-[0-9a-f]+$/;

/** Creates a new work directory under `tmp`, after removing the leftovers of dead commands. */
export async function makeWorkDir(tmp: string, kind: 'bake' | 'boot'): Promise<string> {
  mkdirSync(tmp, { recursive: true });
  for (const name of readdirSync(tmp)) {
    const m = NAME.exec(name);
    if (m === null || pidMayOwn(Number(m[2]))) continue;
    await removeTree(join(tmp, name));
  }
  const dir = join(tmp, `${kind}-${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(dir);
  return dir;
}
