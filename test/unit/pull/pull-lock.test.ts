import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { lockOf, readPullLock, writePullLock } from '../../../src/pull/pull-lock.js';
import type { EnvRecord } from '../../../src/store/env-record.js';
import { cakeError } from '../../helpers/expect-error.js';

const dir = mkdtempSync(join(tmpdir(), 'cake-lock-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const record: EnvRecord = {
  version: 1,
  name: 'b',
  created: '2026-12-02T06:00:00.000Z',
  source: { kind: 'distro', ref: 'debian:bookworm' },
  arch: 'x86_64',
  ownership: {},
  treeSha256: 'c'.repeat(64),
  resolved: {
    distro: 'debian',
    release: 'bookworm',
    archive: {
      suites: [{ mirror: 'http://deb.debian.org/debian/', suite: 'bookworm', inReleaseSha256: 'a'.repeat(64), date: '2026-07-11T10:16:37.000Z' }],
      components: ['main'],
      arch: 'amd64',
      keyring: 'debian',
      variant: 'minbase',
      packages: ['less'],
      recommends: false,
      sourceDateEpoch: 1783764997,
    },
    packages: [{ name: 'less', version: '590-2', arch: 'amd64', sha256: 'b'.repeat(64) }],
  },
};

const caught = cakeError;

describe('pull locks', () => {
  it('round-trips the lock of an archive env', () => {
    const lock = lockOf(record);
    expect(lock).toMatchObject({ version: 1, source: 'debian:bookworm', debianArch: 'amd64', pulledAt: record.created, sourceDateEpoch: 1783764997, treeSha256: 'c'.repeat(64) });
    const file = join(dir, 'b.lock');
    writePullLock(file, lock);
    expect(readPullLock(file)).toEqual(lock);
    expect(JSON.parse(readFileSync(file, 'utf8')).debs).toEqual([{ name: 'less', version: '590-2', arch: 'amd64', sha256: 'b'.repeat(64) }]);
  });

  it('refuses envs of other kinds and files that are not locks, naming the file', () => {
    const notArchive = caught(() => lockOf({ ...record, source: { kind: 'registry', ref: 'alpine' }, resolved: {} }));
    expect(notArchive.message).toContain('lock applies to Debian/Ubuntu archive builds');
    expect(notArchive).toMatchObject({ code: 'usage', exitCode: 2, options: ['lock'] });
    expect(caught(() => readPullLock(join(dir, 'none.lock'))).message).toBe(`lock file not found: ${join(dir, 'none.lock')}`);
    const bad = join(dir, 'bad.lock');
    writeFileSync(bad, '{');
    expect(caught(() => readPullLock(bad)).message).toMatch(/^.*bad\.lock: not JSON/);
    writeFileSync(bad, JSON.stringify({ ...lockOf(record), version: 2 }));
    expect(caught(() => readPullLock(bad)).message).toContain('not a cake pull lock (version must be 1)');
    writeFileSync(bad, JSON.stringify({ ...lockOf(record), debs: [{ name: 'x', version: '1', arch: 'amd64', sha256: 'nothex' }] }));
    expect(caught(() => readPullLock(bad)).message).toContain('(debs)');
  });
});
