/**
 * SOURCE_DATE_EPOCH (https://reproducible-builds.org/specs/source-date-epoch/): the one parser of
 * the user's value, for every command that reads it (pull, bake, export, push). Pure.
 */
import { CakeError } from './errors.js';

/**
 * SOURCE_DATE_EPOCH as given (digits only, seconds since 1970; blanks around it are ignored),
 * else undefined when absent or empty. Throws CakeError('usage', exit 2) for any other text: a
 * bad value is never ignored (the output would silently carry the build's own times).
 */
export function parseSourceDateEpoch(text: string | undefined): number | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  if (!/^\d{1,12}$/.test(text.trim())) {
    throw new CakeError('usage', `SOURCE_DATE_EPOCH=${JSON.stringify(text)} is not a number of seconds since 1970`, { exitCode: 2, hint: 'set it to a Unix time, e.g. SOURCE_DATE_EPOCH=$(date +%s), or unset it' });
  }
  return Number(text.trim());
}
