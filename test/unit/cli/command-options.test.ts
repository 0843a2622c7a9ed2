/**
 * Handlers receive their command's options typed from the command table (src/cli/command-types.ts);
 * the type checks here run in `tsc -p tsconfig.test.json`, the loader checks at run time.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { COMMANDS, LOADERS } from '../../../src/cli/command-table.js';
import type { CommandOptions } from '../../../src/cli/command-types.js';

describe('the command table', () => {
  it('types each command\'s options from its flags: strings, repeatable lists, choices, switches, --no-*', () => {
    expectTypeOf<CommandOptions<'bake'>['output']>().toEqualTypeOf<string | undefined>();
    expectTypeOf<CommandOptions<'bake'>['sshKey']>().toEqualTypeOf<string | undefined>();
    expectTypeOf<CommandOptions<'bake'>['format']>().toEqualTypeOf<'raw' | 'qcow2' | undefined>();
    expectTypeOf<CommandOptions<'pull'>['packages']>().toEqualTypeOf<string[] | undefined>();
    expectTypeOf<CommandOptions<'pull'>['allowExpired']>().toEqualTypeOf<boolean | undefined>();
    expectTypeOf<CommandOptions<'cook'>['cache']>().toEqualTypeOf<boolean | undefined>();
    expectTypeOf<CommandOptions<'exec'>['engine']>().toEqualTypeOf<'auto' | 'userns' | 'proot' | undefined>();
    expectTypeOf<CommandOptions<'list'>>().not.toHaveProperty('output');
  });

  it('has a lazily loaded handler for every command but help', async () => {
    expect(Object.keys(LOADERS).sort()).toEqual(COMMANDS.map((c) => c.name).filter((n) => n !== 'help').sort());
    for (const load of Object.values(LOADERS)) expect(typeof (await load())).toBe('function');
  });
});
