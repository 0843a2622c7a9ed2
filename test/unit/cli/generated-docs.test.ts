import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generatedFiles } from '../../../src/cli/gen-docs.js';
import { COMMANDS } from '../../../src/cli/command-table.js';
import { readVersion, PACKAGE_ROOT } from '../../../src/cli/context.js';

describe('generated man page and completions', () => {
  const files = generatedFiles(readVersion());

  for (const [rel, text] of Object.entries(files)) {
    it(`${rel} is up to date with the command table (run \`npm run gen\` when this fails)`, () => {
      expect(readFileSync(join(PACKAGE_ROOT, rel), 'utf8')).toBe(text);
    });
  }

  it('mention every command and every long option', () => {
    for (const c of COMMANDS) {
      expect(files['man/cake.1']).toContain(`cake ${c.name}`);
      // a case pattern per command, with its aliases: `enter|login|shell)`
      expect(files['completions/cake.bash']).toMatch(new RegExp(`^    ${c.name}[|)]`, 'm'));
      for (const o of c.options) {
        const flag = /--[a-z0-9-]+/.exec(o.flags)![0];
        expect(files['completions/cake.fish']).toContain(`-l ${flag.slice(2)}`);
        expect(files['completions/_cake']).toContain(flag);
      }
    }
  });

  it('the bash completion is valid bash', async () => {
    const { execFileSync } = await import('node:child_process');
    expect(() => execFileSync('bash', ['-n', join(PACKAGE_ROOT, 'completions/cake.bash')])).not.toThrow();
  });
});
