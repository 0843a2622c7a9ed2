import { describe, expect, it } from 'vitest';
import { MEDIA, layerCompression, parseImageConfig, parseManifest, selectPlatform, type ImageIndex } from '../../../src/oci/manifest.js';

const d = (c: string): string => `sha256:${c.repeat(64)}`;
const j = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

function indexOf(entries: Array<[string, string, string?, Record<string, string>?]>): ImageIndex {
  const doc = parseManifest(
    j({
      schemaVersion: 2,
      mediaType: MEDIA.ociIndex,
      manifests: entries.map(([os, architecture, variant, annotations], i) => ({
        mediaType: MEDIA.ociManifest,
        digest: d(String(i)),
        size: 100,
        platform: { os, architecture, ...(variant ? { variant } : {}) },
        ...(annotations ? { annotations } : {}),
      })),
    }),
  );
  if (doc.kind !== 'index') throw new Error('not an index');
  return doc;
}

describe('manifests', () => {
  it('parses OCI and Docker manifests and indices, by mediaType, Content-Type or shape', () => {
    const m = { schemaVersion: 2, config: { mediaType: MEDIA.ociConfig, digest: d('c'), size: 2 }, layers: [{ mediaType: MEDIA.ociLayerZstd, digest: d('1'), size: 3 }] };
    expect(parseManifest(j({ ...m, mediaType: MEDIA.dockerManifest }))).toMatchObject({ kind: 'manifest', mediaType: MEDIA.dockerManifest });
    expect(parseManifest(j(m), `${MEDIA.dockerManifest}; charset=utf-8`)).toMatchObject({ kind: 'manifest', mediaType: MEDIA.dockerManifest });
    expect(parseManifest(j(m))).toMatchObject({ kind: 'manifest', mediaType: MEDIA.ociManifest, layers: [{ digest: d('1'), size: 3 }] });
    expect(parseManifest(j({ schemaVersion: 2, manifests: [] }))).toMatchObject({ kind: 'index', mediaType: MEDIA.ociIndex });
    expect(parseManifest(j({ schemaVersion: 2, mediaType: MEDIA.dockerList, manifests: [] }))).toMatchObject({ kind: 'index' });
  });

  it.each([
    [{ schemaVersion: 1, name: 'x', fsLayers: [] }, /schema 1/],
    [{ schemaVersion: 3 }, /schemaVersion/],
    [{ schemaVersion: 2, mediaType: 'application/x-nope' }, /unsupported media type/],
    [{ schemaVersion: 2, mediaType: MEDIA.ociManifest, config: { mediaType: MEDIA.ociConfig, digest: `sha512:${'a'.repeat(128)}`, size: 1 }, layers: [] }, /unsupported digest algorithm/],
    [{ schemaVersion: 2, mediaType: MEDIA.ociManifest, config: { mediaType: MEDIA.ociConfig, digest: d('a'), size: -1 }, layers: [] }, /invalid size/],
    [{ schemaVersion: 2, mediaType: MEDIA.ociManifest, config: { mediaType: MEDIA.ociConfig, digest: 'sha256:../../etc', size: 1 }, layers: [] }, /malformed digest/],
    [{ schemaVersion: 2, mediaType: MEDIA.ociManifest, config: { mediaType: MEDIA.ociConfig, digest: d('a'), size: 1 } }, /no layers/],
    [[1, 2], /not a JSON object/],
  ])('refuses %j', (doc, why) => {
    expect(() => parseManifest(j(doc))).toThrow(why);
  });

  it('refuses text that is not JSON', () => {
    expect(() => parseManifest(Buffer.from('<html>'))).toThrow(/not JSON/);
  });

  it('knows the layer compressions', () => {
    expect(layerCompression(MEDIA.ociLayer)).toBe('none');
    expect(layerCompression(MEDIA.ociLayerGzip)).toBe('gzip');
    expect(layerCompression(MEDIA.ociLayerZstd)).toBe('zstd');
    expect(layerCompression(MEDIA.dockerLayer)).toBe('gzip');
    expect(layerCompression('application/vnd.oci.image.layer.v1.tar+bzip2')).toBeUndefined();
  });

  it('reads the image config defaults and diff_ids', () => {
    const c = parseImageConfig(j({ architecture: 'arm', variant: 'v7', os: 'linux', config: { Env: ['A=1'], WorkingDir: '/w', User: '1000:1000', Cmd: ['sh'], Entrypoint: null }, rootfs: { type: 'layers', diff_ids: [d('e')] } }));
    expect(c).toEqual({ architecture: 'arm', os: 'linux', variant: 'v7', config: { Env: ['A=1'], WorkingDir: '/w', User: '1000:1000', Cmd: ['sh'] }, diffIds: [d('e')] });
    expect(() => parseImageConfig(j({ rootfs: { diff_ids: ['md5:x'] } }))).toThrow(/diff_id/);
    expect(() => parseImageConfig(j({}))).toThrow(/diff_ids/);
  });
});

describe('platform selection', () => {
  const idx = indexOf([
    ['unknown', 'unknown', undefined, { 'vnd.docker.reference.type': 'attestation-manifest' }],
    ['windows', 'amd64'],
    ['linux', 'arm', 'v6'],
    ['linux', 'arm', 'v7'],
    ['linux', 'arm64', 'v8'],
    ['linux', 'amd64'],
    ['linux', 's390x'],
  ]);
  const pick = (os: string, arch: string, variant?: string): string => selectPlatform(idx, { os, arch, ...(variant ? { variant } : {}) }, 'img').digest;

  it('matches os, architecture and variant, never the first entry', () => {
    expect(pick('linux', 'amd64')).toBe(d('5'));
    expect(pick('linux', 'arm64')).toBe(d('4'));
    expect(pick('linux', 'arm64', 'v8')).toBe(d('4'));
    expect(pick('linux', 'arm', 'v7')).toBe(d('3'));
    expect(pick('linux', 'arm', 'v6')).toBe(d('2'));
    expect(pick('linux', 'aarch64')).toBe(d('4'));
  });

  it('walks arm variants down, but never up', () => {
    const only6 = indexOf([['linux', 'arm', 'v6']]);
    expect(selectPlatform(only6, { os: 'linux', arch: 'arm', variant: 'v7' }, 'x').digest).toBe(d('0'));
    const only7 = indexOf([['linux', 'arm', 'v7']]);
    expect(() => selectPlatform(only7, { os: 'linux', arch: 'arm', variant: 'v6' }, 'x')).toThrow(/no image for linux\/arm\/v6/);
  });

  it('treats arm64 without a variant as v8 and amd64/v1 as amd64', () => {
    const i = indexOf([['linux', 'arm64'], ['linux', 'amd64', 'v1']]);
    expect(selectPlatform(i, { os: 'linux', arch: 'arm64', variant: 'v8' }, 'x').digest).toBe(d('0'));
    expect(selectPlatform(i, { os: 'linux', arch: 'amd64' }, 'x').digest).toBe(d('1'));
  });

  it('lists what there is when nothing matches', () => {
    expect(() => pick('linux', 'riscv64')).toThrow('img has no image for linux/riscv64; it has windows/amd64, linux/arm/v6, linux/arm/v7, linux/arm64/v8, linux/amd64, linux/s390x');
    expect(() => selectPlatform(indexOf([['unknown', 'unknown']]), { os: 'linux', arch: 'amd64' }, 'y')).toThrow(/it has nothing/);
  });
});
