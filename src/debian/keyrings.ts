/**
 * The OpenPGP keyrings that archive signatures are checked against: the Debian and Ubuntu archive
 * keyrings shipped in the repository's `keyrings/` directory, or a user's keyring file (binary
 * `.gpg` as in /usr/share/keyrings, or ASCII-armored `.asc`). Public keys only.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readKeys, type PublicKey } from 'openpgp';
import { CakeError, isErrno } from '../model/errors.js';

export type ShippedKeyring = 'debian' | 'ubuntu';

/** A shipped keyring by name, or a user's keyring file. */
export type KeyringSpec = ShippedKeyring | { file: string };

const SHIPPED: Record<ShippedKeyring, string> = {
  debian: 'debian-archive-keyring.gpg',
  ubuntu: 'ubuntu-archive-keyring.gpg',
};

/**
 * The shipped `keyrings/` directory: two levels above this module, which holds both for
 * `src/debian/` (tests) and `dist/debian/` (the built CLI).
 */
export function defaultKeyringDir(): string {
  return fileURLToPath(new URL('../../keyrings/', import.meta.url));
}

/** A readable description of a keyring spec, for error messages. */
export function keyringLabel(spec: KeyringSpec): string {
  return typeof spec === 'string' ? `the ${spec} archive keyring` : `the keyring ${spec.file}`;
}

/**
 * Loads a shipped keyring (`name` inside `dir`, default {@link defaultKeyringDir}) or a user file.
 * Throws CakeError('signature') when the file is missing or holds no public key.
 */
export async function loadKeyring(spec: KeyringSpec, dir: string = defaultKeyringDir()): Promise<PublicKey[]> {
  const file = typeof spec === 'string' ? join(dir, SHIPPED[spec]) : spec.file;
  const label = keyringLabel(spec);
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new CakeError('signature', `cannot read ${label} (${file}): ${isErrno(err, 'ENOENT') ? 'no such file' : (err as Error).message}`, {
      cause: err,
      hint: typeof spec === 'string' ? 'the cake installation is incomplete: reinstall it' : 'give the path of an OpenPGP public keyring (.gpg or .asc)',
    });
  }
  let keys: PublicKey[];
  try {
    const armored = bytes.subarray(0, 64).toString('latin1').includes('-----BEGIN PGP');
    const read = armored ? await readKeys({ armoredKeys: bytes.toString('utf8') }) : await readKeys({ binaryKeys: new Uint8Array(bytes) });
    keys = read.map((k) => k.toPublic());
  } catch (err) {
    throw new CakeError('signature', `${label} (${file}) is not an OpenPGP keyring: ${(err as Error).message}`, { cause: err });
  }
  if (keys.length === 0) throw new CakeError('signature', `${label} (${file}) holds no public key`);
  return keys;
}
