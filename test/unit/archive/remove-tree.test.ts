import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { removeTree } from '../../../src/archive/remove-tree.js';
import { asUnprivileged, cleanupDir } from '../../helpers/tar-build.js';

const dirs: string[] = [];
afterEach(() => {
  while (dirs.length) cleanupDir(dirs.pop()!);
});

function parent(): string {
  const d = mkdtempSync(join(tmpdir(), 'cake-rm-'));
  dirs.push(d);
  return d;
}

describe('removeTree', () => {
  it('removes a tree whatever its modes (0000 and 0555 directories, 0000 files), unprivileged', async () => {
    const p = parent();
    const t = join(p, 'env');
    mkdirSync(join(t, 'a/b/c'), { recursive: true });
    writeFileSync(join(t, 'a/b/c/f'), 'x');
    writeFileSync(join(t, 'a/f0'), 'x');
    writeFileSync(Buffer.from(`${t}/a/caf\xe9`, 'latin1'), 'x');
    chmodSync(join(t, 'a/f0'), 0);
    chmodSync(join(t, 'a/b/c'), 0);
    chmodSync(join(t, 'a/b'), 0o555);
    chmodSync(join(t, 'a'), 0o111);
    await asUnprivileged([p], () => removeTree(t));
    expect(existsSync(t)).toBe(false);
  });

  it('never follows symlinks (to a directory outside, to the tree itself)', async () => {
    const p = parent();
    const t = join(p, 'env');
    const outside = join(p, 'outside');
    mkdirSync(join(outside, 'keep'), { recursive: true });
    writeFileSync(join(outside, 'keep', 'f'), 'keep');
    chmodSync(join(outside, 'keep'), 0o555);
    mkdirSync(join(t, 'd'), { recursive: true });
    symlinkSync(outside, join(t, 'd', 'out'));
    symlinkSync('..', join(t, 'd', 'loop'));
    await removeTree(t);
    expect(existsSync(t)).toBe(false);
    expect(readFileSync(join(outside, 'keep', 'f'), 'utf8')).toBe('keep');
  });

  it('is idempotent: a missing path is fine, a symlink is removed itself', async () => {
    const p = parent();
    await removeTree(join(p, 'missing'));
    mkdirSync(join(p, 'target'));
    symlinkSync(join(p, 'target'), join(p, 'link'));
    await removeTree(join(p, 'link'));
    expect(existsSync(join(p, 'target'))).toBe(true);
    expect(existsSync(join(p, 'link'))).toBe(false);
  });

  it('handles deep trees without recursion', async () => {
    const p = parent();
    const t = join(p, 'env');
    mkdirSync(t);
    const deep = Array.from({ length: 1900 }, () => 'd').join('/'); // ~3800 bytes: fits PATH_MAX
    mkdirSync(join(t, deep), { recursive: true });
    writeFileSync(join(t, deep, 'f'), 'x');
    await removeTree(t);
    expect(existsSync(t)).toBe(false);
  });

  it('removes a chain deeper than PATH_MAX and than its open-directory window, with 0000 dirs and fifos inside, unprivileged', async () => {
    const p = parent();
    const t = join(p, 'env');
    mkdirSync(t);
    // 3000 levels of 'a/' (6000 bytes: no path to the bottom fits PATH_MAX), made relative to each level
    execFileSync('python3', ['-c', `import os\nos.chdir(${JSON.stringify(t)})\nfor i in range(3000):\n    os.mkdir('a'); os.chdir('a')\n    if i % 700 == 0: os.mkfifo('p'); open('f', 'w').write('x')\n`]);
    execFileSync('python3', ['-c', `import os\nos.chdir(${JSON.stringify(t)})\nfor i in range(3000):\n    os.chdir('a')\n    if i % 1000 == 999: os.chmod('.', 0)\n`]);
    await asUnprivileged([p], () => removeTree(t));
    expect(existsSync(t)).toBe(false);
  });
});
