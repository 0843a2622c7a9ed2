/**
 * Every source kind of every shipped definition (distros/*.yaml), for x86_64, against local
 * servers that serve the same layout (issue 17 item 7): the hosts themselves (Alpine's CDN,
 * GitHub, archive.archlinux.org, Void's repo, Docker Hub) cannot be reached from where this was
 * written. Each definition is copied with every URL moved under a local HTTP server
 * over TLS with a test CA (`https://HOST/PATH` -> `https://127.0.0.1:PORT/CASE/HOST/PATH`), every archive mirror likewise (it
 * answers 404), and Docker Hub given a local registry as its mirror. Then, for each source in
 * turn, only that one is served — a tarball in the compression its URL names, with the
 * definition's strip, pinned by its own sha256 (the shipped pins are of files that cannot be
 * fetched here), or an image under the definition's repository and tag, pinned by its digest —
 * and `pull` must reach it after trying each earlier source once, and unpack it.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Logger } from '../../../src/model/logger.js';
import { HttpClient } from '../../../src/net/http-client.js';
import { parseRegistryMirrors } from '../../../src/oci/mirrors.js';
import { pull } from '../../../src/pull/pull.js';
import { BlobStore } from '../../../src/store/blobs.js';
import { EnvStore } from '../../../src/store/envs.js';
import { resolvePaths } from '../../../src/store/paths.js';
import { selfSignedCert, TestHttpServer } from '../../helpers/http-server.js';
import { TestRegistry, uploadImage } from '../../helpers/registry.js';
import { dir, file, tar } from '../../helpers/tar-build.js';
import { image, index, layer } from '../oci/images.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const ARCH = 'x86_64';

interface RawSource {
  kind: 'archive' | 'tarball' | 'registry';
  strip?: number;
  arch?: Record<string, { url: string; sha256: string }> | string[];
  image?: string;
  repos?: { mirror: string | Record<string, string>; suites: string[] }[];
}
interface Case {
  distro: string;
  release: string;
  /** Index of the served source among the release's x86_64 sources. */
  at: number;
  kind: 'tarball' | 'registry';
  what: string;
}

const serves = (s: RawSource): boolean => (s.kind === 'tarball' ? (s.arch as Record<string, unknown>)[ARCH] !== undefined : s.arch === undefined || (s.arch as string[]).includes(ARCH));

/** The shipped definitions and, per release, the x86_64 sources in order. */
function shipped(): { name: string; def: Record<string, unknown>; releases: [string, RawSource[]][] }[] {
  return readdirSync(join(REPO, 'distros'))
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => {
      const def = parse(readFileSync(join(REPO, 'distros', f), 'utf8')) as { name: string; releases: Record<string, { sources: RawSource[] }> };
      return { name: def.name, def, releases: Object.entries(def.releases).map(([r, rel]) => [r, rel.sources.filter(serves)] as [string, RawSource[]]) };
    });
}

function cases(): Case[] {
  return shipped().flatMap((d) =>
    d.releases.flatMap(([release, sources]) =>
      sources.flatMap((s, at): Case[] =>
        s.kind === 'archive' ? [] : [{ distro: d.name, release, at, kind: s.kind, what: s.kind === 'tarball' ? (s.arch as Record<string, { url: string }>)[ARCH]!.url : s.image! }],
      ),
    ),
  );
}

