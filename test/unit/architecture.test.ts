import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

// The layer map of docs/ARCHITECTURE.md, kept by a test (as go-containerregistry's depcheck does):
// each src/ folder imports only from folders in tiers to its right; no folder cycles; files stay
// small; process.env is read only where the CLI and the paths module read it.
const SRC = resolve(import.meta.dirname, '../../src');

/** Tiers, left to right: a folder may import from any folder in a LATER tier, never an earlier or its own tier's sibling. */
export const TIERS: readonly (readonly string[])[] = [
  ['cli'],
  ['boot'],
  ['cook', 'bake'],
  ['pull', 'kit'],
  ['debian', 'oci'],
  ['run'],
  ['store'],
  ['archive', 'net'],
  ['model'],
];
const MAX_LINES = 300;
/** Files allowed to read process.env: the CLI (src/cli/**) and the paths module. */
const ENV_READERS = [/^cli\//, /^store\/paths\.ts$/];

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) return sources(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

interface Edge {
  from: string;
  to: string;
  file: string;
}

function edges(): Edge[] {
  const out: Edge[] = [];
  for (const file of sources(SRC)) {
    const text = readFileSync(file, 'utf8');
    const rel = relative(SRC, file);
    const from = rel.split('/')[0]!;
    const specs = [
      ...text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+['"](\.{1,2}\/[^'"]+)['"]/gms),
      ...text.matchAll(/\bimport\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g),
    ].map((m) => m[1]!);
    for (const spec of specs) {
      const to = relative(SRC, resolve(dirname(file), spec)).split('/')[0]!;
      if (to !== from) out.push({ from, to, file: rel });
    }
  }
  return out;
}

function tierOf(folder: string): number {
  return TIERS.findIndex((t) => t.includes(folder));
}

describe('architecture', () => {
  const all = edges();

  it('every src/ folder is in the tier map', () => {
    const folders = readdirSync(SRC).filter((n) => statSync(join(SRC, n)).isDirectory());
    expect(folders.filter((f) => tierOf(f) < 0)).toEqual([]);
  });

  it('imports only go to tiers on the right (hence no folder cycles)', () => {
    const bad = all.filter((e) => tierOf(e.to) <= tierOf(e.from)).map((e) => `${e.file}: ${e.from} -> ${e.to}`);
    expect([...new Set(bad)]).toEqual([]);
  });

  it(`no src file is over ${MAX_LINES} lines`, () => {
    const long = sources(SRC)
      .map((f) => ({ f: relative(SRC, f), n: readFileSync(f, 'utf8').split('\n').length - 1 }))
      .filter((x) => x.n > MAX_LINES)
      .map((x) => `${x.f}: ${x.n} lines`);
    expect(long).toEqual([]);
  });

  it('process.env is read only in src/cli and the paths module', () => {
    const readers = sources(SRC)
      .map((f) => relative(SRC, f))
      .filter((f) => /\bprocess\.env\b/.test(readFileSync(join(SRC, f), 'utf8').replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, '')))
      .filter((f) => !ENV_READERS.some((r) => r.test(f)));
    expect(readers).toEqual([]);
  });

  it('model/ does no I/O: it imports no file, process or network module', () => {
    const io = /\bfrom\s+['"]node:(fs|fs\/promises|child_process|net|http|https|dgram|worker_threads)['"]/;
    const bad = sources(join(SRC, 'model'))
      .map((f) => relative(SRC, f))
      .filter((f) => io.test(readFileSync(join(SRC, f), 'utf8')));
    expect(bad).toEqual([]);
  });

  it('the checker sees real edges (it cannot pass on an empty graph)', () => {
    expect(all.length).toBeGreaterThan(100);
    expect(all.some((e) => e.from === 'cli' && e.to === 'model')).toBe(true);
  });
});
