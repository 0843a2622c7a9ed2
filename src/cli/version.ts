import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The package root (bin/, distros/, keyrings/, package.json), two levels above this module. */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** cake's version, from package.json ('0.0.0' when it cannot be read). */
export function readVersion(): string {
  try {
    return (JSON.parse(readFileSync(`${PACKAGE_ROOT}package.json`, 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}
