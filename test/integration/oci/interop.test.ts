import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cake, freshHome } from '../../helpers/cli.js';
import { TestRegistry, REGISTRY_TOOLS } from '../../helpers/registry.js';
import { silentLogger } from '../../../src/model/logger.js';
import { HttpClient } from '../../../src/net/http-client.js';
import { pull } from '../../../src/pull/pull.js';
import { BlobStore } from '../../../src/store/blobs.js';
import { EnvStore } from '../../../src/store/envs.js';
import { resolvePaths } from '../../../src/store/paths.js';
import { missingCommands } from '../../helpers/tools.js';

/** path → type, content hash or link target. */
function tree(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(root, r));
      if (st.isDirectory()) {
        out.push(`${r}/`);
        walk(r);
      } else if (st.isSymbolicLink()) out.push(`${r} -> ${readlinkSync(join(root, r))}`);
      else out.push(`${r} ${createHash('sha256').update(readFileSync(join(root, r))).digest('hex').slice(0, 16)}`);
    }
  };
  walk('');
  return out;
}

const run = (cmd: string, args: string[]): Promise<unknown> => execa(cmd, args, { stdio: 'pipe' });

describe.skipIf(missingCommands(...REGISTRY_TOOLS))('images made by umoci and skopeo', () => {
  let reg: TestRegistry;
  let work: string;
  let layout: string;
  let expected: string[];
  let ociDigest: string;
  const homes: Array<{ cleanup(): void }> = [];
  const home = (): string => {
    const h = freshHome('cake-oci-interop-');
    homes.push(h);
    return h.home;
  };

  beforeAll(async () => {
    reg = await TestRegistry.start();
    work = mkdtempSync(join(tmpdir(), 'cake-oci-interop-'));
    layout = join(work, 'layout');
    await run('umoci', ['init', '--layout', layout]);
    await run('umoci', ['new', '--image', `${layout}:base`]);
    // Content through unpack/repack, the usual umoci flow. (Not `umoci insert DIR /`: umoci 0.4.7 then
    // names the root entry "/" and ends the tar without padding or end marker, which cake's tar
    // reader refuses.)
    const unpacked = join(work, 'build');
    await run('umoci', ['unpack', '--rootless', '--image', `${layout}:base`, unpacked]);
    const src = join(unpacked, 'rootfs');
    for (const d of ['etc', 'usr/share/doc/a', 'opt/tool']) mkdirSync(join(src, d), { recursive: true });
    writeFileSync(join(src, 'etc/remove-me'), 'gone soon\n');
    writeFileSync(join(src, 'etc/keep'), 'kept\n');
    writeFileSync(join(src, 'usr/share/doc/a/README'), 'doc\n');
    writeFileSync(join(src, 'opt/tool/old'), 'old\n');
    execFileSync('ln', ['-s', '../etc/keep', join(src, 'usr/keep-link')]);
    await run('umoci', ['repack', '--image', `${layout}:base`, unpacked]);
    writeFileSync(join(src, 'opt/tool/new'), 'new\n');
    await run('umoci', ['repack', '--image', `${layout}:base`, unpacked]);
    await run('umoci', ['insert', '--image', `${layout}:base`, '--whiteout', '/etc/remove-me']);
    await run('umoci', ['config', '--image', `${layout}:base`, '--config.env', 'FROM_UMOCI=1', '--config.workingdir', '/opt/tool', '--config.user', '1000:1000', '--config.cmd', 'sh']);
    await run('umoci', ['tag', '--image', `${layout}:base`, 'second']);
    const bundle = join(work, 'bundle');
    await run('umoci', ['unpack', '--rootless', '--image', `${layout}:base`, bundle]);
    expected = tree(join(bundle, 'rootfs'));
    await run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:base`, `docker://${reg.host}/interop/oci:v1`]);
    await run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', '--format', 'v2s2', `oci:${layout}:base`, `docker://${reg.host}/interop/docker:v1`]);
    const inspect = (await execa('skopeo', ['inspect', '--tls-verify=false', `docker://${reg.host}/interop/oci:v1`])) as { stdout: string };
    ociDigest = (JSON.parse(inspect.stdout) as { Digest: string }).Digest;
  });

  afterAll(async () => {
    await reg?.stop();
    for (const h of homes) h.cleanup();
    if (work) execFileSync('sh', ['-c', `chmod -R u+rwX ${work}; rm -rf ${work}`]);
  });

  it('pulls what skopeo pushed (OCI and Docker schema 2 types) into the tree umoci unpacks', async () => {
    const h = home();
    const a = await cake(h, ['pull', `docker://${reg.host}/interop/oci:v1`]);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toBe(`oci\t${ociDigest}`);
    expect(tree(join(h, 'v1/envs/oci/rootfs'))).toEqual(expected);
    expect(expected.some((e) => e.startsWith('opt/tool/new '))).toBe(true);
    expect(expected.some((e) => e.startsWith('etc/remove-me'))).toBe(false);
    const d = await cake(h, ['pull', `docker://${reg.host}/interop/docker:v1`]);
    expect(d.code, d.stderr).toBe(0);
    expect(tree(join(h, 'v1/envs/docker/rootfs'))).toEqual(expected);
    const rec = JSON.parse(readFileSync(join(h, 'v1/envs/docker/env.json'), 'utf8'));
    expect(rec.resolved.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(rec.config).toMatchObject({ workingDir: '/opt/tool', user: '1000:1000', cmd: ['sh'] });
    expect(rec.config.env).toContain('FROM_UMOCI=1');
  });

  it('pulls from a local OCI layout: by tag, and refuses an ambiguous or unknown one listing the tags', async () => {
    const h = home();
    const r = await cake(h, ['pull', `oci:${layout}:base`, '--name', 'lay']);
    expect(r.code, r.stderr).toBe(0);
    expect(tree(join(h, 'v1/envs/lay/rootfs'))).toEqual(expected);
    const amb = await cake(h, ['pull', `oci:${layout}`, '--name', 'amb']);
    expect(amb.code, amb.stderr).toBe(2);
    expect(amb.stderr).toContain(`oci:${layout} holds 2 images; name one with oci:${layout}:TAG\nhint: its tags: base, second`);
    const unknown = await cake(h, ['pull', `oci:${layout}:nope`, '--name', 'nope']);
    expect(unknown.code, unknown.stderr).toBe(1);
    // the tag as given and as a normalised name (what podman save writes) were both looked for
    expect(unknown.stderr).toContain(`oci:${layout} has no image tagged nope (docker.io/library/nope:latest)\nhint: its tags: base, second; or name an image by position (oci:${layout}:@0)`);
    const notLayout = await cake(h, ['pull', `oci:${work}/src:x`, '--name', 'x']);
    expect(notLayout.stderr).toContain('is not an OCI image layout (no oci-layout file)');
  });

  it('a distro definition may name a registry image pinned by digest', async () => {
    const h = home();
    const distros = join(work, 'distros');
    mkdirSync(distros, { recursive: true });
    writeFileSync(
      join(distros, 'tiny.yaml'),
      `name: tiny\ndescription: a test distro from a registry\ndefault: "1"\nreleases:\n  "1":\n    sources:\n      - kind: registry\n        image: ${reg.host}/interop/oci:v1@${ociDigest}\n`,
    );
    const paths = resolvePaths({ CAKE_HOME: h });
    const http = new HttpClient({ logger: silentLogger });
    try {
      const deps = { paths, blobs: new BlobStore(paths), envs: new EnvStore(paths), http: async () => http, logger: silentLogger, signal: new AbortController().signal, distrosDir: distros, hostArch: process.arch };
      const out = await pull(deps, { source: { kind: 'distro', distro: 'tiny' }, ref: 'tiny' });
      expect(out.sha256).toBe(ociDigest.slice(7));
      expect(out.record.resolved).toMatchObject({ distro: 'tiny', release: '1', manifestDigest: ociDigest });
      expect(tree(join(h, 'v1/envs/tiny/rootfs'))).toEqual(expected);
      const again = await pull(deps, { source: { kind: 'distro', distro: 'tiny' }, ref: 'tiny' });
      expect(again.upToDate).toBe(true);
    } finally {
      await http.close();
    }
  });
});
