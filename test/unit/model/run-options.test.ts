import { describe, expect, it } from 'vitest';
import { CakeError } from '../../../src/model/errors.js';
import { normalizeGuestPath, parseBind, parseEngineName, parseEnvAssignment } from '../../../src/model/run-options.js';
import { cakeError } from '../../helpers/expect-error.js';

function usage(fn: () => unknown): CakeError {
  const err = cakeError(fn);
  expect(err.exitCode).toBe(2);
  return err;
}

describe('parseBind', () => {
  it('defaults DST to SRC', () => {
    expect(parseBind('/srv/data')).toEqual({ src: '/srv/data', dst: '/srv/data' });
    expect(parseBind('rel/dir')).toEqual({ src: 'rel/dir', dst: 'rel/dir' });
  });
  it('splits at the last colon and normalizes DST', () => {
    expect(parseBind('/a:/b')).toEqual({ src: '/a', dst: '/b' });
    expect(parseBind('/weird:name:/x//y/../z/')).toEqual({ src: '/weird:name', dst: '/x/z' });
  });
  it('rejects bad text with exit code 2', () => {
    usage(() => parseBind(''));
    usage(() => parseBind(':/x'));
    expect(usage(() => parseBind('/a:relative')).message).toMatch(/absolute/);
    usage(() => parseBind('/a:'));
  });
});

describe('parseEnvAssignment', () => {
  it('splits at the first =', () => {
    expect(parseEnvAssignment('K=V')).toEqual(['K', 'V']);
    expect(parseEnvAssignment('K=')).toEqual(['K', '']);
    expect(parseEnvAssignment('URL=a=b')).toEqual(['URL', 'a=b']);
  });
  it('rejects text without a name or =', () => {
    usage(() => parseEnvAssignment('K'));
    usage(() => parseEnvAssignment('=V'));
    usage(() => parseEnvAssignment('A B=1'));
  });
});

describe('parseEngineName', () => {
  it('accepts the three engines only', () => {
    expect(parseEngineName('auto')).toBe('auto');
    expect(parseEngineName('proot')).toBe('proot');
    usage(() => parseEngineName('docker'));
  });
});

describe('normalizeGuestPath', () => {
  it('never climbs above /', () => {
    expect(normalizeGuestPath('/../../etc/./passwd')).toBe('/etc/passwd');
    expect(normalizeGuestPath('/')).toBe('/');
    expect(normalizeGuestPath('//a//b/')).toBe('/a/b');
  });
});
