import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { noteOutside, sweepOutside, sweepTmp, tmpOwnerPid, tmpSibling, writeFileAtomic } from '../../../src/store/atomic-write.js';

const dirs: string[] = [];
afterEach(() => {
  while (dirs.length) rmSync(dirs.pop()!, { recursive: true, force: true });
});

function dir(): string {
  const d = mkdtempSync(join(tmpdir(), 'cake-atomic-'));
  dirs.push(d);
  return d;
}

function deadPid(): number {
  return Number(String(spawnSync('sh', ['-c', 'echo $$']).stdout).trim());
}

describe('atomic writes', () => {
  it('replaces the target whole and leaves no temporary', () => {
    const d = dir();
    const f = join(d, 'env.json');
    writeFileSync(f, 'old');
    writeFileAtomic(f, 'new');
    expect(readFileSync(f, 'utf8')).toBe('new');
    expect(readdirSync(d)).toEqual(['env.json']);
  });

  it('leaves the target as it was and no temporary when the write fails', () => {
    const d = dir();
    const f = join(d, 'x');
    writeFileSync(f, 'old');
    mkdirSync(join(d, 'sub'));
    // the rename over a directory fails after the data is written
    expect(() => writeFileAtomic(join(d, 'sub'), 'data')).toThrow();
    expect(readFileSync(f, 'utf8')).toBe('old');
    expect(readdirSync(d).sort()).toEqual(['sub', 'x']);
  });

  it('names temporaries in one scheme that carries the pid', () => {
    const t = tmpSibling('/a/b/file.tar');
    expect(t).toMatch(/^\/a\/b\/\.file\.tar\.cake-tmp-\d+-[0-9a-f]{8}$/);
    expect(tmpOwnerPid(t)).toBe(process.pid);
    expect(tmpOwnerPid('file.tar')).toBeUndefined();
  });

  it('sweeps temporaries of dead processes, keeps live ones and other files', () => {
    const d = dir();
    const dead = join(d, `.f.cake-tmp-${deadPid()}-0123abcd`);
    const live = join(d, `.f.cake-tmp-${process.pid}-0123abcd`);
    writeFileSync(dead, 'x');
    writeFileSync(live, 'x');
    writeFileSync(join(d, 'f'), 'keep');
    mkdirSync(join(d, `.dir.cake-tmp-${deadPid()}-00000000`));
    expect(sweepTmp(d).files).toBe(2);
    expect(readdirSync(d).sort()).toEqual([`.f.cake-tmp-${process.pid}-0123abcd`, 'f'].sort());
  });

  it('notes a temporary outside the store while it exists; a dead noter’s temporary is swept', async () => {
    const store = dir();
    const out = dir();
    const tmp = tmpSibling(join(out, 'export.tar'));
    await noteOutside(store, tmp, async () => {
      writeFileSync(tmp, 'partial');
      expect(readdirSync(store)).toHaveLength(1);
      expect(sweepOutside(store).files).toBe(0); // we are alive
    });
    expect(readdirSync(store)).toEqual([]);
    // a killed export: the note and the temporary of a dead pid
    const pid = deadPid();
    const orphan = join(out, `.export.tar.cake-tmp-${pid}-0badf00d`);
    writeFileSync(orphan, 'partial');
    writeFileSync(join(store, `outside.${pid}.0badf00d`), orphan + '\n');
    // a note naming a file that is not a temporary of its pid is dropped without touching the file
    writeFileSync(join(out, 'precious'), 'keep');
    writeFileSync(join(store, `outside.${pid}.0000beef`), join(out, 'precious') + '\n');
    expect(sweepOutside(store).files).toBe(1);
    expect(existsSync(orphan)).toBe(false);
    expect(readFileSync(join(out, 'precious'), 'utf8')).toBe('keep');
    expect(readdirSync(store)).toEqual([]);
  });
});
