/**
 * Domain code names a refused option as its request does (OptionError); the CLI words it as the
 * flag (src/cli/flag-of.ts flagOf). Every option the use cases name must be a real flag of its command.
 */
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../../src/cli/command-table.js';
import { flagOf } from '../../../src/cli/flag-of.js';
import { OptionError } from '../../../src/model/errors.js';

const flags = (command: string): string[] => COMMANDS.find((c) => c.name === command)!.options.map((o) => /--[a-z0-9-]+/.exec(o.flags)![0]);

describe('OptionError', () => {
  it('names request options in the domain message and flags in the CLI wording', () => {
    const e = new OptionError(['packages', 'variant', 'recommends'], '{packages}, {variant} and {recommends} apply to Debian/Ubuntu archive sources', 'drop {variant}');
    expect(e).toMatchObject({ code: 'usage', exitCode: 2, message: 'packages, variant and recommends apply to Debian/Ubuntu archive sources' });
    expect(e.worded(flagOf)).toBe('--packages, --variant and --recommends apply to Debian/Ubuntu archive sources');
    expect(e.wordedHint(flagOf)).toBe('drop --variant');
    expect(e.hint).toBe('drop variant');
    // only declared options are worded: a value that looks like one is left alone
    expect(new OptionError(['expectSha256'], '{expectSha256} {cwd} is wrong').worded(flagOf)).toBe('--expect-sha256 {cwd} is wrong');
  });

  it('words every option the use cases name as a flag of their command', () => {
    // src/pull/pull.ts and pull-lock.ts (cake pull), src/bake/kernel.ts (cake bake)
    for (const o of ['sha256', 'packages', 'variant', 'recommends', 'lock']) expect(flags('pull')).toContain(flagOf(o));
    expect(flags('bake')).toContain(flagOf('moduleDirs'));
    // src/run/ (cake enter, exec)
    for (const o of ['user', 'binds', 'cwd', 'engine']) expect(flags('exec')).toContain(flagOf(o));
  });
});
