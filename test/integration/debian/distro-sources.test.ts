/**
 * A distro definition's sources are tried in order (issue 17 item 7): when a host cannot be
 * reached or answers an error, the next source is tried, and when none works one error lists what
 * each said. Local servers stand in for the hosts: an archive mirror that answers 404, a tarball
 * host that refuses connections, and a registry that answers 503.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CakeError } from '../../../src/model/errors.js';
import type { Logger } from '../../../src/model/logger.js';
import { HttpClient } from '../../../src/net/http-client.js';
import { pull } from '../../../src/pull/pull.js';
import { BlobStore } from '../../../src/store/blobs.js';
import { EnvStore } from '../../../src/store/envs.js';
import { resolvePaths } from '../../../src/store/paths.js';
import { TestHttpServer } from '../../helpers/http-server.js';

describe('every source of a definition, in order', () => {
  let mirror: TestHttpServer;
  let registry: TestHttpServer;
  const work = mkdtempSync(join(tmpdir(), 'cake-sources-'));
  const warnings: string[] = [];
  const logger: Logger = { info: () => {}, debug: () => {}, warn: (m) => warnings.push(m), progress: () => ({ update() {}, stop() {} }) };
  let http: HttpClient | undefined;

  beforeAll(async () => {
    mirror = await TestHttpServer.start();
    registry = await TestHttpServer.start();
    registry.fail('/v2/', { type: 'status', status: 503 }, 10);
    const distros = join(work, 'distros');
    mkdirSync(distros);
    writeFileSync(
      join(distros, 'demo.yaml'),
      `name: demo\ndescription: Demo\ndefault: "1"\nreleases:\n  "1":\n    sources:\n` +
        `      - kind: archive\n        keyring: debian\n        variant: minbase\n        components: [main]\n        arch: [x86_64]\n        repos:\n          - mirror: ${mirror.url('/debian')}\n            suites: [demo]\n` +
        `      - kind: tarball\n        arch:\n          x86_64: { url: "https://127.0.0.1:1/demo.tar.gz", sha256: ${'a'.repeat(64)} }\n` +
        `      - kind: registry\n        image: 127.0.0.1:${registry.port}/demo:1@sha256:${'b'.repeat(64)}\n`,
    );
  });

  afterAll(async () => {
    await mirror.close();
    await registry.close();
    await http?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('tries the archive, the tarball and the registry, then lists what each said', async () => {
    const paths = resolvePaths({ CAKE_HOME: join(work, 'home') });
    const deps = {
      paths,
      blobs: new BlobStore(paths),
      envs: new EnvStore(paths),
      http: async () => (http ??= new HttpClient({ logger, retries: 0 })),
      logger,
      signal: new AbortController().signal,
      distrosDir: join(work, 'distros'),
      hostArch: 'x64',
    };
    let err: unknown;
    try {
      await pull(deps, { source: { kind: 'distro', distro: 'demo' }, ref: 'demo', registry: { env: {}, insecure: true } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CakeError);
    const message = (err as CakeError).message;
    expect(message).toMatch(/^no source of demo:1 for x86_64 could be pulled:\n/);
    const lines = message.split('\n').slice(1).map((l) => l.trim());
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(new RegExp(`^archive ${mirror.url('/debian').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: .*404`));
    expect(lines[1]).toMatch(/^tarball https:\/\/127\.0\.0\.1:1\/demo\.tar\.gz: /);
    expect(lines[2]).toMatch(new RegExp(`^registry 127\\.0\\.0\\.1:${registry.port}/demo:1@sha256:b{64}: `));
    expect(warnings.filter((w) => w.endsWith('trying the next source'))).toHaveLength(2);
    expect(mirror.requestsTo('/debian/dists/demo/InRelease').length).toBe(1);
    expect(registry.requests.length).toBeGreaterThan(0);
  });
});
