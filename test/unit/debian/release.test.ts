import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createCleartextMessage, generateKey, sign } from 'openpgp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyInRelease } from '../../../src/debian/inrelease-verify.js';
import { defaultKeyringDir, keyringLabel, loadKeyring } from '../../../src/debian/keyrings.js';
import {
  checkFreshness,
  checkSuite,
  indexEntry,
  indexFetchPath,
  parseRelease,
  parseReleaseDate,
} from '../../../src/debian/release.js';
import { cakeRejection } from '../../helpers/expect-error.js';

// Real, unmodified InRelease files of deb.debian.org (bookworm 12.15 and bookworm-security).
const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));
const BOOKWORM = readFileSync(join(FIXTURES, 'bookworm-InRelease'), 'utf8');
const SECURITY = readFileSync(join(FIXTURES, 'bookworm-security-InRelease'), 'utf8');
const MIRROR = 'http://deb.debian.org/debian/';
// Judge key validity when the fixture was signed, so the test does not age.
const SIGNED_AT = new Date('2026-07-11T10:20:00Z');

const caught = cakeRejection;

describe('keyrings', () => {
  it('loads the shipped debian and ubuntu keyrings', async () => {
    const debian = await loadKeyring('debian');
    const ubuntu = await loadKeyring('ubuntu', defaultKeyringDir());
    expect(debian.length).toBe(9);
    expect(ubuntu.length).toBeGreaterThanOrEqual(2);
    expect(keyringLabel('debian')).toBe('the debian archive keyring');
  });

  it('fails clearly on a missing or non-keyring file', async () => {
    expect((await caught(loadKeyring({ file: '/nonexistent/k.gpg' }))).code).toBe('signature');
    const dir = mkdtempSync(join(tmpdir(), 'cake-kr-'));
    try {
      writeFileSync(join(dir, 'junk.gpg'), 'not a key');
      expect((await caught(loadKeyring({ file: join(dir, 'junk.gpg') }))).message).toContain('not an OpenPGP keyring');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('verifyInRelease', () => {
  const ctx = { suite: 'bookworm', mirror: MIRROR, keyringLabel: 'the debian archive keyring', date: SIGNED_AT };

  it('accepts the real bookworm InRelease and returns only the signed text', async () => {
    const keys = await loadKeyring('debian');
    const t0 = performance.now();
    const v = await verifyInRelease(BOOKWORM, keys, ctx);
    const ms = performance.now() - t0;
    console.log(`verify bookworm InRelease (${BOOKWORM.length} bytes, 3 signatures): ${ms.toFixed(1)} ms`);
    expect(v.signers.length).toBeGreaterThanOrEqual(1);
    expect(v.text.startsWith('Origin: Debian\n')).toBe(true);
    expect(v.text).not.toContain('PGP');
    expect(parseRelease(v.text, 'x').codename).toBe('bookworm');
  });

  it('accepts when any one signature verifies (EdDSA only, RSA only)', async () => {
    const keys = await loadKeyring('debian');
    const ed = keys.filter((k) => k.getAlgorithmInfo().algorithm.startsWith('ed') || k.getAlgorithmInfo().algorithm === 'eddsaLegacy');
    const rsa = keys.filter((k) => k.getAlgorithmInfo().algorithm.startsWith('rsa'));
    expect(ed.length).toBeGreaterThan(0);
    expect((await verifyInRelease(BOOKWORM, ed, ctx)).signers.length).toBe(1);
    expect((await verifyInRelease(BOOKWORM, rsa, ctx)).signers.length).toBe(2);
    const sec = await verifyInRelease(SECURITY, rsa, { ...ctx, suite: 'bookworm-security', date: new Date('2026-11-21T01:00:00Z') });
    expect(sec.signers.length).toBeGreaterThanOrEqual(1);
  });

  it('rejects a copy with one byte changed in the signed body', async () => {
    const keys = await loadKeyring('debian');
    const at = BOOKWORM.indexOf('main/binary-amd64/Packages.xz') - 20;
    const flipped = BOOKWORM[at] === 'a' ? 'b' : 'a';
    const tampered = BOOKWORM.slice(0, at) + flipped + BOOKWORM.slice(at + 1);
    const err = await caught(verifyInRelease(tampered, keys, ctx));
    expect(err.code).toBe('signature');
    expect(err.message).toContain(`InRelease of bookworm at ${MIRROR}: no valid signature from the debian archive keyring`);
    expect(err.hint).toBeTruthy();
  });

  it('rejects the real file against the wrong (ubuntu) keyring', async () => {
    const keys = await loadKeyring('ubuntu');
    const err = await caught(verifyInRelease(BOOKWORM, keys, { ...ctx, keyringLabel: keyringLabel('ubuntu') }));
    expect(err.code).toBe('signature');
    expect(err.message).toContain('no valid signature from the ubuntu archive keyring');
  });

  it('rejects text outside the signed block, a missing signature and garbage', async () => {
    const keys = await loadKeyring('debian');
    for (const text of [
      `Origin: Evil\n${BOOKWORM}`,
      `${BOOKWORM}\nSHA256:\n x\n`,
      `${BOOKWORM}${BOOKWORM}`,
      BOOKWORM.slice(0, BOOKWORM.indexOf('-----BEGIN PGP SIGNATURE-----')),
      'Origin: Debian\n',
    ]) {
      expect((await caught(verifyInRelease(text, keys, ctx))).code).toBe('signature');
    }
  });

  it('rejects a file signed by a key outside the keyring; accepts it with that key as user keyring', async () => {
    const { privateKey, publicKey } = await generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name: 'evil' }], format: 'object' });
    const signed = await sign({ message: await createCleartextMessage({ text: 'Origin: Evil\nSuite: bookworm\n' }), signingKeys: privateKey });
    const keys = await loadKeyring('debian');
    expect((await caught(verifyInRelease(signed, keys, { ...ctx, date: new Date() }))).code).toBe('signature');
    const dir = mkdtempSync(join(tmpdir(), 'cake-kr-'));
    try {
      writeFileSync(join(dir, 'mine.asc'), publicKey.armor());
      const mine = await loadKeyring({ file: join(dir, 'mine.asc') });
      const v = await verifyInRelease(signed, mine, { ...ctx, date: new Date() });
      expect(v.text).toBe('Origin: Evil\nSuite: bookworm\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('parseRelease', () => {
  let text = '';
  let sec = '';
  beforeAll(async () => {
    const keys = await loadKeyring('debian');
    text = (await verifyInRelease(BOOKWORM, keys, { suite: 'bookworm', mirror: MIRROR, keyringLabel: 'k', date: SIGNED_AT })).text;
    sec = (await verifyInRelease(SECURITY, keys, { suite: 'bookworm-security', mirror: MIRROR, keyringLabel: 'k', date: new Date('2026-11-21T01:00:00Z') })).text;
  });
  afterAll(() => {});

  it('reads the identity, layout and SHA256 list', () => {
    const r = parseRelease(text, 'InRelease of bookworm');
    expect(r.origin).toBe('Debian');
    expect(r.codename).toBe('bookworm');
    expect(r.suite).toBe('oldstable');
    expect(r.date?.toISOString()).toBe('2026-07-11T10:16:37.000Z');
    expect(r.validUntil).toBeUndefined();
    expect(r.acquireByHash).toBe(true);
    expect(r.architectures).toContain('amd64');
    expect(r.components).toEqual(['main', 'contrib', 'non-free-firmware', 'non-free']);
    expect(r.files.size).toBeGreaterThan(500);
    expect(r.files.get('main/binary-amd64/Packages')).toEqual({
      sha256: '515e692f2c4121c6fcec444ef100cc18f79a991910615f3a88c8b7becfc94d2f',
      size: 50060337,
      path: 'main/binary-amd64/Packages',
    });
  });

  it('picks the best compression and the by-hash path', () => {
    const r = parseRelease(text, 'x');
    const e = indexEntry(r, 'main/binary-amd64/Packages');
    expect(e).toMatchObject({ compression: 'xz', size: 8790396, path: 'main/binary-amd64/Packages.xz' });
    expect(indexEntry(r, 'main/binary-amd64/Packages', ['gzip'])?.path).toBe('main/binary-amd64/Packages.gz');
    expect(indexEntry(r, 'main/binary-nope/Packages')).toBeUndefined();
    expect(indexFetchPath(r, e!)).toBe(
      'main/binary-amd64/by-hash/SHA256/9e0b5aabb2465b3d2e7a7fe27f9913846277833f7a2826e7767acccff5b588c5',
    );
    expect(indexFetchPath({ ...r, acquireByHash: false }, e!)).toBe('main/binary-amd64/Packages.xz');
    const plainOnly = parseRelease('Suite: s\nSHA256:\n ' + 'a'.repeat(64) + ' 3 main/binary-amd64/Packages\n', 'x');
    expect(indexEntry(plainOnly, 'main/binary-amd64/Packages')?.compression).toBe('none');
  });

  it('checks Valid-Until against now, except for snapshots', async () => {
    const r = parseRelease(sec, 'InRelease of bookworm-security');
    expect(r.validUntil?.toISOString()).toBe('2026-11-28T00:53:02.000Z');
    checkFreshness(r, new Date('2026-11-22T00:00:00Z'), 'x');
    const err = await caught(() => checkFreshness(r, new Date('2026-12-01T00:00:00Z'), 'InRelease of bookworm-security'));
    expect(err.code).toBe('signature');
    expect(err.message).toContain('expired');
    expect(err.hint).toContain('snapshot');
    checkFreshness(r, new Date('2027-01-01T00:00:00Z'), 'x', { snapshot: true });
    checkFreshness(r, new Date('2027-01-01T00:00:00Z'), 'x', { validUntil: false });
    expect((await caught(() => checkFreshness(r, new Date('2026-01-01T00:00:00Z'), 'x'))).message).toContain('in the future');
  });

  it('checks that the Release is the suite asked for', async () => {
    const r = parseRelease(text, 'x');
    checkSuite(r, 'bookworm', 'x');
    checkSuite(r, 'oldstable', 'x');
    expect((await caught(() => checkSuite(r, 'trixie', 'InRelease of trixie'))).code).toBe('signature');
  });

  it('rejects malformed Release files', async () => {
    expect((await caught(() => parseRelease('Suite: x\n', 'r'))).message).toContain('no SHA256');
    expect((await caught(() => parseRelease('Suite: x\nSHA256:\n zz 1 p\n', 'r'))).message).toContain('malformed SHA256 line');
    expect((await caught(() => parseRelease('Suite: x\n\nSuite: y\n', 'r'))).message).toContain('one Release stanza');
    expect((await caught(() => parseReleaseDate('yesterday', 'Date', 'r'))).code).toBe('bad-archive');
    expect(parseReleaseDate('Sat, 21 Nov 2026 00:53:02 +0000', 'Date', 'r').toISOString()).toBe('2026-11-21T00:53:02.000Z');
  });
});