const local = (base: string, url: string): string => url.replace(/^https?:\/\//, `${base}/`);
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** A small rootfs tar in the compression `url` names, under one top-level directory when strip is 1. */
function tarball(url: string, strip: number, marker: string): Buffer {
  const top = strip > 0 ? 'rootfs-fixture/' : '';
  const raw = tar(...(top ? [dir(top)] : []), dir(`${top}etc/`), file(`${top}etc/os-release`, `NAME=fixture\nCAKE_FIXTURE=${marker}\n`, { mode: 0o644 }), dir(`${top}bin/`));
  if (url.endsWith('.tar.gz') || url.endsWith('.tgz')) return gzipSync(raw);
  if (url.endsWith('.tar.xz')) return execFileSync('xz', ['-c', '-T1'], { input: raw });
  if (url.endsWith('.tar.zst')) return execFileSync('zstd', ['-q', '-c'], { input: raw });
  throw new Error(`no fixture compression for ${url}`);
}

describe('each source kind of each shipped definition, from local servers with the same layout', () => {
  let files: TestHttpServer;
  let registry: TestRegistry;
  let http: HttpClient | undefined;
  const work = mkdtempSync(join(tmpdir(), 'cake-defs-local-'));
  const all = cases();
  const cert = selfSignedCert();

  beforeAll(async () => {
    [files, registry] = await Promise.all([TestHttpServer.start({ tls: cert }), TestRegistry.start()]);
  }, 60_000);
  afterAll(async () => {
    await http?.close();
    await files?.close();
    await registry?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('covers every definition, and both source kinds beyond the archive', () => {
    const names = shipped().map((d) => d.name);
    expect(names).toEqual(['alpine', 'archlinux', 'debian', 'fedora', 'opensuse', 'ubuntu', 'void']);
    for (const n of names) expect(all.some((c) => c.distro === n), n).toBe(true);
    expect(all.some((c) => c.kind === 'registry')).toBe(true);
  });

  it.each(all.map((c) => [`${c.distro}:${c.release} #${c.at} ${c.kind} ${c.what}`, c] as const))('%s', async (_label, c) => {
    const d = shipped().find((x) => x.name === c.distro)!;
    const def = structuredClone(d.def) as { releases: Record<string, { sources: RawSource[] }>; default?: string };
    const marker = `${c.distro}:${c.release}:${c.at}`;
    // the release keeps its x86_64 sources up to the served one, all moved to the local hosts
    const sources = (d.releases.find(([r]) => r === c.release)![1]).slice(0, c.at + 1).map((s) => structuredClone(s));
    let digest = '';
    // a prefix of its own per case, so that what an earlier case served is not found here
    const base = files.url(`/case-${c.distro}-${c.release}-${c.at}`);
    for (const [i, s] of sources.entries()) {
      if (s.kind === 'archive') {
        for (const r of s.repos!) r.mirror = typeof r.mirror === 'string' ? local(base, r.mirror) : Object.fromEntries(Object.entries(r.mirror).map(([a, m]) => [a, local(base, m)]));
      } else if (s.kind === 'tarball') {
        const t = (s.arch as Record<string, { url: string; sha256: string }>)[ARCH]!;
        const url = local(base, t.url);
        if (i === c.at) {
          const body = tarball(t.url, s.strip ?? 0, marker);
          files.file(new URL(url).pathname, body);
          s.arch = { [ARCH]: { url, sha256: sha(body) } };
        } else s.arch = { [ARCH]: { url, sha256: t.sha256 } }; // not served: 404
      } else {
        const m = /^docker\.io\/(.+):([^:@]+)@sha256:[0-9a-f]{64}$/.exec(s.image!);
        expect(m, `${s.image} is a pinned Docker Hub image`).not.toBeNull();
        const [repo, tag] = [m![1]!, m![2]!];
        const layerTar = tar(dir('etc/'), file('etc/os-release', `NAME=fixture\nCAKE_FIXTURE=${marker}\n`, { mode: 0o644 }));
        const img = image([layer(layerTar, 'gzip')], { arch: 'amd64' });
        const list = index([{ image: img, platform: { os: 'linux', architecture: 'amd64' } }]);
        digest = await uploadImage(registry, repo, tag, list);
        s.image = `docker.io/${repo}:${tag}@${digest}`;
      }
    }
    def.releases = { [c.release]: { ...def.releases[c.release]!, sources } };
    def.default = c.release;
    const distros = join(work, `distros-${c.distro}-${c.release}-${c.at}`);
    mkdirSync(distros);
    writeFileSync(join(distros, `${c.distro}.yaml`), stringify(def));

    const warnings: string[] = [];
    const logger: Logger = { info: () => {}, debug: () => {}, warn: (w) => warnings.push(w), progress: () => ({ update() {}, stop() {} }) };
    const paths = resolvePaths({ CAKE_HOME: join(work, 'home') });
    const envs = new EnvStore(paths);
    const deps = {
      paths,
      blobs: new BlobStore(paths),
      envs,
      http: async () => (http ??= new HttpClient({ logger, retries: 0, ca: cert.cert })),
      logger,
      signal: new AbortController().signal,
      distrosDir: distros,
      hostArch: 'x64',
      registryMirrors: parseRegistryMirrors([`docker.io=http://${registry.host}`]),
    };
    const name = `${c.distro}-${c.release}-${c.at}`.replace(/[^a-z0-9-]/gi, '-');
    const out = await pull(deps, { source: { kind: 'distro', distro: c.distro, release: c.release }, ref: `${c.distro}:${c.release}`, name, registry: { env: {}, insecure: true } });
    expect(out.record.name).toBe(name);
    expect(readFileSync(join(envs.rootfs(name), 'etc/os-release'), 'utf8')).toContain(`CAKE_FIXTURE=${marker}\n`);
    // each earlier source was tried once, said why it failed, and the next was tried
    expect(warnings.filter((w) => w.endsWith('; trying the next source'))).toHaveLength(c.at);
    if (c.kind === 'registry') expect(out.sha256).toBe(digest.slice('sha256:'.length));
  }, 120_000);
});
