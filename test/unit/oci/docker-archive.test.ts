import { describe, expect, it } from 'vitest';
import { parseDockerManifest, selectDockerEntry } from '../../../src/oci/docker-archive.js';
import { classifyMembers, describeContent } from '../../../src/pull/image-archive.js';

const hex = 'a'.repeat(64);

describe('docker-archive manifest.json', () => {
  it('reads Config, RepoTags and Layers of each image', () => {
    const m = parseDockerManifest(Buffer.from(JSON.stringify([{ Config: `${hex}.json`, RepoTags: ['x:1'], Layers: [`${hex}.tar`] }, { Config: 'c.json', RepoTags: null, Layers: [] }])), 'docker-archive:f');
    expect(m).toEqual([
      { config: `${hex}.json`, repoTags: ['x:1'], layers: [`${hex}.tar`] },
      { config: 'c.json', repoTags: [], layers: [] },
    ]);
  });

  it.each([
    ['not json', /manifest\.json is not JSON/],
    ['{}', /is not a list of images/],
    ['[]', /is not a list of images/],
    ['[{"Layers":[]}]', /image 1 in manifest\.json has no Config/],
    ['[{"Config":"c.json","Layers":[1]}]', /image 1 in manifest\.json has no Layers list/],
  ])('refuses %s', (text, why) => {
    expect(() => parseDockerManifest(Buffer.from(text), 'docker-archive:f')).toThrow(why);
  });
});

describe('docker-archive:FILE:REF', () => {
  const a = { config: 'a.json', repoTags: ['alpine:3', 'localhost/a:1'], layers: [] };
  const b = { config: 'b.json', repoTags: ['docker.io/library/busybox:latest'], layers: [] };
  const c = { config: 'c.json', repoTags: [], layers: [] };
  it('picks by normalized tag or by index; one image needs no REF', () => {
    expect(selectDockerEntry([a, b], 'docker.io/library/alpine:3', 'f')).toBe(a);
    expect(selectDockerEntry([a, b], 'localhost/a:1', 'f')).toBe(a);
    expect(selectDockerEntry([a, b], 'busybox', 'f')).toBe(b);
    expect(selectDockerEntry([a, b, c], '@2', 'f')).toBe(c);
    expect(selectDockerEntry([c], undefined, 'f')).toBe(c);
  });
  it('refuses what names nothing, listing the images', () => {
    expect(() => selectDockerEntry([a, c], undefined, 'f')).toThrow('f holds 2 images (@0 alpine:3 localhost/a:1, @1 (untagged)); name one with f:NAME:TAG or f:@N');
    expect(() => selectDockerEntry([a, b], 'a:1', 'f')).toThrow('f has no image tagged a:1 (docker.io/library/a:1)');
    expect(() => selectDockerEntry([a], '@1', 'f')).toThrow('f has no image @1: it holds 1');
    expect(() => selectDockerEntry([a], `alpine@sha256:${hex}`, 'f')).toThrow(/by tag, not by digest/);
  });
});

describe('local files', () => {
  it('tells image archives from root filesystems by their first members', () => {
    expect(classifyMembers([`${hex}.tar`, `${hex}.json`, `${hex}/`, `${hex}/layer.tar`, 'manifest.json', 'repositories'])).toBe('docker-archive');
    expect(classifyMembers(['oci-layout', 'index.json', 'blobs/', 'blobs/sha256/'])).toBe('oci-archive');
    expect(classifyMembers(['./', './bin/', './etc/'])).toBeUndefined();
    expect(classifyMembers(['manifest.json', 'src/'])).toBeUndefined();
  });

  it('describes what a file that is not a tar holds', () => {
    expect(describeContent(Buffer.alloc(0), 'none')).toBe('an empty file');
    expect(describeContent(Buffer.from('#!/bin/sh\necho hi\n'), 'none')).toBe('text starting "#!/bin/sh"');
    expect(describeContent(Buffer.from('hello'), 'xz')).toBe('xz-compressed text starting "hello"');
    expect(describeContent(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0]), 'none')).toBe('binary data (89 50 4e 47 0d 0a 1a 0a …), not a tar archive');
  });
});
