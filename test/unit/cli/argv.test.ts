import { describe, expect, it } from 'vitest';
import { closest, splitArgv } from '../../../src/cli/argv.js';
import { parseEnvFile, loginShellArgv } from '../../../src/cli/commands/run.js';
import { parseBind } from '../../../src/model/run-options.js';

const split = (...words: string[]) => splitArgv(['node', 'cake', ...words]);

describe('the argv pre-pass', () => {
  it('cuts the guest command of exec after NAME, docker-style', () => {
    expect(split('exec', 'debian', 'sh', '-c', 'echo hi')).toMatchObject({ argv: ['node', 'cake', 'exec', 'debian'], guestCmd: ['sh', '-c', 'echo hi'] });
    expect(split('exec', 'd2', 'echo', '--help').guestCmd).toEqual(['echo', '--help']);
    expect(split('exec', '-e', 'A=1', 'web', '-w', '/src', 'make', '-j2')).toMatchObject({ argv: ['node', 'cake', 'exec', '--env', 'A=1', 'web', '--cwd', '/src'], guestCmd: ['make', '-j2'] });
    expect(split('exec', 'web', '--', '-weird')).toMatchObject({ argv: ['node', 'cake', 'exec', 'web'], guestCmd: ['-weird'] });
    expect(split('exec', 'web').guestCmd).toBeUndefined();
    expect(split('-v', 'exec', 'web', 'ls').argv).toEqual(['node', 'cake', '-v', 'exec', 'web']);
  });

  it('rewrites option aliases and attached short values, and restores the escaped --env-file', () => {
    expect(split('exec', '-v', '/a:/b', '--volume=/c:/d', '--workdir', '/x', '--work-dir=/y', '-eK=V', 'web').argv).toEqual(['node', 'cake', 'exec', '--bind', '/a:/b', '--bind=/c:/d', '--cwd', '/x', '--cwd=/y', '--env', 'K=V', 'web']);
    expect(split('exec', '%cake%--env-file', 'f', 'web', 'cmd', '%cake%--env-file=g')).toMatchObject({ argv: ['node', 'cake', 'exec', '--env-file', 'f', 'web'], guestCmd: ['cmd', '--env-file=g'] });
  });

  it('enter: -- CMD, and no NAME at all', () => {
    expect(split('enter', 'debian', '--', 'echo', 'hi')).toMatchObject({ argv: ['node', 'cake', 'enter', 'debian'], guestCmd: ['echo', 'hi'] });
    expect(split('enter', '--', 'echo')).toMatchObject({ argv: ['node', 'cake', 'enter'], guestCmd: ['echo'] });
  });

  it('aliases become the command; peers\' other verbs are usage errors pointing to cake\'s', () => {
    expect(split('images').argv).toEqual(['node', 'cake', 'list']);
    expect(split('remove', 'x').argv).toEqual(['node', 'cake', 'rm', 'x']);
    expect(split('login', 'x').argv).toEqual(['node', 'cake', 'enter', 'x']);
    expect(() => split('install', 'x')).toThrow(/cake has no command 'install'/);
    expect(() => split('backup')).toThrow(expect.objectContaining({ hint: expect.stringContaining('cake export') }));
    expect(() => split('pul')).toThrow(expect.objectContaining({ hint: expect.stringContaining('cake pull') }));
    expect(() => split('zzzz')).toThrow(expect.objectContaining({ hint: 'see `cake help` for the list of commands' }));
  });

  it('suggests only a close, unambiguous candidate', () => {
    expect(closest('debain', ['debian', 'alpine'])).toBe('debian');
    expect(closest('remove', ['rename', 'rm'])).toBeUndefined();
    expect(closest('sh', ['push'])).toBeUndefined();
    expect(closest('bbb', ['bb', 'bb2'])).toBeUndefined();
    expect(closest('debain', ['debian', 'debian'])).toBe('debian');
  });
});

describe('run option parsing', () => {
  it('parses SRC:DST:ro and :rw', () => {
    expect(parseBind('/a:/b:ro')).toEqual({ src: '/a', dst: '/b', readonly: true });
    expect(parseBind('/a:/b:rw')).toEqual({ src: '/a', dst: '/b' });
    expect(() => parseBind('/a:b:ro')).toThrow(/absolute/);
    expect(() => parseBind('/a:ro')).toThrow(/absolute/);
  });

  it('reads env files like docker: comments, blanks, pass-through names', () => {
    expect(parseEnvFile('# c\nA=1\n\n  B=x=y\r\nC\nD\n', 'f', { C: 'host' })).toEqual([['A', '1'], ['B', 'x=y'], ['C', 'host']]);
    expect(() => parseEnvFile('=bad\n', 'f', {})).toThrow(/line 1/);
  });

  it('runs enter\'s -- CMD in a login shell', () => {
    expect(loginShellArgv(['echo hi; ls'])).toEqual(['/bin/sh', '-l', '-c', 'echo hi; ls']);
    expect(loginShellArgv(['echo', 'a b'])).toEqual(['/bin/sh', '-l', '-c', 'exec "$@"', 'sh', 'echo', 'a b']);
  });
});

describe('the fast path of exec and enter (no commander)', () => {
  it('parses canonical flags, repeatables and globals; leaves anything unusual to commander', async () => {
    const { parseFast } = await import('../../../src/cli/main.js');
    expect(parseFast(split('-v', 'exec', '-e', 'A=1', '--env=B=2', '--isolated', '--engine', 'proot', 'web', 'ls'))).toEqual({
      args: ['web'],
      opts: { env: ['A=1', 'B=2'], isolated: true, engine: 'proot' },
      globals: { verbose: true },
    });
    expect(parseFast(split('exec', '--env-file', 'f', '--rm', 'web'))).toMatchObject({ opts: { envFile: ['f'], rm: true } });
    expect(parseFast(split('enter'))).toEqual({ args: [], opts: {}, globals: {} });
    for (const bad of [['exec', '--engine', 'warp', 'web'], ['exec', '--bogus', 'web'], ['exec', '--help'], ['exec'], ['exec', 'web', '--cwd'], ['--version'], ['list']]) {
      expect(parseFast(split(...bad)), bad.join(' ')).toBeUndefined();
    }
  });
});
