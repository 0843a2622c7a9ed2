import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { removeTreeSync } from '../../../src/archive/remove-tree.js';
import { fingerprint, materialize, scanTree, snapshotTree, treeSeal } from '../../../src/cook/snapshot.js';
import { treeHash } from '../../../src/store/tree-hash.js';

const base = mkdtempSync(join(tmpdir(), 'cake-snap-deep-'));
afterAll(() => removeTreeSync(base));

describe('snapshots of trees deeper than PATH_MAX', () => {
  it('copies, snapshots, hashes, fingerprints and seals an 1100-deep chain (4400 bytes) with a file, a fifo and a symlink at the bottom', async () => {
    const tree = join(base, 'tree');
    execFileSync('python3', ['-c', `import os\nos.mkdir(${JSON.stringify(tree)})\nos.chdir(${JSON.stringify(tree)})\nfor i in range(1100):\n    os.mkdir('ddd'); os.chdir('ddd')\nopen('f', 'w').write('bottom')\nos.mkfifo('p')\nos.symlink('f', 'l')\n`]);
    const work = join(base, 'work');
    const baseline = materialize(tree, work);
    expect(baseline.size).toBe(1103);
    expect(await treeHash(work, {})).toBe(await treeHash(tree, {}));
    const entries = scanTree(work);
    const out = join(base, 'snap');
    const { stats } = snapshotTree(work, entries, baseline, tree, out);
    expect(stats.dirs).toBe(1100);
    expect(stats.linked).toBe(3); // the file, the fifo and the symlink
    expect(await treeHash(out, {})).toBe(await treeHash(tree, {}));
    expect(fingerprint(out)).toMatch(/^[0-9a-f]{64}$/);
    expect(treeSeal(out)).toBe(treeSeal(out));
  });
});
