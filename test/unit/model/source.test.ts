import { describe, expect, it } from 'vitest';
import { CakeError } from '../../../src/model/errors.js';
import { formatSource, hasTarballExtension, parseSource, SOURCE_FORMS_HINT, type Source } from '../../../src/model/source.js';

const HEX = 'ab'.repeat(32);
const HEX2 = 'cd'.repeat(32);

describe('parseSource', () => {
  it.each<[string, Source]>([
    ['alpine', { kind: 'distro', distro: 'alpine' }],
    ['alpine:3.22', { kind: 'distro', distro: 'alpine', release: '3.22' }],
    ['debian:bookworm', { kind: 'distro', distro: 'debian', release: 'bookworm' }],
    ['ubuntu:24.04', { kind: 'distro', distro: 'ubuntu', release: '24.04' }],
    ['Alpine:latest', { kind: 'distro', distro: 'alpine', release: 'latest' }],
    ['docker://alpine', { kind: 'registry', ref: 'alpine' }],
    ['docker://localhost:5000/team/app:1.2@sha256:' + HEX, { kind: 'registry', ref: 'localhost:5000/team/app:1.2@sha256:' + HEX }],
    ['DOCKER://alpine:3.22', { kind: 'registry', ref: 'alpine:3.22' }],
    ['oci:./layout', { kind: 'oci-layout', dir: './layout' }],
    ['oci:/srv/images/app:v1.0', { kind: 'oci-layout', dir: '/srv/images/app', tag: 'v1.0' }],
    ['oci:/srv/a:b/layout', { kind: 'oci-layout', dir: '/srv/a:b/layout' }],
    ['oci:/srv/a:b/layout:latest', { kind: 'oci-layout', dir: '/srv/a:b/layout', tag: 'latest' }],
    ['https://example.com/rootfs.tar.xz', { kind: 'url', url: 'https://example.com/rootfs.tar.xz' }],
    ['http://127.0.0.1:8080/r.tgz?x=1', { kind: 'url', url: 'http://127.0.0.1:8080/r.tgz?x=1' }],
    [`https://example.com/rootfs.tar.xz#sha256=${HEX}`, { kind: 'url', url: 'https://example.com/rootfs.tar.xz', sha256: HEX }],
    [`HTTPS://Example.COM/r.tar#SHA256=${HEX.toUpperCase()}`, { kind: 'url', url: 'https://example.com/r.tar', sha256: HEX }],
    ['/tmp/rootfs.tar', { kind: 'file', path: '/tmp/rootfs.tar' }],
    ['./rootfs.tar.gz', { kind: 'file', path: './rootfs.tar.gz' }],
    ['../out/rootfs.tar.zst', { kind: 'file', path: '../out/rootfs.tar.zst' }],
    ['~/images/my rootfs.txz', { kind: 'file', path: '~/images/my rootfs.txz' }],
    ['rootfs.tar.gz', { kind: 'file', path: 'rootfs.tar.gz' }],
    ['backup.TGZ', { kind: 'file', path: 'backup.TGZ' }],
    ['dir/rootfs.tar.bz2', { kind: 'file', path: 'dir/rootfs.tar.bz2' }],
    ['x.tzst', { kind: 'file', path: 'x.tzst' }],
  ])('%s', (text, want) => {
    expect(parseSource(text)).toEqual(want);
  });

  it("reads skopeo's oci-archive: and docker-archive: as local files, and the new tarball extensions", () => {
    expect(parseSource('oci-archive:/tmp/x.tar')).toEqual({ kind: 'file', path: '/tmp/x.tar' });
    expect(parseSource('docker-archive:./img.tar:localhost/img:1')).toEqual({ kind: 'file', path: './img.tar', imageRef: 'localhost/img:1' });
    expect(parseSource('docker-archive:./img.tar:@1')).toEqual({ kind: 'file', path: './img.tar', imageRef: '@1' });
    expect(parseSource('docker-archive:./img.tar')).toEqual({ kind: 'file', path: './img.tar' });
    expect(() => parseSource('docker-archive:./img.tar:')).toThrow(/no image reference/);
    expect(() => parseSource('docker-archive:./img.tar:@-1')).toThrow(/invalid image index/);
    expect(() => parseSource('oci-archive:')).toThrow(CakeError);
    for (const n of ['a.tar.lz', 'a.tlz', 'a.tar.lzma', 'a.tar.lzo', 'a.tar.lz4', 'a.tar.Z', 'a.tbz', 'a.pax.Z']) expect(hasTarballExtension(n)).toBe(true);
  });

  it('pins a URL with --sha256, and accepts a fragment that agrees', () => {
    expect(parseSource('https://e.com/r.tar', { sha256: HEX })).toEqual({ kind: 'url', url: 'https://e.com/r.tar', sha256: HEX });
    expect(parseSource(`https://e.com/r.tar#sha256=${HEX}`, { sha256: `sha256:${HEX}` })).toMatchObject({ sha256: HEX });
    expect(parseSource('./r.tar', { sha256: HEX })).toEqual({ kind: 'file', path: './r.tar', sha256: HEX });
  });

  it('refuses conflicting pins and pins where they do not belong', () => {
    expect(() => parseSource(`https://e.com/r.tar#sha256=${HEX}`, { sha256: HEX2 })).toThrow(
      expect.objectContaining({ code: 'bad-source', exitCode: 2, message: expect.stringContaining('conflicts') }),
    );
    expect(() => parseSource('alpine', { sha256: HEX })).toThrow(expect.objectContaining({ code: 'bad-source', exitCode: 2 }));
    expect(() => parseSource('docker://alpine', { sha256: HEX })).toThrow(expect.objectContaining({ code: 'bad-source' }));
    expect(() => parseSource('https://e.com/r.tar', { sha256: 'xyz' })).toThrow(expect.objectContaining({ code: 'bad-digest', exitCode: 2 }));
    expect(() => parseSource('https://e.com/r.tar#sha256=123')).toThrow(expect.objectContaining({ code: 'bad-digest', exitCode: 2 }));
    expect(() => parseSource('https://e.com/r.tar#top')).toThrow(expect.objectContaining({ code: 'bad-source' }));
  });

  it.each([
    ['', 'empty'],
    ['   ', 'empty'],
    [' alpine', 'whitespace'],
    ['alpine\n', 'control'],
    ['alp\u0000ine', 'control'],
    ['alpine\u001b[31m', 'control'],
    ['a'.repeat(5000), 'longer than'],
    ['a'.repeat(64), 'at most 63'],
    ['../../etc', 'must name a tarball'],
    ['/etc', 'must name a tarball'],
    ['./', 'must name a tarball'],
    ['~/', 'must name a tarball'],
    ['alpine:../../etc', 'not a distro'],
    ['..', 'not a distro'],
    ['a..b', 'not a distro'],
    ['alp ine', 'not a distro'],
    ['-rf', 'not a distro'],
    ['alpine:3.22:x', 'not a distro'],
    ['alpine@sha256:' + HEX, 'not a distro'],
    ['library/alpine', 'not a distro'],
    ['ftp://e.com/r.tar', 'unsupported scheme'],
    ['file:///tmp/r.tar', 'unsupported scheme'],
    ['docker://', 'no image reference'],
    ['docker:///abs', 'HOST/REPO'],
    ['docker://a b', 'no whitespace'],
    ['oci:', 'no directory'],
    ['oci::tag', 'no directory'],
    ['oci:./x:bad tag!', 'invalid tag'],
    ['https://', 'not a valid URL'],
    ['https://e.com/a b.tar', 'no whitespace'],
  ])('rejects %j (%s)', (text, why) => {
    let err: unknown;
    try {
      parseSource(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CakeError);
    expect(err).toMatchObject({ code: 'bad-source', exitCode: 2, message: expect.stringContaining(why) });
    expect((err as CakeError).hint).toBeTruthy();
    expect((err as CakeError).message.length).toBeLessThan(300);
  });

  it('hints at the SOURCE forms, or at docker:// for an image-like name', () => {
    expect(() => parseSource('???')).toThrow(expect.objectContaining({ hint: SOURCE_FORMS_HINT }));
    expect(() => parseSource('library/alpine')).toThrow(expect.objectContaining({ hint: expect.stringContaining('docker://library/alpine') }));
  });
});

describe('formatSource', () => {
  it.each([
    'alpine', 'debian:bookworm', 'docker://localhost:5000/a/b:c', 'oci:./layout', 'oci:/x:v1',
    'https://example.com/r.tar.xz', `https://example.com/r.tar.xz#sha256=${HEX}`, './rootfs.tar.gz',
  ])('round-trips %s', (text) => {
    expect(formatSource(parseSource(text))).toBe(text);
    expect(parseSource(formatSource(parseSource(text)))).toEqual(parseSource(text));
  });
});

describe('hasTarballExtension', () => {
  it.each([
    ['a.tar', true], ['a.tar.gz', true], ['a.tgz', true], ['a.tar.xz', true], ['a.txz', true], ['a.tar.zst', true],
    ['a.tzst', true], ['a.tar.bz2', true], ['a.TAR.GZ', true], ['a.gz', false], ['a.zip', false], ['tar', false], ['a.tar.lz4', true],
  ])('%s -> %s', (name, want) => {
    expect(hasTarballExtension(name)).toBe(want);
  });
});
