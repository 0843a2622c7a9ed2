import { describe, expect, it } from 'vitest';
import { apiHost, formatReference, imageBaseName, isLocalRegistry, manifestReference, parseReference } from '../../../src/oci/reference.js';

const D = `sha256:${'a'.repeat(64)}`;

describe('image references', () => {
  it.each([
    ['alpine', 'docker.io', 'library/alpine', 'latest', undefined],
    ['alpine:3.22', 'docker.io', 'library/alpine', '3.22', undefined],
    ['library/alpine', 'docker.io', 'library/alpine', 'latest', undefined],
    ['docker.io/alpine', 'docker.io', 'library/alpine', 'latest', undefined],
    ['index.docker.io/library/alpine:edge', 'docker.io', 'library/alpine', 'edge', undefined],
    ['bitnami/redis:7', 'docker.io', 'bitnami/redis', '7', undefined],
    ['ghcr.io/org/app:1.0', 'ghcr.io', 'org/app', '1.0', undefined],
    ['localhost/app', 'localhost', 'app', 'latest', undefined],
    ['localhost:5000/a/b/c:t', 'localhost:5000', 'a/b/c', 't', undefined],
    ['127.0.0.1:5000/team/app:v1', '127.0.0.1:5000', 'team/app', 'v1', undefined],
    ['[::1]:5000/app', '[::1]:5000', 'app', 'latest', undefined],
    [`alpine@${D}`, 'docker.io', 'library/alpine', undefined, D],
    [`registry.example/app:1@${D}`, 'registry.example', 'app', '1', D],
    ['Example.COM/app', 'example.com', 'app', 'latest', undefined],
    ['my_reg/app', 'docker.io', 'my_reg/app', 'latest', undefined],
  ])('%s', (text, registry, repository, tag, digest) => {
    const r = parseReference(text);
    expect(r).toEqual({ registry, repository, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) });
  });

  it.each([
    ['', /empty/],
    ['Alpine', /lowercase/],
    ['docker.io/Library/alpine', /lowercase/],
    ['alpine:', /invalid tag/],
    ['alpine:-x', /invalid tag/],
    ['alpine@sha256:abc', /64 lowercase hex/],
    [`alpine@sha512:${'a'.repeat(128)}`, /unsupported digest algorithm "sha512"/],
    ['a//b', /invalid repository component/],
    ['host.example/-bad', /invalid repository component/],
    ['al pine', /whitespace/],
    [`x.io/${'a'.repeat(300)}`, /longer than 255/],
  ])('refuses %j', (text, why) => {
    expect(() => parseReference(text)).toThrow(why);
    try {
      parseReference(text);
    } catch (err) {
      expect((err as { exitCode: number }).exitCode).toBe(2);
    }
  });

  it('formats, picks the manifest reference and the API host', () => {
    expect(formatReference(parseReference('alpine'))).toBe('docker.io/library/alpine:latest');
    expect(manifestReference(parseReference(`app:1@${D}`))).toBe(D);
    expect(manifestReference(parseReference('app:1'))).toBe('1');
    expect(apiHost('docker.io')).toBe('registry-1.docker.io');
    expect(apiHost('127.0.0.1:5000')).toBe('127.0.0.1:5000');
    expect(imageBaseName(parseReference('ghcr.io/org/my-app:2'))).toBe('my-app');
  });

  it('speaks plain HTTP only to loopback registries', () => {
    for (const h of ['localhost', 'localhost:5000', 'reg.localhost:80', '127.0.0.1:5000', '127.9.8.7', '[::1]:5000']) expect(isLocalRegistry(h)).toBe(true);
    for (const h of ['docker.io', '10.0.0.1:5000', '128.0.0.1', 'localhost.example.com', '192.168.1.2']) expect(isLocalRegistry(h)).toBe(false);
  });
});
