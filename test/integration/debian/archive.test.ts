/**
 * The archive client against the real deb.debian.org (verified InRelease, Packages indices,
 * .debs) with a store under test/.cache/debian-store so reruns download nothing, and against a
 * local, self-signed archive for the failure paths (tampering, pins, offline, by-hash fallback).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createCleartextMessage, generateKey, sign } from 'openpgp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extractTar } from '../../../src/archive/extract.js';
import { ArchiveClient, toPackageIndex, type ArchiveSource, type LoadedIndices } from '../../../src/debian/archive-client.js';
import { forEachStanza } from '../../../src/debian/deb822.js';
import { openDeb } from '../../../src/debian/deb-file.js';
import { silentLogger } from '../../../src/model/logger.js';
import { HttpClient } from '../../../src/net/http-client.js';
import { BlobStore } from '../../../src/store/blobs.js';
import { resolvePaths, type CakePaths } from '../../../src/store/paths.js';
import { TestHttpServer } from '../../helpers/http-server.js';
import { defaultSnapshotBase, snapshotRoots } from '../../../src/debian/snapshot.js';
import { cakeRejection } from '../../helpers/expect-error.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));

function store(home: string): { paths: CakePaths; blobs: BlobStore } {
  const paths = resolvePaths({ CAKE_HOME: home });
  const blobs = new BlobStore(paths);
  blobs.init();
  return { paths, blobs };
}

function countStanzas(text: string): number {
  let n = 0;
  forEachStanza(text, new Set(['package']), () => n++);
  return n;
}

const caught = cakeRejection;

describe('deb.debian.org (real archive)', () => {
  const home = join(REPO, 'test/.cache/debian-store');
  const { paths, blobs } = store(home);
  const http = new HttpClient({ logger: silentLogger });
  const source: ArchiveSource = {
    mirror: 'http://deb.debian.org/debian',
    suites: ['bookworm', 'bookworm-updates'],
    components: ['main'],
    arch: 'amd64',
    keyring: 'debian',
  };
  const client = (): ArchiveClient => new ArchiveClient({ http, blobs, paths, logger: silentLogger }, source);
  let first: LoadedIndices;

  afterAll(async () => {
    await http.close();
  });

  it('loads verified bookworm + bookworm-updates indices (cold or warm), then warm with no download', async () => {
    const c1 = client();
    let t0 = performance.now();
    first = await c1.loadIndices();
    const firstMs = performance.now() - t0;
    const s1 = c1.stats();
    console.log(
      `first load (${s1.downloads > 0 ? 'cold' : 'warm'}): ${firstMs.toFixed(0)} ms, ${s1.inReleaseFetched} InRelease, ` +
        `${s1.downloads} indices downloaded, ${(s1.bytes / 1e6).toFixed(1)} MB`,
    );
    expect(first.releases.map((r) => r.suite)).toEqual(['bookworm', 'bookworm-updates']);
    expect(first.releases[0]?.codename).toBe('bookworm');
    expect(first.releases[0]?.signers.length).toBeGreaterThan(0);
    const main = first.packagesText.find((p) => p.suite === 'bookworm');
    expect(main?.mirror).toBe('http://deb.debian.org/debian/');
    expect(countStanzas(main?.text ?? '')).toBeGreaterThan(60_000);
    expect(countStanzas(first.packagesText[1]?.text ?? '')).toBeGreaterThan(0);

    const c2 = client();
    t0 = performance.now();
    const again = await c2.loadIndices();
    const warmMs = performance.now() - t0;
    const s2 = c2.stats();
    console.log(`warm load: ${warmMs.toFixed(0)} ms, ${s2.inReleaseFetched} InRelease fetched, ${s2.downloads} downloads, ${s2.bytes} bytes`);
    expect(s2.inReleaseFetched).toBe(2);
    expect(s2.downloads).toBe(0);
    expect(again.packagesText.map((p) => p.text.length)).toEqual(first.packagesText.map((p) => p.text.length));

    // Pinned to the hashes just recorded: no network at all.
    const pins = Object.fromEntries(first.releases.map((r) => [r.suite, r.inReleaseSha256]));
    const c3 = client();
    t0 = performance.now();
    const pinned = await c3.loadIndices({ pinnedInRelease: pins });
    console.log(`pinned load: ${(performance.now() - t0).toFixed(0)} ms, ${c3.stats().inReleaseFetched} InRelease fetched`);
    expect(c3.stats()).toEqual({ inReleaseFetched: 0, downloads: 0, bytes: 0 });
    expect(pinned.releases).toEqual(first.releases);

    const c4 = client();
    const offline = await c4.loadIndices({ offline: true });
    expect(c4.stats().inReleaseFetched).toBe(0);
    expect(offline.packagesText.length).toBe(2);
  });

  it('measures InRelease fetch + verify and index decompression', async () => {
    const t0 = performance.now();
    const res = await http.request('http://deb.debian.org/debian/dists/bookworm/InRelease');
    const t1 = performance.now();
    const { verifyInRelease } = await import('../../../src/debian/inrelease-verify.js');
    const { loadKeyring } = await import('../../../src/debian/keyrings.js');
    const keys = await loadKeyring('debian');
    const t2 = performance.now();
    await verifyInRelease(res.body, keys, { suite: 'bookworm', mirror: 'http://deb.debian.org/debian/', keyringLabel: 'the debian archive keyring' });
    const t3 = performance.now();
    console.log(`InRelease: fetch ${(t1 - t0).toFixed(0)} ms, keyring load ${(t2 - t1).toFixed(0)} ms, verify ${(t3 - t2).toFixed(0)} ms`);
    // Cold decompression of the stored Packages.xz (the warm path reads the stored plain file).
    const { parseRelease, indexEntry } = await import('../../../src/debian/release.js');
    const { decompress } = await import('../../../src/archive/decompress.js');
    const rel = parseRelease((await verifyInRelease(res.body, keys, { suite: 'bookworm', mirror: 'm', keyringLabel: 'k' })).text, 'r');
    const xz = indexEntry(rel, 'main/binary-amd64/Packages');
    expect(xz?.compression).toBe('xz');
    if (xz !== undefined && blobs.has(xz.sha256)) {
      const t4 = performance.now();
      const { stream } = await decompress((await import('node:fs')).createReadStream(blobs.path(xz.sha256)));
      let n = 0;
      for await (const c of stream) n += (c as Buffer).length;
      console.log(`Packages.xz (${(xz.size / 1e6).toFixed(1)} MB) → ${(n / 1e6).toFixed(1)} MB: decompress ${(performance.now() - t4).toFixed(0)} ms`);
    }
  });

  it('fetches three real .debs into the store once, and reads them', async () => {
    const index = toPackageIndex(first);
    const names = ['base-files', 'debianutils', 'hostname'];
    const pkgs = names.map((n) => {
      const p = index.candidate(n, 'amd64');
      if (p === undefined) throw new Error(`${n} not in the index`);
      return p;
    });
    const c = client();
    const t0 = performance.now();
    const got = await c.fetchDebs(pkgs, { concurrency: 3 });
    console.log(`fetchDebs(3): ${(performance.now() - t0).toFixed(0)} ms, ${c.stats().downloads} downloaded`);
    expect(got.size).toBe(3);
    const mtimes = pkgs.map((p) => statSync(got.get(p.sha256) as string).mtimeMs);

    const again = client();
    const progress: boolean[] = [];
    const got2 = await again.fetchDebs(pkgs, { onProgress: (p) => progress.push(p.downloaded) });
    expect(again.stats().downloads).toBe(0);
    expect(progress).toEqual([false, false, false]);
    expect(pkgs.map((p) => statSync(got2.get(p.sha256) as string).mtimeMs)).toEqual(mtimes);

    const root = mkdtempSync(join(tmpdir(), 'cake-debs-'));
    try {
      for (const p of pkgs) {
        const deb = await openDeb(got.get(p.sha256) as string);
        expect(deb.control['package']).toBe(p.name);
        expect(deb.control['version']).toBe(p.version);
        expect(deb.dataMember.compression).toBe('xz');
        const stats = await extractTar(await deb.dataStream(), { root, ownership: {} });
        expect(stats.files).toBeGreaterThan(0);
      }
      expect(readFileSync(join(root, 'etc/debian_version'), 'utf8')).toMatch(/^12\./);
      expect(existsSync(join(root, 'bin/run-parts'))).toBe(true);
      expect(existsSync(join(root, 'bin/hostname'))).toBe(true);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('loads bookworm-security from its own mirror', async () => {
    const c = new ArchiveClient(
      { http, blobs, paths, logger: silentLogger },
      { ...source, suites: [], security: { mirror: 'http://deb.debian.org/debian-security', suite: 'bookworm-security' } },
    );
    const loaded = await c.loadIndices();
    expect(loaded.releases[0]?.mirror).toBe('http://deb.debian.org/debian-security/');
    expect(loaded.packagesText[0]?.mirror).toBe('http://deb.debian.org/debian-security/');
    expect(countStanzas(loaded.packagesText[0]?.text ?? '')).toBeGreaterThan(100);
  });
});

/** A tiny signed archive on a local server, signed by a key made here (user keyring). */
describe('local archive: failure paths', () => {
  let server: TestHttpServer;
  let work = '';
  let keyFile = '';
  let sign2: (text: string) => Promise<string>;
  let debSha = '';
  let debSize = 0;
  let packages = '';
  const http = new HttpClient({ logger: silentLogger, retries: 0 });

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'cake-archive-'));
    const { privateKey, publicKey } = await generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name: 'test archive' }], format: 'object' });
    keyFile = join(work, 'archive.asc');
    writeFileSync(keyFile, publicKey.armor());
    sign2 = async (text) => sign({ message: await createCleartextMessage({ text }), signingKeys: privateKey });
    const pkg = join(work, 'pkg');
    mkdirSync(join(pkg, 'DEBIAN'), { recursive: true });
    writeFileSync(join(pkg, 'DEBIAN/control'), 'Package: tiny\nVersion: 1.0\nArchitecture: amd64\nMaintainer: t <t@e.org>\nDescription: t\n');
    mkdirSync(join(pkg, 'usr/share/tiny'), { recursive: true });
    writeFileSync(join(pkg, 'usr/share/tiny/README'), 'tiny\n');
    execFileSync('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', pkg, join(work, 'tiny.deb')], { stdio: 'pipe' });
    const deb = readFileSync(join(work, 'tiny.deb'));
    debSha = createHash('sha256').update(deb).digest('hex');
    debSize = deb.length;
    packages = `Package: tiny\nVersion: 1.0\nArchitecture: amd64\nFilename: pool/main/t/tiny/tiny_1.0_amd64.deb\nSize: ${debSize}\nSHA256: ${debSha}\n\n`;
    server = await TestHttpServer.start();
    server.file('/debian/pool/main/t/tiny/tiny_1.0_amd64.deb', deb);
  });

  afterAll(async () => {
    await server.close();
    await http.close();
    rmSync(work, { recursive: true, force: true });
  });

  const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

  /** Publishes suite `suite` with the given Packages text; returns the InRelease served. */
  async function publish(suite: string, text: string, opts: { byHash?: boolean; validUntil?: string; ageMs?: number } = {}): Promise<string> {
    writeFileSync(join(work, 'Packages'), text);
    execFileSync('xz', ['-kf', join(work, 'Packages')]);
    const xz = readFileSync(join(work, 'Packages.xz'));
    const dir = `/debian/dists/${suite}/main/binary-amd64`;
    if (opts.byHash) server.file(`${dir}/by-hash/SHA256/${sha(xz)}`, xz);
    server.file(`${dir}/Packages.xz`, xz);
    const release =
      `Origin: Test\nSuite: ${suite}\nCodename: ${suite}\nDate: ${new Date(Date.now() - (opts.ageMs ?? 3600_000)).toUTCString()}\n` +
      (opts.validUntil ? `Valid-Until: ${opts.validUntil}\n` : '') +
      `Acquire-By-Hash: ${opts.byHash ? 'yes' : 'no'}\nArchitectures: amd64\nComponents: main\nSHA256:\n` +
      ` ${sha(text)} ${Buffer.byteLength(text)} main/binary-amd64/Packages\n ${sha(xz)} ${xz.length} main/binary-amd64/Packages.xz\n`;
    const signed = await sign2(release);
    server.file(`/debian/dists/${suite}/InRelease`, signed);
    return signed;
  }

  function localClient(home: string, suites: string[], now = new Date(), logger = silentLogger, extra: Partial<ArchiveSource> = {}): ArchiveClient {
    const { paths, blobs } = store(home);
    return new ArchiveClient(
      { http, blobs, paths, logger, now: () => now },
      { mirror: server.url('/debian'), suites, components: ['main'], arch: 'amd64', keyring: { file: keyFile }, ...extra },
    );
  }

  it('loads, pins, goes offline and fetches a .deb by hash', async () => {
    const home = join(work, 'home1');
    await publish('s1', packages, { byHash: true });
    const c = localClient(home, ['s1']);
    const loaded = await c.loadIndices();
    expect(loaded.packagesText[0]?.text).toBe(packages);
    expect(server.requests.some((r) => r.path.includes('/by-hash/SHA256/'))).toBe(true);
    const index = toPackageIndex(loaded);
    const rec = index.candidate('tiny', 'amd64');
    expect(rec?.origin).toBe(server.url('/debian/'));
    const debs = await c.fetchDebs([rec!]);
    expect((await openDeb(debs.get(debSha) as string)).control['package']).toBe('tiny');
    // The archive moves on: a pin to the old InRelease still loads it from the store.
    const pin = loaded.releases[0]!.inReleaseSha256;
    await publish('s1', `${packages}Package: other\nVersion: 2\nArchitecture: amd64\nFilename: pool/x.deb\nSize: 1\nSHA256: ${'0'.repeat(64)}\n\n`, { byHash: true });
    const before = server.requests.length;
    const pinned = await localClient(home, ['s1']).loadIndices({ pinnedInRelease: { s1: pin } });
    expect(server.requests.length).toBe(before);
    expect(pinned.packagesText[0]?.text).toBe(packages);
    // A pin in another store (not there yet) is fetched and must match.
    const err = await caught(localClient(join(work, 'home1b'), ['s1']).loadIndices({ pinnedInRelease: { s1: pin } }));
    expect(err.code).toBe('digest-mismatch');
    const offline = await localClient(home, ['s1']).loadIndices({ offline: true });
    expect(offline.releases[0]?.inReleaseSha256).toBe(loaded.releases[0]?.inReleaseSha256);
    expect((await caught(localClient(join(work, 'empty'), ['s1']).loadIndices({ offline: true }))).code).toBe('not-found');
  });

  it('rebuilds a pin from a snapshot archive (same layout) when the mirror moved on', async () => {
    const old = await publish('s5', packages);
    const home = join(work, 'home5');
    const first = await localClient(home, ['s5']).loadIndices();
    const pin = first.releases[0]!.inReleaseSha256;
    const pulledAt = '2026-11-30T00:00:00.000Z';
    const roots = snapshotRoots(server.url(''), server.url('/debian'), { file: keyFile }, pulledAt);
    expect(roots[0]).toBe(server.url('/archive/debian/20261130T000000Z/'));
    expect(roots[1]).toBe(server.url('/archive/debian/20261130T060000Z/'));
    expect(snapshotRoots('http://snapshot.debian.org', 'http://deb.debian.org/debian-security/', 'debian', pulledAt)[0]).toBe('http://snapshot.debian.org/archive/debian-security/20261130T000000Z/');
    expect(snapshotRoots(defaultSnapshotBase('ubuntu'), 'http://archive.ubuntu.com/ubuntu', 'ubuntu', pulledAt)[0]).toBe('https://snapshot.ubuntu.com/ubuntu/20261130T000000Z/');
    // the snapshot imported the state the pull saw only in its next run (6 h later): the first root is a 404
    const snap = '/archive/debian/20261130T060000Z';
    writeFileSync(join(work, 'Packages'), packages);
    execFileSync('xz', ['-kf', join(work, 'Packages')]);
    server.file(`${snap}/dists/s5/InRelease`, old);
    server.file(`${snap}/dists/s5/main/binary-amd64/Packages.xz`, readFileSync(join(work, 'Packages.xz')));
    server.file(`${snap}/pool/main/t/tiny/tiny_1.0_amd64.deb`, readFileSync(join(work, 'tiny.deb')));
    // the mirror moves on, and no longer has the old .deb
    await publish('s5', `${packages}Package: newer\nVersion: 2\nArchitecture: amd64\nFilename: pool/n.deb\nSize: 1\nSHA256: ${'1'.repeat(64)}\n\n`);
    server.handle('/debian/pool/main/t/tiny/tiny_1.0_amd64.deb', (_req, res) => void res.writeHead(404, { 'content-length': '0' }).end());
    const lines: string[] = [];
    const logger = { ...silentLogger, info: (m: string) => lines.push(m) };
    const fresh = localClient(join(work, 'home5b'), ['s5'], new Date(), logger);
    const loaded = await fresh.loadIndices({ pinnedInRelease: { s5: pin }, alternates: (m) => snapshotRoots(server.url(''), m, { file: keyFile }, pulledAt) });
    expect(loaded.packagesText[0]?.text).toBe(packages);
    expect(lines.join('\n')).toContain('moved on since it was pinned');
    const rec = toPackageIndex(loaded).candidate('tiny', 'amd64')!;
    expect(rec.origin).toBe(server.url('/debian/')); // sources.list and env.json keep naming the mirror
    const debs = await fresh.fetchDebs([rec]);
    expect(readFileSync(debs.get(debSha)!).equals(readFileSync(join(work, 'tiny.deb')))).toBe(true);
    expect(server.requestsTo(`${snap}/pool/main/t/tiny/tiny_1.0_amd64.deb`).length).toBe(1);
    expect(server.requestsTo('/archive/debian/20261130T000000Z/dists/s5/InRelease').length).toBe(1);
    // nowhere to be found: one error naming every place tried
    const lost = await caught(localClient(join(work, 'home5c'), ['s5']).loadIndices({ pinnedInRelease: { s5: '2'.repeat(64) }, alternates: (m) => snapshotRoots(server.url(''), m, { file: keyFile }, pulledAt) }));
    expect(lost.code).toBe('digest-mismatch');
    expect(lost.message).toContain('is not on the mirror or any snapshot tried');
    expect(lost.hint).toContain('/archive/debian/20261202T000000Z/');
    server.file('/debian/pool/main/t/tiny/tiny_1.0_amd64.deb', readFileSync(join(work, 'tiny.deb'))); // for the tests after this one
  });

  it('falls back to the plain path when by-hash is missing', async () => {
    const signed = await publish('s2', packages, { byHash: false });
    // Claim Acquire-By-Hash without serving by-hash files.
    const text = signed.match(/\n\n([\s\S]*?)\n-----BEGIN PGP SIGNATURE/)?.[1] ?? '';
    server.file('/debian/dists/s2/InRelease', await sign2(`${text.replace('Acquire-By-Hash: no', 'Acquire-By-Hash: yes')}\n`));
    const loaded = await localClient(join(work, 'home2'), ['s2']).loadIndices();
    expect(loaded.packagesText[0]?.text).toBe(packages);
  });

  it('rejects a tampered InRelease, a wrong suite, an expired Release and a tampered index', async () => {
    const signed = await publish('s3', packages);
    server.file('/debian/dists/s3/InRelease', signed.replace('Origin: Test', 'Origin: Tost'));
    const tampered = await caught(localClient(join(work, 'home3'), ['s3']).loadIndices());
    expect(tampered.code).toBe('signature');
    expect(tampered.message).toContain(`InRelease of s3 at ${server.url('/debian/')}: no valid signature from the keyring ${keyFile}`);

    server.file('/debian/dists/s5/InRelease', await sign2('Origin: Test\nSuite: s4\nCodename: s4\nSHA256:\n'));
    expect((await caught(localClient(join(work, 'home4'), ['s5']).loadIndices())).message).toContain("not 's5'");

    const validUntil = new Date(Date.now() + 86400_000).toUTCString();
    const s6 = await publish('s6', packages, { validUntil });
    const expired = await caught(localClient(join(work, 'home5'), ['s6'], new Date(Date.now() + 2 * 86400_000)).loadIndices());
    expect(expired.message).toContain('expired');
    expect(expired.code).toBe('signature');
    // --allow-expired (checkValidUntil: false): loaded, with one warning naming the date
    const warned: string[] = [];
    const noting = { ...silentLogger, warn: (m: string) => warned.push(m) };
    const frozen = localClient(join(work, 'home5'), ['s6'], new Date(Date.now() + 2 * 86400_000), noting, { checkValidUntil: false });
    expect((await frozen.loadIndices()).packagesText[0]?.text).toBe(packages);
    expect(warned).toEqual([
      `InRelease of s6 at ${server.url('/debian/')} expired on ${new Date(validUntil).toISOString()} (Valid-Until); using it anyway (--allow-expired: signatures are still verified)`,
    ]);
    // ... but the signature is still verified: an expired, tampered InRelease is refused with the flag too
    server.file('/debian/dists/s6/InRelease', s6.replace('Origin: Test', 'Origin: Tost'));
    const tamperedExpired = await caught(localClient(join(work, 'home5b'), ['s6'], new Date(Date.now() + 2 * 86400_000), noting, { checkValidUntil: false }).loadIndices());
    expect(tamperedExpired.code).toBe('signature');
    expect(tamperedExpired.message).toContain('no valid signature');

    await publish('s7', packages);
    const xz = readFileSync(join(work, 'Packages.xz'));
    const bad = Buffer.from(xz);
    bad[bad.length - 10] = (bad[bad.length - 10] ?? 0) ^ 1;
    server.file('/debian/dists/s7/main/binary-amd64/Packages.xz', bad);
    expect((await caught(localClient(join(work, 'home6'), ['s7']).loadIndices())).code).toBe('digest-mismatch');
  });

  it('warns when a mirror serves an older InRelease than the one seen before, keeping the newer as the offline copy', async () => {
    const home = join(work, 'home8');
    const newer = await publish('s9', packages, { ageMs: 3600_000 });
    await localClient(home, ['s9']).loadIndices();
    await publish('s9', packages, { ageMs: 7200_000 });
    const warnings: string[] = [];
    const logger = { ...silentLogger, warn: (m: string) => warnings.push(m) };
    await localClient(home, ['s9'], new Date(), logger).loadIndices();
    expect(warnings.join('\n')).toContain('older than the one seen before');
    const offline = await localClient(home, ['s9']).loadIndices({ offline: true });
    expect(offline.releases[0]?.inReleaseSha256).toBe(sha(newer));
  });

  it('rejects a .deb whose hash does not match and unsafe Filenames', async () => {
    await publish('s8', packages);
    const c = localClient(join(work, 'home7'), ['s8']);
    const req = { name: 'tiny', filename: 'pool/main/t/tiny/tiny_1.0_amd64.deb', sha256: 'f'.repeat(64), size: debSize };
    expect((await caught(c.fetchDebs([req]))).code).toBe('digest-mismatch');
    expect((await caught(c.fetchDebs([{ ...req, filename: '../etc/passwd' }]))).code).toBe('bad-archive');
    expect((await caught(c.fetchDebs([{ ...req, filename: 'http://evil/x.deb' }]))).code).toBe('bad-archive');
  });
});
