import { describe, expect, it } from 'vitest';
import { CakeError } from '../../../src/model/errors.js';
import { parseGroup, parsePasswd, resolveGuestUser } from '../../../src/run/guest-user.js';

const passwd = parsePasswd(
  [
    'root:x:0:0:root:/root:/bin/bash',
    '# comment',
    'broken line',
    'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
    'alice:x:1000:100:Alice:/home/alice:/bin/zsh',
    'bad:x:notanumber:1::/:/bin/sh',
  ].join('\n'),
);
const groups = parseGroup('root:x:0:\nusers:x:100:alice\nstaff:x:50:\n');

describe('parsePasswd/parseGroup', () => {
  it('keeps well-formed lines only', () => {
    expect(passwd.map((e) => e.name)).toEqual(['root', 'daemon', 'alice']);
    expect(groups.get('staff')).toBe(50);
  });
});

describe('resolveGuestUser', () => {
  it('defaults to root from passwd', () => {
    expect(resolveGuestUser(undefined, passwd, groups)).toEqual({ name: 'root', uid: 0, gid: 0, home: '/root', shell: '/bin/bash' });
  });
  it('knows root without a passwd', () => {
    expect(resolveGuestUser(undefined, [], new Map())).toEqual({ name: 'root', uid: 0, gid: 0, home: '/root', shell: '/bin/sh' });
  });
  it('resolves names, uids and groups', () => {
    expect(resolveGuestUser('alice', passwd, groups)).toMatchObject({ uid: 1000, gid: 100, home: '/home/alice', shell: '/bin/zsh' });
    expect(resolveGuestUser('1000', passwd, groups)).toMatchObject({ name: 'alice', gid: 100 });
    expect(resolveGuestUser('alice:staff', passwd, groups)).toMatchObject({ uid: 1000, gid: 50 });
    expect(resolveGuestUser('1000:7', passwd, groups)).toMatchObject({ uid: 1000, gid: 7 });
  });
  it('accepts unknown numeric uids like docker', () => {
    expect(resolveGuestUser('4242', passwd, groups)).toEqual({ name: '4242', uid: 4242, gid: 4242, home: '/', shell: '/bin/sh' });
  });
  it('replaces a no-login shell with /bin/sh', () => {
    expect(resolveGuestUser('daemon', passwd, groups).shell).toBe('/bin/sh');
  });
  it('rejects unknown names and groups (exit 2)', () => {
    for (const spec of ['mallory', 'alice:nogroup', ':1', '1:']) {
      expect(() => resolveGuestUser(spec, passwd, groups)).toThrow(CakeError);
    }
  });
});
