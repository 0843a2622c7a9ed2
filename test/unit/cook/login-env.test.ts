import { describe, expect, it } from 'vitest';
import { environmentFile, profileScript } from '../../../src/cook/login-env.js';
import { envHash, settingsOf } from '../../../src/store/tree-hash.js';

describe('variables for login shells', () => {
  it('exports every variable, quoted for sh', () => {
    expect(profileScript(['PATH=/nix/store/x-gawk/bin:/usr/bin:/bin', "MSG=it's", 'A=1', 'A=2'])).toBe(
      [
        "# Written by cake: the env's variables (recipe env: and path: steps, cake add --nix) for",
        '# login shells, whose /etc/profile resets PATH. Change the recipe rather than this file.',
        "export PATH='/nix/store/x-gawk/bin:/usr/bin:/bin'",
        "export MSG='it'\\''s'",
        "export A='2'",
        '',
      ].join('\n'),
    );
  });

  it('sets the variables in /etc/environment, keeping other lines and leaving out what pam_env cannot read', () => {
    expect(environmentFile('# comment\nPATH="/usr/bin"\nLANG=C\n', ['PATH=/opt/bin:/usr/bin', 'Q=say "hi"', 'X=1'])).toBe('# comment\nLANG=C\nPATH="/opt/bin:/usr/bin"\nX="1"\n');
    expect(environmentFile('', ['X=1'])).toBe('X="1"\n');
  });
});

describe('the hash of an env covers its settings', () => {
  const tree = 'ab'.repeat(32);
  it('is the tree hash without settings', () => {
    expect(envHash(tree, settingsOf({}, '/r'))).toBe(tree);
    expect(envHash(tree, settingsOf({ config: { env: [] }, run: { binds: [] } }, '/r'))).toBe(tree);
  });
  it('changes with variables and binds, not with where the recipe is checked out', () => {
    const a = envHash(tree, settingsOf({ config: { env: ['PATH=/a'] } }, '/r'));
    expect(a).not.toBe(tree);
    expect(envHash(tree, settingsOf({ config: { env: ['PATH=/b'] } }, '/r'))).not.toBe(a);
    const bind = (dir: string) => envHash(tree, settingsOf({ run: { binds: [{ src: `${dir}/data`, dst: '/data' }] } }, dir));
    expect(bind('/home/a/proj')).toBe(bind('/srv/b/checkout'));
    expect(bind('/home/a/proj')).not.toBe(tree);
    expect(envHash(tree, settingsOf({ run: { binds: [{ src: '/data', dst: '/data' }] } }, '/r'))).not.toBe(envHash(tree, settingsOf({ run: { binds: [{ src: '/data', dst: '/d2' }] } }, '/r')));
  });
});
