import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBusyboxRootfs, haveBusybox } from '../../helpers/busybox-rootfs.js';
import { cake, freshHome } from '../../helpers/cli.js';
import { digestOf } from '../../helpers/registry.js';
import { file, tar } from '../../helpers/tar-build.js';
import { image, layer, type BuiltImage } from './images.js';

/** Writes `img` as an OCI layout at `dir`, tagged `tag` (what skopeo reads as oci:DIR:TAG). */
function writeLayout(dir: string, img: BuiltImage, tag: string): void {
  mkdirSync(join(dir, 'blobs/sha256'), { recursive: true });
  for (const b of [...img.blobs, img.manifest.bytes]) writeFileSync(join(dir, 'blobs/sha256', digestOf(b).slice(7)), b);
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const entry = { mediaType: img.manifest.mediaType, digest: img.digest, size: img.manifest.bytes.length, annotations: { 'org.opencontainers.image.ref.name': tag } };
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [entry] }));
}

const envs = (home: string): string[] => readdirSync(join(home, 'v1/envs'));
const storeTmp = (home: string): string[] => readdirSync(join(home, 'v1/store/tmp'));

// issue 11 item 14: `podman save` / `docker save` / skopeo archives through `cake pull ./x.tar`
// and `cake import` (the real podman and skopeo write them).
describe.skipIf(!haveBusybox())('image archives (podman save, skopeo copy)', () => {
  let work: string;
  const tag = `localhost/cake-archive-test:${process.pid}`;
  const tag2 = `localhost/cake-archive-two:${process.pid}`;
  const hubTag = `docker.io/library/cake-archive-hub:${process.pid}`;
  const h = freshHome('cake-image-archive-');

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'cake-image-archive-'));
    writeFileSync(join(work, 'root.tar'), tar(file('hello', 'from podman\n')));
    execFileSync('podman', ['import', join(work, 'root.tar'), tag], { stdio: 'ignore' });
    execFileSync('podman', ['save', '-o', join(work, 'docker.tar'), tag], { stdio: 'ignore' });
    execFileSync('podman', ['save', '--format', 'oci-archive', '-o', join(work, 'oci.tar'), tag], { stdio: 'ignore' });
    // podman save names a Docker Hub image in full in the oci-archive's ref.name
    execFileSync('podman', ['tag', tag, hubTag], { stdio: 'ignore' });
    execFileSync('podman', ['save', '--format', 'oci-archive', '-o', join(work, 'hub-oci.tar'), hubTag], { stdio: 'ignore' });
    // two images in one docker-archive (podman save -m), as `docker save A B` writes them
    writeFileSync(join(work, 'root2.tar'), tar(file('hello', 'the second image\n')));
    execFileSync('podman', ['import', join(work, 'root2.tar'), tag2], { stdio: 'ignore' });
    execFileSync('podman', ['save', '-m', '-o', join(work, 'multi.tar'), tag, tag2], { stdio: 'ignore' });
    // A two-layer image with a config: a busybox base (gzip), then a plain layer whose whiteout
    // removes a file of the base; copied by skopeo into a docker-archive, as it writes one (skopeo
    // refuses zstd layers in docker-archives; the hand-made archive below has one).
    const bb = createBusyboxRootfs();
    writeFileSync(join(bb.root, 'gone'), 'removed by layer 2\n');
    const base = layer(execFileSync('tar', ['-C', bb.root, '--numeric-owner', '--owner=0', '--group=0', '-c', '.'], { maxBuffer: 1 << 28 }), 'gzip');
    bb.cleanup();
    const top = layer(tar(file('.wh.gone'), file('srv/app/hello', 'layer two\n')), 'none');
    const img = image([base, top], { env: ['PATH=/usr/bin:/bin', 'GREETING=from the archive'], workingDir: '/srv/app', entrypoint: ['sh', '-c'], cmd: ['echo "$GREETING"; pwd; cat hello; ls /gone 2>&1'] });
    writeLayout(join(work, 'layout'), img, 'v1');
    execFileSync('skopeo', ['copy', '-q', `oci:${join(work, 'layout')}:v1`, `docker-archive:${join(work, 'skopeo.tar')}:localhost/cake-two:v1`], { stdio: ['ignore', 'ignore', 'inherit'] });
  }, 120_000);

  afterAll(() => {
    execFileSync('podman', ['rmi', '-f', tag, tag2, hubTag], { stdio: 'ignore' });
    h.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  it('an oci-archive is unpacked as the image it holds, its temporary layout removed', async () => {
    const r = await cake(h.home, ['pull', join(work, 'oci.tar'), '--name', 'oa']);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(h.home, 'v1/envs/oa/rootfs/hello'), 'utf8')).toBe('from podman\n');
    expect(r.stderr).toContain(`resolving oci-archive:${join(work, 'oci.tar')}`);
    expect(storeTmp(h.home)).toEqual([]);
  });

  it('oci-archive:FILE:REF normalizes REF as docker-archive RepoTags are: a short name finds podman save\'s full ref.name; @N by position', async () => {
    const hub = join(work, 'hub-oci.tar');
    const short = `cake-archive-hub:${process.pid}`;
    expect(execFileSync('tar', ['-xOf', hub, 'index.json'], { encoding: 'utf8' })).toContain(`"org.opencontainers.image.ref.name":"${hubTag}"`);
    for (const [ref, name] of [[short, 'os'], [`library/${short}`, 'ol'], [hubTag, 'of'], ['@0', 'o0']] as const) {
      const r = await cake(h.home, ['pull', `oci-archive:${hub}:${ref}`, '--name', name]);
      expect([ref, r.code], r.stderr).toEqual([ref, 0]);
      expect(readFileSync(join(h.home, `v1/envs/${name}/rootfs/hello`), 'utf8')).toBe('from podman\n');
    }
    // localhost/ names stay local: without it the name is Docker Hub's (as for docker-archive)
    const local = await cake(h.home, ['pull', `oci-archive:${join(work, 'oci.tar')}:${tag}`, '--name', 'ok']);
    expect(local.code, local.stderr).toBe(0);
    const miss = await cake(h.home, ['pull', `oci-archive:${join(work, 'oci.tar')}:${tag.slice('localhost/'.length)}`, '--name', 'no']);
    expect(miss.code).toBe(1);
    expect(miss.stderr).toMatch(new RegExp(`^cake: oci-archive:.*oci.tar has no image tagged cake-archive-test:${process.pid} \\(docker.io/library/cake-archive-test:${process.pid}\\)\nhint: its tags: ${tag}; or name an image by position`, 'm'));
    expect(storeTmp(h.home)).toEqual([]);
  });

  it("podman save's docker-archive is pulled and imported as its image, again a no-op", async () => {
    const r = await cake(h.home, ['pull', join(work, 'docker.tar'), '--name', 'da']);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(h.home, 'v1/envs/da/rootfs/hello'), 'utf8')).toBe('from podman\n');
    expect(readdirSync(join(h.home, 'v1/envs/da/rootfs')).sort()).toEqual(['hello']);
    const rec = JSON.parse(readFileSync(join(h.home, 'v1/envs/da/env.json'), 'utf8')) as { resolved: Record<string, unknown> };
    expect(rec.resolved.image).toBe(`docker-archive:${join(work, 'docker.tar')}`);
    expect(rec.resolved.file).toBe(join(work, 'docker.tar'));
    expect(storeTmp(h.home)).toEqual([]);
    const again = await cake(h.home, ['pull', join(work, 'docker.tar'), '--name', 'da']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('da is up to date');
    expect(again.stdout).toBe(r.stdout);
    const imp = await cake(h.home, ['import', join(work, 'docker.tar'), '--name', 'di']);
    expect(imp.code, imp.stderr).toBe(0);
    expect(readFileSync(join(h.home, 'v1/envs/di/rootfs/hello'), 'utf8')).toBe('from podman\n');
  });

  it('a docker-archive of several images: docker-archive:FILE:REF picks one by its RepoTags or @N, as skopeo does', async () => {
    const multi = join(work, 'multi.tar');
    const configOf = (name: string) => (JSON.parse(readFileSync(join(h.home, 'v1/envs', name, 'env.json'), 'utf8')) as { resolved: Record<string, unknown> }).resolved;
    // skopeo's own choice for the same REF: the config digest it reads
    const skopeoConfig = (ref: string) => digestOf(execFileSync('skopeo', ['inspect', '--raw', '--config', `docker-archive:${multi}:${ref}`]));

    const none = await cake(h.home, ['pull', multi, '--name', 'm0']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain(`holds 2 images (@0 ${tag}, @1 ${tag2}); name one with docker-archive:${multi}:NAME:TAG or docker-archive:${multi}:@N`);
    expect(none.stderr).toMatch(/\nhint: e\.g\. cake pull docker-archive:/);
    expect(none.stderr).not.toMatch(/\n\s+at /);

    const byTag = await cake(h.home, ['pull', `docker-archive:${multi}:${tag2}`, '--name', 'm2']);
    expect(byTag.code, byTag.stderr).toBe(0);
    expect(readFileSync(join(h.home, 'v1/envs/m2/rootfs/hello'), 'utf8')).toBe('the second image\n');
    expect(configOf('m2')).toMatchObject({ image: `docker-archive:${multi}:${tag2}`, imageRef: tag2, config: skopeoConfig(tag2) });
    const again = await cake(h.home, ['pull', `docker-archive:${multi}:${tag2}`, '--name', 'm2']);
    expect(again.stderr).toContain('m2 is up to date');

    const byIndex = await cake(h.home, ['pull', `docker-archive:${multi}:@0`, '--name', 'm1']);
    expect(byIndex.code, byIndex.stderr).toBe(0);
    expect(readFileSync(join(h.home, 'v1/envs/m1/rootfs/hello'), 'utf8')).toBe('from podman\n');
    expect(configOf('m1').config).toBe(skopeoConfig('@0'));
    const idx1 = await cake(h.home, ['pull', `docker-archive:${multi}:@1`, '--name', 'm3']);
    expect(idx1.code, idx1.stderr).toBe(0);
    expect(configOf('m3').config).toBe(configOf('m2').config);

    // no such tag (without localhost/ the name is Docker Hub's, as for skopeo), no such index, a digest
    for (const [ref, code, msg] of [
      ['localhost/nope:1', 1, `has no image tagged localhost/nope:1 (localhost/nope:1); it holds @0 ${tag}, @1 ${tag2}`],
      [tag2.replace('localhost/', ''), 1, `(docker.io/library/${tag2.replace('localhost/', '')}); it holds`],
      ['@2', 1, 'has no image @2: it holds 2 (@0'],
      ['@x', 2, 'invalid image index "@x"'],
      [`x@sha256:${'a'.repeat(64)}`, 2, 'names its images by tag, not by digest'],
    ] as const) {
      const r = await cake(h.home, ['pull', `docker-archive:${multi}:${ref}`, '--name', 'mx']);
      expect(r.code, `${ref}: ${r.stderr}`).toBe(code);
      expect(r.stderr).toContain(msg);
      expect(r.stderr).toMatch(/\nhint: /);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    expect(envs(h.home)).not.toContain('mx');
    // a one-image archive is checked against REF too
    const wrong = await cake(h.home, ['pull', `docker-archive:${join(work, 'docker.tar')}:${tag2}`, '--name', 'mx']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain(`has no image tagged ${tag2}`);
    // a root filesystem tarball has no images to name
    const rootfs = await cake(h.home, ['pull', `docker-archive:${join(work, 'root.tar')}:${tag}`, '--name', 'mx']);
    expect(rootfs.code).toBe(2);
    expect(rootfs.stderr).toContain('is a root filesystem tarball, not an image archive');
    expect(storeTmp(h.home)).toEqual([]);
  });

  it("skopeo's docker-archive: layers applied in order with whiteouts, the config's Env, WorkingDir, Entrypoint and Cmd kept", async () => {
    const r = await cake(h.home, ['pull', `docker-archive:${join(work, 'skopeo.tar')}:localhost/cake-two:v1`, '--name', 'two']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/2 layer\(s\)/);
    const ex = await cake(h.home, ['exec', 'two']);
    expect(ex.stdout).toMatch(/^from the archive\n\/srv\/app\nlayer two\nls: \/gone: No such file or directory\n?$/);
    const ex2 = await cake(h.home, ['exec', 'two', 'sh', '-c', 'echo "$GREETING"; pwd']);
    expect(ex2.stdout).toBe('from the archive\n/srv/app');
  });

  it("docker save's older layout: <id>/layer.tar, a zstd layer, paths through symlinks inside the archive", async () => {
    const dir = join(work, 'hand');
    const l1 = layer(tar(file('a', 'one\n'), file('b', 'gone soon\n')), 'zstd');
    const l2 = layer(tar(file('.wh.b'), file('c', 'two\n')), 'gzip');
    const img = image([l1, l2], { cmd: ['/a'] });
    const cfg = `${digestOf(img.config).slice(7)}.json`;
    // docker's v1 layer ids (64 hex digits), the second layer.tar a symlink to a blob beside it
    const [id1, id2, blob2] = ['1', '2', '3'].map((n) => n.repeat(64));
    mkdirSync(join(dir, id1!), { recursive: true });
    mkdirSync(join(dir, id2!));
    writeFileSync(join(dir, id1!, 'layer.tar'), l1.bytes);
    writeFileSync(join(dir, `${blob2}.tar`), l2.bytes);
    symlinkSync(`../${blob2}.tar`, join(dir, id2!, 'layer.tar'));
    writeFileSync(join(dir, cfg), img.config);
    const members = [id1!, id2!, `${blob2}.tar`, cfg, 'manifest.json'];
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify([{ Config: cfg, RepoTags: ['hand:1'], Layers: [`${id1}/layer.tar`, `${id2}/layer.tar`] }]));
    execFileSync('tar', ['-C', dir, '-cf', join(work, 'hand.tar'), ...members]);
    const r = await cake(h.home, ['pull', join(work, 'hand.tar'), '--name', 'hand']);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(join(h.home, 'v1/envs/hand/rootfs')).sort()).toEqual(['a', 'c']);
    const rec = JSON.parse(readFileSync(join(h.home, 'v1/envs/hand/env.json'), 'utf8')) as { config?: { cmd?: string[] } };
    expect(rec.config?.cmd).toEqual(['/a']);
    // a Layers path that leaves the archive is refused before anything is read
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify([{ Config: cfg, Layers: ['../../etc/passwd', `${id2}/layer.tar`] }]));
    execFileSync('tar', ['-C', dir, '-cf', join(work, 'escape.tar'), ...members]);
    const esc = await cake(h.home, ['pull', join(work, 'escape.tar'), '--name', 'escape']);
    expect(esc.code).toBe(1);
    expect(esc.stderr).toMatch(/^cake: docker-archive:\S+escape\.tar: manifest\.json names "\.\.\/\.\.\/etc\/passwd", outside the archive\nhint: /m);
    expect(envs(h.home)).not.toContain('escape');
  });

  it('a docker-archive whose layer does not match the config is refused, nothing installed', async () => {
    const bad = join(work, 'bad');
    mkdirSync(bad);
    execFileSync('tar', ['-C', bad, '-xf', join(work, 'docker.tar')]);
    const manifest = JSON.parse(readFileSync(join(bad, 'manifest.json'), 'utf8')) as Array<{ Layers: string[] }>;
    writeFileSync(join(bad, manifest[0]!.Layers[0]!), tar(file('hello', 'tampered\n')));
    execFileSync('tar', ['-C', bad, '-cf', join(work, 'tampered.tar'), '.']);
    // a fresh home: in one that holds the real layer (by its diff_id), that verified blob is used
    const fresh = freshHome('cake-image-archive-tampered-');
    try {
      const r = await cake(fresh.home, ['pull', join(work, 'tampered.tar'), '--name', 'tampered']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^cake: blob sha256:[0-9a-f]{64} in docker-archive:\S+tampered\.tar does not match its digest/m);
      expect(envs(fresh.home)).not.toContain('tampered');
      expect(storeTmp(fresh.home)).toEqual([]);
    } finally {
      fresh.cleanup();
    }
  });

  it('a local file that is neither a root filesystem tar nor an image archive: one error naming what it is and what is accepted', async () => {
    writeFileSync(join(work, 'notes.tar'), 'these are my notes, not a tarball\n'.repeat(40));
    writeFileSync(join(work, 'empty.tar.gz'), execFileSync('gzip', ['-c'], { input: '' }));
    execFileSync('zip', ['-q', join(work, 'z.tar'), join(work, 'root.tar')]);
    const cases: Array<[string, RegExp]> = [
      ['notes.tar', /it is text starting "these are my notes, not a tarball"$/m],
      ['empty.tar.gz', /it is gzip-compressed nothing \(empty once decompressed\)$/m],
      ['z.tar', /it is a zip archive$/m],
    ];
    for (const [name, found] of cases) {
      const r = await cake(h.home, ['import', join(work, name), '--name', 'junk']);
      expect(r.code, name).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^cake: \\S+${name.replace(/\./g, '\\.')} is neither a root filesystem tarball nor an image archive: `));
      expect(r.stderr).toMatch(found);
      expect(r.stderr).toMatch(/\nhint: cake pull and cake import take a tar of a root filesystem .* or an image archive \(docker-archive or oci-archive/);
      expect(r.stderr.trim().split('\n')).toHaveLength(2);
    }
    expect(envs(h.home)).not.toContain('junk');
  });
});
