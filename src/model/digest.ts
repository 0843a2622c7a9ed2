import { CakeError } from './errors.js';

const HEX64 = /^[0-9a-f]{64}$/;

/** Accepts `HEX` or `sha256:HEX` (any case) and returns the lowercase 64-char hex. */
export function parseSha256(text: string, what = 'sha256'): string {
  const hex = text.trim().toLowerCase().replace(/^sha256:/, '');
  if (!HEX64.test(hex)) {
    throw new CakeError('bad-digest', `invalid ${what}: ${JSON.stringify(text)}`, {
      exitCode: 2,
      hint: 'a sha256 is 64 hexadecimal characters, optionally prefixed with "sha256:"',
    });
  }
  return hex;
}

export function isSha256Hex(text: string): boolean {
  return HEX64.test(text);
}
