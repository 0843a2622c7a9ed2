import { afterEach, describe, expect, it } from 'vitest';
import { haveCommand, missing, missingCommands, skipUnless } from '../../helpers/tools.js';

// The one tools helper of the tests: a missing tool skips, or fails under CAKE_TEST_STRICT=1.
describe('test tools helper', () => {
  const saved = process.env.CAKE_TEST_STRICT;
  afterEach(() => {
    if (saved === undefined) delete process.env.CAKE_TEST_STRICT;
    else process.env.CAKE_TEST_STRICT = saved;
  });

  it('finds host commands and names the missing ones', () => {
    expect(haveCommand('sh')).toBe(true);
    expect(haveCommand('sh', 'cake-no-such-tool')).toBe(false);
    process.env.CAKE_TEST_STRICT = '1';
    expect(missingCommands('sh')).toBe(false);
    expect(() => missingCommands('sh', 'cake-no-such-tool')).toThrow(/^cake-no-such-tool is missing .*CAKE_TEST_STRICT=1/);
  });

  it('skips without CAKE_TEST_STRICT, fails with it', () => {
    delete process.env.CAKE_TEST_STRICT;
    expect(missing('a tool', true)).toBe(false);
    expect(missing('a tool', false)).toBe(true);
    const skipped: string[] = [];
    skipUnless({ skip: (note) => void skipped.push(note ?? '') }, 'a cache', false);
    expect(skipped).toEqual([expect.stringContaining('a cache is missing')]);
    process.env.CAKE_TEST_STRICT = '1';
    expect(() => missing('a tool', false)).toThrow(/a tool is missing/);
    expect(() => skipUnless({ skip: () => undefined }, 'a cache', false)).toThrow(/a cache is missing/);
    expect(() => skipUnless({ skip: () => undefined }, 'a cache', true)).not.toThrow();
  });
});
