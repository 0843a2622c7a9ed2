import { describe, expect, it } from 'vitest';
import { CakeError } from '../../../src/model/errors.js';
import { parseSourceDateEpoch } from '../../../src/model/source-date-epoch.js';

describe('parseSourceDateEpoch', () => {
  it('takes digits (blanks around them ignored), nothing when unset or empty', () => {
    expect(parseSourceDateEpoch(undefined)).toBeUndefined();
    expect(parseSourceDateEpoch('')).toBeUndefined();
    expect(parseSourceDateEpoch(' ')).toBeUndefined();
    expect(parseSourceDateEpoch('1700000000')).toBe(1700000000);
    expect(parseSourceDateEpoch(' 0\n')).toBe(0);
  });

  it('refuses anything else with a usage error naming the value', () => {
    for (const bad of ['yesterday', '-1', '1.5', '0x10', '1e9', '1700000000x', '1234567890123']) {
      let err: unknown;
      try {
        parseSourceDateEpoch(bad);
      } catch (e) {
        err = e;
      }
      expect(err, bad).toBeInstanceOf(CakeError);
      expect((err as CakeError).code).toBe('usage');
      expect((err as CakeError).message).toBe(`SOURCE_DATE_EPOCH=${JSON.stringify(bad)} is not a number of seconds since 1970`);
    }
  });
});
