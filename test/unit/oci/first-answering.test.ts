import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CakeError } from '../../../src/model/errors.js';
import { silentLogger } from '../../../src/model/logger.js';
import { firstAnswering, type ImageSource } from '../../../src/oci/image-source.js';

const dir = mkdtempSync(join(tmpdir(), 'cake-first-answering-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const desc = { mediaType: 'x', digest: `sha256:${'a'.repeat(64)}`, size: 1 };

/** A source whose top() answers unless `noTop`, and whose blobs fail with `blobError` (after writing junk to the part file). */
function fake(name: string, opts: { noTop?: boolean; blobError?: CakeError }, calls: string[]): ImageSource {
  return {
    what: name,
    top: async () => {
      calls.push(`${name}.top`);
      if (opts.noTop) throw new CakeError('not-found', `${name}: no manifest`);
      return { bytes: Buffer.from('{}'), contentType: 'x', digest: desc.digest };
    },
    manifest: async () => ({ bytes: Buffer.from(name), contentType: 'x', digest: desc.digest }),
    blob: async () => {
      calls.push(`${name}.blob`);
      if (opts.blobError) throw opts.blobError;
      return Buffer.from(name);
    },
    copyBlob: async (_d, part) => {
      calls.push(`${name}.copy:${existsSync(part) ? 'part' : 'fresh'}`);
      writeFileSync(part, 'junk');
      if (opts.blobError) throw opts.blobError;
    },
  };
}

describe('firstAnswering (mirrors, then the registry)', () => {
  it('asks each blob of the chosen source first, then of those after it (never of one that failed the manifest), dropping the partial', async () => {
    const calls: string[] = [];
    const logs: string[] = [];
    const src = firstAnswering(
      'docker://r/x',
      [
        { source: fake('m0', { noTop: true }, calls), via: 'mirror m0' },
        { source: fake('m1', { blobError: new CakeError('not-found', 'missing (404)') }, calls), via: 'mirror m1' },
        { source: fake('m2', { blobError: new CakeError('digest-mismatch', 'bad bytes') }, calls), via: 'mirror m2' },
        { source: fake('reg', {}, calls) },
      ],
      { ...silentLogger, info: (m) => logs.push(m) },
      new AbortController().signal,
    );
    expect((await src.blob(desc, 10)).toString()).toBe('reg');
    await src.copyBlob(desc, join(dir, 'part'), { signal: new AbortController().signal });
    expect(calls).toEqual(['m0.top', 'm1.top', 'm1.blob', 'm2.blob', 'reg.blob', 'm1.copy:fresh', 'm2.copy:fresh', 'reg.copy:fresh']);
    expect(logs).toContain(`docker://r/x: blob ${desc.digest} from mirror m1 failed (missing (404)); trying mirror m2`);
    expect(logs).toContain(`docker://r/x: blob ${desc.digest} from mirror m2 failed (bad bytes); trying the registry itself`);
  });

  it('the last source failing throws its error; an abort is never retried elsewhere', async () => {
    const calls: string[] = [];
    const last = new CakeError('network', 'unreachable');
    const src = firstAnswering('w', [{ source: fake('m1', { blobError: new CakeError('http', '503') }, calls), via: 'mirror m1' }, { source: fake('reg', { blobError: last }, calls) }], silentLogger, new AbortController().signal);
    await expect(src.blob(desc, 10)).rejects.toBe(last);
    const ac = new AbortController();
    ac.abort();
    const aborted = firstAnswering('w', [{ source: fake('m1', { blobError: new CakeError('interrupted', 'interrupted') }, calls), via: 'mirror m1' }, { source: fake('reg', {}, calls) }], silentLogger, ac.signal);
    await expect(aborted.blob(desc, 10)).rejects.toThrow('interrupted');
    expect(calls.filter((c) => c === 'reg.blob')).toHaveLength(1);
  });
});
