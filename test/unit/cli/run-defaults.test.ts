import { describe, expect, it } from 'vitest';
import { defaultCommand, defaultUser } from '../../../src/cli/commands/run.js';

describe('image config defaults for enter/exec', () => {
  it('uses the image User unless it is root', () => {
    expect(defaultUser({ config: { user: 'nginx' } })).toBe('nginx');
    expect(defaultUser({ config: { user: '1000:1000' } })).toBe('1000:1000');
    for (const u of ['', 'root', '0', '0:0', ' root ']) expect(defaultUser({ config: { user: u } })).toBeUndefined();
    expect(defaultUser({})).toBeUndefined();
  });

  it('runs Entrypoint then Cmd when exec is given no command', () => {
    expect(defaultCommand({ config: { entrypoint: ['/docker-entrypoint.sh'], cmd: ['nginx', '-g', 'daemon off;'] } })).toEqual(['/docker-entrypoint.sh', 'nginx', '-g', 'daemon off;']);
    expect(defaultCommand({ config: { cmd: ['/bin/sh'] } })).toEqual(['/bin/sh']);
    expect(defaultCommand({})).toEqual([]);
  });
});
