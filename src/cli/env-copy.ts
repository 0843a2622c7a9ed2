import { chmodSync } from 'node:fs';
import { fsJoin, listTree } from '../archive/tree-walk.js';

/**
 * Copies an env's root filesystem `src` into `dst` (missing or empty): cook's `materialize`
 * (reflinks where the filesystem has them, else data; modes, times, symlinks, hard links kept),
 * then the directories get their own modes back (materialize leaves them u+rwx). A data copy,
 * never hard links to `src`: envs are writable, and a file written in place in one would change
 * in the other.
 */
export async function copyEnvTree(src: string, dst: string): Promise<void> {
  const { materialize } = await import('../cook/snapshot.js');
  materialize(src, dst);
  const { entries, restore } = listTree(src);
  restore();
  for (const e of entries.reverse()) {
    if (e.st.isDirectory()) chmodSync(fsJoin(dst, e.rel), e.st.mode & 0o7777);
  }
}
