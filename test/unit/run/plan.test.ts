import { describe, expect, it } from 'vitest';
import {
  buildGuestEnvironment,
  loaderVarNames,
  cwdCandidates,
  DEFAULT_PATH,
  guestArgv,
  kernelReleaseFor,
  planMounts,
  sortParentsFirst,
} from '../../../src/run/plan.js';

const root = { name: 'root', uid: 0, gid: 0, home: '/root', shell: '/bin/bash' };

describe('buildGuestEnvironment', () => {
  it('starts clean, then image env, then --env', () => {
    const env = buildGuestEnvironment({
      hostTerm: 'xterm-256color',
      user: root,
      imageEnv: ['PATH=/opt/bin:/usr/bin', 'LANG=de_DE.UTF-8', 'EMPTY=', 'bad'],
      extra: { LANG: 'C', FOO: 'x=y' },
    });
    expect(env).toEqual({
      PATH: '/opt/bin:/usr/bin',
      HOME: '/root',
      USER: 'root',
      LOGNAME: 'root',
      TERM: 'xterm-256color',
      LANG: 'C',
      EMPTY: '',
      FOO: 'x=y',
    });
  });
  it('drops loader variables of the image (LD_*, PROOT_*), keeps --env ones', () => {
    const imageEnv = ['LD_PRELOAD=/tmp/x.so', 'PROOT_LOADER=/tmp/l', 'LD_LIBRARY_PATH=/opt', 'OK=1'];
    expect(loaderVarNames(imageEnv)).toEqual(['LD_PRELOAD', 'PROOT_LOADER', 'LD_LIBRARY_PATH']);
    const env = buildGuestEnvironment({ hostTerm: undefined, user: root, imageEnv, extra: { LD_PRELOAD: '/mine.so' } });
    expect(env).toMatchObject({ OK: '1', LD_PRELOAD: '/mine.so' });
    expect(env.PROOT_LOADER).toBeUndefined();
    expect(env.LD_LIBRARY_PATH).toBeUndefined();
  });
  it('has defaults and no TERM when the host has none', () => {
    const env = buildGuestEnvironment({ hostTerm: undefined, user: { ...root, name: 'alice', home: '/home/alice' }, imageEnv: undefined, extra: {} });
    expect(env).toEqual({ PATH: DEFAULT_PATH, HOME: '/home/alice', USER: 'alice', LOGNAME: 'alice', LANG: 'C.UTF-8' });
  });
});

describe('cwdCandidates', () => {
  it('uses --cwd alone when given', () => {
    expect(cwdCandidates('/work/../src', '/app', '/root')).toEqual(['/src']);
  });
  it('falls back from WorkingDir to HOME to /', () => {
    expect(cwdCandidates(undefined, '/app', '/root')).toEqual(['/app', '/root', '/']);
    expect(cwdCandidates(undefined, undefined, '/')).toEqual(['/']);
  });
});

describe('guestArgv', () => {
  it('runs a login shell for an empty argv', () => {
    expect(guestArgv([], root)).toEqual(['/bin/bash', '-l']);
    expect(guestArgv(['ls', '-l'], root)).toEqual(['ls', '-l']);
  });
});

describe('planMounts', () => {
  const base = { fakeProc: [], user: [] };
  it('binds /tmp and HOME (the engines make /dev, /proc and /sys themselves)', () => {
    const m = planMounts({ ...base, isolated: false, hostHome: '/home/me' });
    expect(m.map((x) => `${x.src}:${x.dst}:${x.why}`)).toEqual(['/tmp:/tmp:tmp', '/home/me:/home/me:home']);
  });
  it('isolated drops /tmp and HOME', () => {
    expect(planMounts({ ...base, isolated: true, hostHome: '/home/me' }).map((x) => x.dst)).toEqual([]);
  });
  it('never binds a HOME of / or a relative one', () => {
    expect(planMounts({ ...base, isolated: false, hostHome: '/' }).map((x) => x.dst)).not.toContain('/');
    expect(planMounts({ ...base, isolated: false, hostHome: 'rel' }).length).toBe(1);
  });
  it('adds fake /proc and user binds, parents first', () => {
    const m = planMounts({
      isolated: false,
      hostHome: undefined,
      fakeProc: [{ src: '/cache/fake-proc/loadavg', dst: '/proc/loadavg' }],
      user: [
        { src: '/host/a/b', dst: '/mnt/a/b', kind: 'dir', why: 'user' },
        { src: '/host/a', dst: '/mnt/a', kind: 'dir', why: 'user' },
      ],
    });
    expect(m.map((x) => x.dst)).toEqual(['/tmp', '/proc/loadavg', '/mnt/a', '/mnt/a/b']);
    expect(m.find((x) => x.dst === '/proc/loadavg')).toMatchObject({ kind: 'file', why: 'fake-proc' });
  });
  it('sortParentsFirst is stable', () => {
    expect(sortParentsFirst([{ dst: '/b/c', n: 1 }, { dst: '/a', n: 2 }, { dst: '/b', n: 3 }, { dst: '/c', n: 4 }]).map((x) => x.n)).toEqual([2, 3, 4, 1]);
  });
});

describe('kernelReleaseFor', () => {
  it('keeps a new enough host release', () => {
    expect(kernelReleaseFor('6.18.44-fc-v669')).toBeUndefined();
    expect(kernelReleaseFor('6.1.0-18-amd64')).toBeUndefined();
    expect(kernelReleaseFor('7.0.1')).toBeUndefined();
  });
  it('reports 6.1.0 on old or odd hosts', () => {
    expect(kernelReleaseFor('5.15.0-91-generic')).toBe('6.1.0');
    expect(kernelReleaseFor('3.10.0-1160.el7.x86_64')).toBe('6.1.0');
    expect(kernelReleaseFor('garbage')).toBe('6.1.0');
  });
});
