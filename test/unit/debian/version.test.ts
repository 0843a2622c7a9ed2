import { execFileSync, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CakeError } from '../../../src/model/errors.js';
import {
  compareVersions,
  isValidVersion,
  parseVersion,
  satisfies,
} from '../../../src/debian/version.js';
import { missing } from '../../helpers/tools.js';

/** [a, b, expected sign of compare(a, b)], from deb-version(7) and dpkg's own behaviour. */
const TABLE: Array<[string, string, -1 | 0 | 1]> = [
  ['1.0', '1.0', 0],
  ['1.0', '1.0-0', 0],
  ['1.0-0', '1.0', 0],
  ['1.01', '1.1', 0],
  ['1.001', '1.1', 0],
  ['0:1.0', '1.0', 0],
  ['00:1.0', '0:1.0', 0],
  ['1.0~rc1', '1.0', -1],
  ['1.0', '1.0~rc1', 1],
  ['1.0~~', '1.0~', -1],
  ['1.0~', '1.0', -1],
  ['1.0~~a', '1.0~~', 1],
  ['1.0~~', '1.0~~a', -1],
  ['1.0~rc1', '1.0~rc2', -1],
  ['1.0~beta', '1.0~rc', -1],
  ['1.0a', '1.0+', -1],
  ['1.0+', '1.0a', 1],
  ['1.0a', '1.0', 1],
  ['1.0', '1.0a', -1],
  ['1.0+dfsg', '1.0', 1],
  ['1.0.1', '1.0', 1],
  ['1.0', '1.0.1', -1],
  ['1.0.', '1.0', 1],
  ['1.0-1', '1.0-2', -1],
  ['1.0-10', '1.0-9', 1],
  ['1.0-1', '1.0-1.1', -1],
  ['1.0-1+b1', '1.0-1', 1],
  ['1.0-1~bpo1', '1.0-1', -1],
  ['1.0-1ubuntu1', '1.0-1', 1],
  ['1.0-1ubuntu1', '1.0-2', -1],
  ['1:0.1', '2.0', 1],
  ['2.0', '1:0.1', -1],
  ['1:1.0', '2:0.1', -1],
  ['10:1', '9:9', 1],
  ['1.2.3', '1.2.10', -1],
  ['1.10', '1.9', 1],
  ['9', '10', -1],
  ['0.9', '1', -1],
  ['1.0-1', '1.0-1', 0],
  ['2.30-1', '2.30.1-1', -1],
  ['1.2-3-4', '1.2-3', 1],
  ['1.2-3-4', '1.2-3-5', -1],
  ['1-2-3', '1-2-3', 0],
  ['1a', '1b', -1],
  ['1A', '1a', -1],
  ['1Z', '1a', -1],
  ['1a', '1.', -1],
  ['1+', '1.', -1],
  ['1-0', '1+', -1],
  ['1~', '1', -1],
  ['1~a', '1~', 1],
  ['1~', '1~~', 1],
  ['1.0a1', '1.0a2', -1],
  ['1.0a10', '1.0a9', 1],
  ['2.2.0+ds1-1', '2.2.0-1', 1],
  ['7.88.1-10+deb12u5', '7.88.1-10+deb12u12', -1],
  ['7.88.1-10+deb12u5', '7.88.1-10', 1],
  ['1:2.38.1-5+deb12u1', '1:2.38.1-5', 1],
  ['2.36-9+deb12u4', '2.36-9+deb12u10', -1],
  ['5.2.15-2+b2', '5.2.15-2+b10', -1],
  ['3.0.11-1~deb12u2', '3.0.11-1', -1],
  ['1.0.0', '1.0', 1],
  ['0', '0', 0],
  ['0', '00', 0],
  ['1.0-0', '1.0-00', 0],
  ['1.0-a', '1.0-0', 1],
  ['1.0-~', '1.0', -1],
  ['1.0-~', '1.0-0', -1],
  ['1:1.0-1', '1:1.0-1', 0],
  ['0:0', '0', 0],
  ['1.2a.3', '1.2.3', -1],
  ['2:1.2:3', '2:1.2:3', 0],
  ['1.0+really0.9', '1.0', 1],
  ['0.9+really1.0', '1.0', -1],
];

function sign(n: number): -1 | 0 | 1 {
  return n < 0 ? -1 : n > 0 ? 1 : 0;
}

describe('compareVersions', () => {
  it.each(TABLE)('%s vs %s', (a, b, want) => {
    expect(sign(compareVersions(a, b))).toBe(want);
    expect(sign(compareVersions(b, a))).toBe(sign(-want));
  });

  it('has at least 60 table cases', () => {
    expect(TABLE.length).toBeGreaterThanOrEqual(60);
  });
});

