import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { applyLayers } from '../../../src/oci/layers.js';
import { CakeError } from '../../../src/model/errors.js';
import { silentLogger } from '../../../src/model/logger.js';
import type { Descriptor } from '../../../src/oci/manifest.js';
import { file, tar } from '../../helpers/tar-build.js';

const digest = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('applying layers', () => {
  const work = mkdtempSync(join(tmpdir(), 'cake-layers-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  let n = 0;
  function layer(t: Buffer, gzip = true): { desc: Descriptor; path: string; diffId: string } {
    const bytes = gzip ? gzipSync(t) : t;
    const path = join(work, `blob${n++}`);
    writeFileSync(path, bytes);
    return { desc: { mediaType: gzip ? 'application/vnd.oci.image.layer.v1.tar+gzip' : 'application/vnd.oci.image.layer.v1.tar', digest: digest(bytes), size: bytes.length }, path, diffId: digest(t) };
  }
  const root = (): string => {
    const r = join(work, `root${n++}`);
    mkdirSync(r);
    return r;
  };
  const base = { ownership: {}, signal: new AbortController().signal, logger: silentLogger, what: 'img' };

  it('applies layers in order whatever order their downloads finish in', async () => {
    const l1 = layer(tar(file('a', '1'), file('b', 'b')));
    const l2 = layer(tar(file('a', '2'), file('.wh.b')), false);
    const r = root();
    const stats = await applyLayers({
      ...base,
      root: r,
      layers: [l1.desc, l2.desc],
      diffIds: [l1.diffId, l2.diffId],
      fetch: async (d) => {
        if (d === l1.desc) await new Promise((res) => setTimeout(res, 50));
        return d === l1.desc ? l1.path : l2.path;
      },
    });
    expect(readFileSync(join(r, 'a'), 'utf8')).toBe('2');
    expect(readdirSync(r)).toEqual(['a']);
    expect(stats).toMatchObject({ files: 3, whiteouts: 1 });
  });

  it('fails fast on a layer that cannot be fetched, stopping the other downloads', async () => {
    const l1 = layer(tar(file('a', '1')));
    const l2 = layer(tar(file('b', '2')));
    let aborted = false;
    const t0 = Date.now();
    const err = await applyLayers({
      ...base,
      root: root(),
      layers: [l1.desc, l2.desc],
      diffIds: [l1.diffId, l2.diffId],
      fetch: (d, _i, signal) =>
        d === l2.desc
          ? Promise.reject(new CakeError('not-found', 'layer 2 is gone'))
          : new Promise((_, reject) => signal.addEventListener('abort', () => ((aborted = true), reject(new CakeError('interrupted', 'interrupted'))))),
    }).catch((e: unknown) => e);
    expect((err as Error).message).toBe('layer 2 is gone');
    expect(aborted).toBe(true);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('checks each layer against its diff_id and media types before fetching', async () => {
    const l1 = layer(tar(file('a', '1')));
    await expect(applyLayers({ ...base, root: root(), layers: [l1.desc], diffIds: [digest(Buffer.from('x'))], fetch: async () => l1.path })).rejects.toThrow(/unpacks to sha256:[0-9a-f]{64}, not its diff_id/);
    let fetched = false;
    const odd = { ...l1.desc, mediaType: 'application/vnd.oci.image.layer.v1.tar+bzip2' };
    await expect(applyLayers({ ...base, root: root(), layers: [odd], diffIds: [l1.diffId], fetch: async () => ((fetched = true), l1.path) })).rejects.toThrow(/unsupported media type/);
    await expect(applyLayers({ ...base, root: root(), layers: [l1.desc], diffIds: [], fetch: async () => l1.path })).rejects.toThrow(/1 layers but the image config has 0 diff_ids/);
    expect(fetched).toBe(false);
  });
});
