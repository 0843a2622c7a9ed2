/**
 * SHA-512-based crypt(3) (`$6$salt$hash`, Ulrich Drepper's "Unix crypt using SHA-256 and
 * SHA-512" specification), the format of /etc/shadow on glibc and musl systems. Used only for
 * `cake bake --password`. Pure; the salt is given so a bake stays reproducible.
 */
import { createHash } from 'node:crypto';
import { CakeError } from '../model/errors.js';

const ALPHABET = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const ROUNDS = 5000;

/** The order in which the 64 digest bytes are encoded, three at a time (high byte first). */
const ORDER: Array<[number, number, number]> = [
  [0, 21, 42], [22, 43, 1], [44, 2, 23], [3, 24, 45], [25, 46, 4], [47, 5, 26], [6, 27, 48],
  [28, 49, 7], [50, 8, 29], [9, 30, 51], [31, 52, 10], [53, 11, 32], [12, 33, 54], [34, 55, 13],
  [56, 14, 35], [15, 36, 57], [37, 58, 16], [59, 17, 38], [18, 39, 60], [40, 61, 19], [62, 20, 41],
];

/** `$6$SALT$HASH` for `password` with `salt` (at most 16 characters of [./0-9A-Za-z]). */
export function sha512Crypt(password: string, salt: string): string {
  if (!/^[./0-9A-Za-z]{1,16}$/.test(salt)) throw new CakeError('internal', `bad crypt salt ${JSON.stringify(salt)}`);
  const p = Buffer.from(password, 'utf8');
  const s = Buffer.from(salt, 'latin1');
  const sha = (...parts: Buffer[]): Buffer => {
    const h = createHash('sha512');
    for (const part of parts) h.update(part);
    return h.digest();
  };
  const b = sha(p, s, p);
  const a = createHash('sha512').update(p).update(s);
  let n = p.length;
  for (; n > 64; n -= 64) a.update(b);
  a.update(b.subarray(0, n));
  for (let len = p.length; len > 0; len >>= 1) a.update(len & 1 ? b : p);
  let c = a.digest();
  const dp = sha(...Array<Buffer>(p.length).fill(p));
  const pSeq = repeatTo(dp, p.length);
  const ds = sha(...Array<Buffer>(16 + c[0]!).fill(s));
  const sSeq = repeatTo(ds, s.length);
  for (let i = 0; i < ROUNDS; i++) {
    const h = createHash('sha512');
    h.update(i & 1 ? pSeq : c);
    if (i % 3 !== 0) h.update(sSeq);
    if (i % 7 !== 0) h.update(pSeq);
    h.update(i & 1 ? c : pSeq);
    c = h.digest();
  }
  let out = '';
  for (const [hi, mid, lo] of ORDER) out += encode((c[hi]! << 16) | (c[mid]! << 8) | c[lo]!, 4);
  out += encode(c[63]!, 2);
  return `$6$${salt}$${out}`;
}

function repeatTo(block: Buffer, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let o = 0; o < length; o += block.length) block.copy(out, o, 0, Math.min(block.length, length - o));
  return out;
}

function encode(value: number, chars: number): string {
  let s = '';
  for (let i = 0; i < chars; i++) {
    s += ALPHABET[value & 0x3f];
    value >>>= 6;
  }
  return s;
}

/** A crypt salt derived from a seed (16 characters of the crypt alphabet). */
export function saltFromSeed(seed: Buffer): string {
  let s = '';
  for (let i = 0; i < 16; i++) s += ALPHABET[seed[i % seed.length]! & 0x3f];
  return s;
}