describe('satisfies', () => {
  it.each([
    ['1.0', '<<', '1.1', true],
    ['1.1', '<<', '1.1', false],
    ['1.1', '<=', '1.1', true],
    ['1.2', '<=', '1.1', false],
    ['1.0-0', '=', '1.0', true],
    ['1.0-1', '=', '1.0', false],
    ['2', '>=', '1:0', false],
    ['1:0', '>=', '2', true],
    ['1.0~rc1', '>=', '1.0~', true],
    ['1.0', '>>', '1.0', false],
    ['1.0+b1', '>>', '1.0', true],
  ] as const)('%s %s %s', (v, op, bound, want) => {
    expect(satisfies(v, op, bound)).toBe(want);
  });
});

describe('parseVersion', () => {
  it('splits at the first colon and the last hyphen', () => {
    expect(parseVersion('1:2.3-4-5')).toEqual({ epoch: 1, upstream: '2.3-4', revision: '5' });
    expect(parseVersion('2.3')).toEqual({ epoch: 0, upstream: '2.3', revision: '' });
    expect(parseVersion('3:1.2:3-1')).toEqual({ epoch: 3, upstream: '1.2:3', revision: '1' });
    expect(parseVersion(' 1.0 ')).toEqual({ epoch: 0, upstream: '1.0', revision: '' });
  });

  it.each([
    ['', 'empty'],
    ['1.0 1', 'spaces'],
    [':1.0', 'epoch is empty'],
    ['a:1.0', 'not a number'],
    ['-1:1.0', 'not a number'],
    ['99999999999:1.0', 'too big'],
    ['1:', 'nothing after colon'],
    ['1.0-', 'revision is empty'],
    ['-1', 'upstream version is empty'],
    ['a1.0', 'start with a digit'],
    ['1.0_1', 'invalid character in upstream'],
    ['1.0-1=2', 'invalid character in revision'],
    ['1.0-1_2', 'invalid character in revision'],
  ])('rejects %j (%s)', (v, why) => {
    let err: unknown;
    try {
      parseVersion(v);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CakeError);
    expect((err as CakeError).code).toBe('bad-archive');
    expect((err as CakeError).message).toContain(why);
    expect((err as CakeError).message).toContain(`'${v}'`);
    expect(isValidVersion(v)).toBe(false);
  });

  it('accepts every version of the table', () => {
    for (const [a, b] of TABLE) {
      expect(isValidVersion(a), a).toBe(true);
      expect(isValidVersion(b), b).toBe(true);
    }
  });
});

function hasDpkg(): boolean {
  return spawnSync('dpkg', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** A small deterministic PRNG so failures reproduce. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomVersion(r: () => number): string {
  const pick = (s: string): string => s[Math.floor(r() * s.length)] ?? '';
  const part = (chars: string, n: number): string => {
    let out = '';
    for (let i = 0; i < n; i++) out += r() < 0.55 ? pick('0123456789') : pick(chars);
    return out;
  };
  let v = '';
  if (r() < 0.15) v += `${Math.floor(r() * 3)}:`;
  v += pick('0123456789') + part('.+~aAzZ0', Math.floor(r() * 6));
  if (r() < 0.6) v += `-${part('.+~ab', 1 + Math.floor(r() * 4))}`;
  return v;
}

describe.skipIf(missing('dpkg', hasDpkg()))('agreement with dpkg --compare-versions', () => {
  it('agrees on 500 random pairs', () => {
    const r = rng(20240601);
    const pairs: Array<[string, string]> = [];
    for (let i = 0; i < 500; i++) {
      const a = randomVersion(r);
      // Half the pairs share a prefix so that the interesting tails get compared.
      const b = r() < 0.5 ? randomVersion(r) : a.slice(0, Math.floor(r() * a.length)) + randomVersion(r).slice(0, 3);
      pairs.push([a, isValidVersion(b) ? b : a]);
    }
    // One shell runs all comparisons: prints -1, 0 or 1 per pair.
    const script =
      'while read -r a b; do ' +
      'if dpkg --compare-versions "$a" lt "$b"; then echo -1; ' +
      'elif dpkg --compare-versions "$a" eq "$b"; then echo 0; else echo 1; fi; done';
    const out = execFileSync('sh', ['-c', script], {
      input: pairs.map(([a, b]) => `${a} ${b}\n`).join(''),
      encoding: 'utf8',
    });
    const want = out.trim().split('\n').map(Number);
    expect(want).toHaveLength(pairs.length);
    const disagreements = pairs
      .map(([a, b], i) => ({ a, b, dpkg: want[i], ours: sign(compareVersions(a, b)) }))
      .filter((d) => d.dpkg !== d.ours);
    expect(disagreements).toEqual([]);
  });
});
