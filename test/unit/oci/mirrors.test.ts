import { describe, expect, it } from 'vitest';
import { mirrorRepository, parseRegistryMirrors } from '../../../src/oci/mirrors.js';

describe('registry mirrors', () => {
  it('reads MIRROR (Docker Hub) and REGISTRY=MIRROR entries, in order, with prefixes and schemes', () => {
    expect(parseRegistryMirrors(['mirror.gcr.io', 'https://m2.example:5000/', 'quay.io=127.0.0.1:5001/quay/ns', 'index.docker.io=http://m3.lan', ' '])).toEqual({
      'docker.io': [
        { host: 'mirror.gcr.io', prefix: '', insecure: false },
        { host: 'm2.example:5000', prefix: '', insecure: false },
        { host: 'm3.lan', prefix: '', insecure: true },
      ],
      'quay.io': [{ host: '127.0.0.1:5001', prefix: 'quay/ns', insecure: false }],
    });
  });

  it.each(['https://', 'quay.io=', 'a b', 'ftp://x', '=mirror', 'host/UPPER', 'x=y=z'])('refuses %j with the forms', (entry) => {
    expect(() => parseRegistryMirrors([entry])).toThrow(/invalid registry mirror/);
  });

  it('puts the repository under the prefix', () => {
    expect(mirrorRepository({ host: 'h', prefix: 'dockerhub', insecure: false }, 'library/alpine')).toBe('dockerhub/library/alpine');
    expect(mirrorRepository({ host: 'h', prefix: '', insecure: false }, 'library/alpine')).toBe('library/alpine');
  });
});
