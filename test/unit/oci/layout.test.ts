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

  it('a tag is matched exactly, then normalized as docker-archive RepoTags are (podman save, containerd names); @N by position', () => {
    const d = (n: number, annotations: Record<string, string>) => ({ mediaType: MEDIA.ociManifest, digest: `sha256:${String(n).repeat(64)}`, size: n, annotations });
    const index = {
      kind: 'index' as const, mediaType: MEDIA.ociIndex, manifests: [
        d(1, { 'org.opencontainers.image.ref.name': 'localhost/app:1' }),
        d(2, { 'org.opencontainers.image.ref.name': 'docker.io/library/web:2' }),
        d(3, { 'org.opencontainers.image.ref.name': '3', 'io.containerd.image.name': 'docker.io/library/db:3' }),
        d(4, { 'org.opencontainers.image.ref.name': 'latest' }),
      ],
    };
    const size = (tag: string): number => findLayoutEntry('x', index, tag, 'oci-archive:x.tar').size;
    expect(size('localhost/app:1')).toBe(1);
    expect(size('web:2')).toBe(2);
    expect(size('library/web:2')).toBe(2);
    expect(size('docker.io/web:2')).toBe(2);
    expect(size('db:3')).toBe(3);
    expect(size('3')).toBe(3);
    expect(size('latest')).toBe(4);
    expect(size('@1')).toBe(2);
    expect(() => size('app:1')).toThrow(/oci-archive:x.tar has no image tagged app:1 \(docker.io\/library\/app:1\)/);
    expect(() => size('@4')).toThrow(/has no image @4: it holds 4/);
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
