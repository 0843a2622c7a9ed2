import { CakeError } from './errors.js';

const ENV_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** What a valid env name is (see {@link validateEnvName}); the one test every parser of names uses. */
export function isEnvName(name: string): boolean {
  return ENV_NAME.test(name) && !name.includes('..');
}

/**
 * The package sets an archive build (`cake pull debian:…`, a recipe's `from:`, a distro
 * definition) can start from, as debootstrap/mmdebstrap name them: essential (Essential: yes
 * only), minbase (required + apt), standard (+ important and standard), buildd (minbase +
 * build-essential).
 */
export const VARIANTS = ['essential', 'minbase', 'standard', 'buildd'] as const;
export type Variant = (typeof VARIANTS)[number];

/**
 * Validates an environment name. Names become directory names under the store, so they are
 * restricted to lowercase letters, digits, `.`, `_` and `-`, start with a letter or digit, and are
 * at most 63 characters: no `/`, no `..`, nothing a shell or a path would reinterpret.
 */
export function validateEnvName(name: string): string {
  if (!isEnvName(name)) {
    throw new CakeError('bad-name', `invalid environment name: ${JSON.stringify(name)}`, {
      exitCode: 2,
      hint: 'use 1-63 characters of a-z, 0-9, ".", "_" and "-", starting with a letter or digit',
    });
  }
  return name;
}

/** Derives a default env name from free text (a distro, an image repo, a file name). */
export function defaultEnvName(text: string): string {
  const base = text
    .toLowerCase()
    .replace(/\.(tar|tgz|txz|tzst)(\.(gz|xz|zst|bz2))?$/, '')
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .replace(/\.\.+/g, '.')
    .slice(0, 63)
    .replace(/[-._]+$/, '');
  return base === '' ? 'env' : base;
}
