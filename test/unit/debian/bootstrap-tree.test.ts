import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  APT_ROOTLESS_FILE,
  buildDiversions,
  dpkgDatabaseFiles,
  finishTree,
  formatDiversions,
  prepareTree,
  removeDiversions,
  sourcesList,
  writeSourcesList,
} from '../../../src/debian/bootstrap-tree.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('dpkg database', () => {
  it('is the minimal database debootstrap and mmdebstrap start from', () => {
    const div = buildDiversions({ startStopDaemon: 'sbin/start-stop-daemon' });
    const { dirs: d, files } = dpkgDatabaseFiles('arm64', div);
    expect(d).toEqual(expect.arrayContaining(['var/lib/dpkg/info', 'var/lib/dpkg/updates', 'var/lib/dpkg/triggers', 'var/lib/dpkg/alternatives']));
    const byPath = Object.fromEntries(files.map((f) => [f.path, f.content]));
    expect(byPath['var/lib/dpkg/status']).toBe('');
    expect(byPath['var/lib/dpkg/available']).toBe('');
    expect(byPath['var/lib/dpkg/arch']).toBe('arm64\n');
    expect(byPath['var/lib/dpkg/cmethopt']).toBe('apt apt\n');
    expect(byPath['var/lib/dpkg/diversions']).toBe('/sbin/start-stop-daemon\n/sbin/start-stop-daemon.cake-real\n:\n');
  });

  it('removes only its own local diversions', () => {
    const ours = buildDiversions({ startStopDaemon: 'sbin/start-stop-daemon', ischroot: 'usr/bin/ischroot' });
    const dash = '/bin/sh\n/bin/sh.distrib\ndash\n';
    const text = formatDiversions(ours) + dash + '/usr/bin/ischroot\n/usr/bin/ischroot.other\n:\n';
    expect(removeDiversions(text, ours)).toBe(dash + '/usr/bin/ischroot\n/usr/bin/ischroot.other\n:\n');
    expect(removeDiversions('', ours)).toBe('');
  });
});

describe('sourcesList', () => {
  it('writes one deb line per suite, with signed-by when given', () => {
    const text = sourcesList(
      [
        { mirror: 'http://deb.debian.org/debian/', suite: 'bookworm' },
        { mirror: 'http://deb.debian.org/debian-security', suite: 'bookworm-security' },
      ],
      ['main', 'contrib'],
      '/usr/share/keyrings/debian-archive-keyring.gpg',
    );
    expect(text).toBe(
      'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main contrib\n' +
        'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security bookworm-security main contrib\n',
    );
    expect(sourcesList([{ mirror: 'http://m/ubuntu', suite: 'noble' }], ['main'])).toBe('deb http://m/ubuntu noble main\n');
  });
});

describe('writeSourcesList', () => {
  it('names the distribution keyring with signed-by only when the tree has it', () => {
    const root = mkdtempSync(join(tmpdir(), 'cake-tree-'));
    dirs.push(root);
    const src = [{ mirror: 'http://deb.debian.org/debian', suite: 'bookworm' }];
    expect(writeSourcesList(root, src, ['main'], 'debian')).toBeUndefined();
    expect(readFileSync(join(root, 'etc/apt/sources.list'), 'utf8')).toBe('deb http://deb.debian.org/debian bookworm main\n');
    mkdirSync(join(root, 'usr/share/keyrings'), { recursive: true });
    writeFileSync(join(root, 'usr/share/keyrings/debian-archive-keyring.gpg'), 'k');
    expect(writeSourcesList(root, src, ['main'], 'debian')).toBe('/usr/share/keyrings/debian-archive-keyring.gpg');
    expect(readFileSync(join(root, 'etc/apt/sources.list'), 'utf8')).toBe('deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main\n');
    expect(writeSourcesList(root, src, ['main'], undefined)).toBeUndefined();
  });
});

describe('prepareTree and finishTree', () => {
  it('puts stubs in place of diverted programs, then restores them', () => {
    const root = mkdtempSync(join(tmpdir(), 'cake-tree-'));
    dirs.push(root);
    mkdirSync(join(root, 'usr/sbin'), { recursive: true });
    mkdirSync(join(root, 'usr/bin'), { recursive: true });
    symlinkSync('usr/sbin', join(root, 'sbin'));
    writeFileSync(join(root, 'usr/sbin/start-stop-daemon'), 'REAL SSD');
    writeFileSync(join(root, 'usr/bin/ischroot'), 'REAL ISCHROOT');
    chmodSync(join(root, 'usr/bin/ischroot'), 0o755);
    const diversions = buildDiversions({ startStopDaemon: 'sbin/start-stop-daemon', ischroot: 'usr/bin/ischroot' });
    const opts = { debianArch: 'amd64', mergedDirs: ['bin', 'sbin', 'lib'], diversions };
    prepareTree(root, opts);
    expect(readFileSync(join(root, 'usr/sbin/start-stop-daemon'), 'utf8')).toMatch(/^#!\/bin\/sh\n.*fake start-stop-daemon/);
    expect(readFileSync(join(root, 'usr/sbin/start-stop-daemon.cake-real'), 'utf8')).toBe('REAL SSD');
    expect(readFileSync(join(root, 'usr/bin/ischroot'), 'utf8')).toContain('exit 0');
    expect(lstatSync(join(root, 'usr/sbin/policy-rc.d')).mode & 0o777).toBe(0o755);
    expect(readFileSync(join(root, 'usr/sbin/policy-rc.d'), 'utf8')).toContain('exit 101');
    expect(readFileSync(join(root, APT_ROOTLESS_FILE), 'utf8')).toContain('APT::Sandbox::User "root";');
    expect(readFileSync(join(root, 'etc/hosts'), 'utf8')).toContain('localhost');
    expect(readFileSync(join(root, 'var/lib/dpkg/status'), 'utf8')).toBe('');
    // dpkg adds its own diversions meanwhile
    writeFileSync(join(root, 'var/lib/dpkg/diversions'), readFileSync(join(root, 'var/lib/dpkg/diversions'), 'utf8') + '/bin/sh\n/bin/sh.distrib\ndash\n');
    finishTree(root, opts);
    expect(readFileSync(join(root, 'usr/sbin/start-stop-daemon'), 'utf8')).toBe('REAL SSD');
    expect(readFileSync(join(root, 'usr/bin/ischroot'), 'utf8')).toBe('REAL ISCHROOT');
    expect(lstatSync(join(root, 'usr/sbin/policy-rc.d'), { throwIfNoEntry: false })).toBeUndefined();
    expect(readFileSync(join(root, 'var/lib/dpkg/diversions'), 'utf8')).toBe('/bin/sh\n/bin/sh.distrib\ndash\n');
    finishTree(root, opts); // idempotent
    expect(readFileSync(join(root, 'usr/sbin/start-stop-daemon'), 'utf8')).toBe('REAL SSD');
  });

  it('keeps an /etc/hosts the packages brought', () => {
    const root = mkdtempSync(join(tmpdir(), 'cake-tree-'));
    dirs.push(root);
    mkdirSync(join(root, 'etc'));
    writeFileSync(join(root, 'etc/hosts'), 'mine\n');
    prepareTree(root, { debianArch: 'amd64', mergedDirs: [], diversions: [] });
    expect(readFileSync(join(root, 'etc/hosts'), 'utf8')).toBe('mine\n');
  });
});
