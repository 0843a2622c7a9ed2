import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LayoutWriter, findLayoutEntry, layoutBlobPath, layoutTags, readLayoutBlob, readLayoutIndex } from '../../../src/oci/layout.js';
import { MEDIA } from '../../../src/oci/manifest.js';

describe('OCI image layouts', () => {
  const root = mkdtempSync(join(tmpdir(), 'cake-layout-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('writes blobs by digest and tags manifests; a tag moves to its new manifest', () => {
    const dir = join(root, 'a');
    const w = new LayoutWriter(dir);
    const one = w.putBytes(Buffer.from('{"one":1}'));
    const two = w.putBytes(Buffer.from('{"two":2}'));
    w.tag({ mediaType: MEDIA.ociManifest, ...one }, 'latest');
    w.tag({ mediaType: MEDIA.ociManifest, ...two }, 'v2');
    w.tag({ mediaType: MEDIA.ociManifest, ...two }, 'latest');
    const index = readLayoutIndex(dir);
    expect(layoutTags(index)).toEqual(['v2', 'latest']);
    expect(findLayoutEntry(dir, index, 'latest').digest).toBe(two.digest);
    expect(readLayoutBlob(dir, { mediaType: MEDIA.ociManifest, ...one }, 100).toString()).toBe('{"one":1}');
    expect(() => findLayoutEntry(dir, index, undefined)).toThrow(/holds 2 images; name one with oci:.*:TAG/);
    expect(() => findLayoutEntry(dir, index, 'v9')).toThrow(/has no image tagged v9/);
    expect(findLayoutEntry(dir, { kind: 'index', mediaType: MEDIA.ociIndex, manifests: [index.manifests[0]!] }, undefined).digest).toBe(two.digest);
  });

  it('verifies blobs and refuses what is not a layout', () => {
    const dir = join(root, 'b');
    const w = new LayoutWriter(dir);
    const d = w.putBytes(Buffer.from('data'));
    writeFileSync(layoutBlobPath(dir, d.digest), 'dat4');
    expect(() => readLayoutBlob(dir, { mediaType: 'x', ...d }, 100)).toThrow(/does not match its digest/);
    expect(() => readLayoutBlob(dir, { mediaType: 'x', digest: `sha256:${'0'.repeat(64)}`, size: 1 }, 100)).toThrow(/missing from the OCI layout/);
    expect(() => readLayoutBlob(dir, { mediaType: 'x', ...d, size: 1000 }, 100)).toThrow(/more than the 100 allowed/);
    expect(() => layoutBlobPath(dir, 'sha256:../../x')).toThrow(/invalid digest/);
    expect(() => readLayoutIndex(join(root, 'nothing'))).toThrow(/is not an OCI image layout/);
    writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"2.0.0"}');
    expect(() => readLayoutIndex(dir)).toThrow(/unsupported OCI layout version "2.0.0"/);
  });
});
