/**
 * Debian version numbers (deb-version(7)): `[epoch:]upstream[-revision]`, compared exactly as
 * dpkg does. Pure functions, no I/O.
 */
import { CakeError } from '../model/errors.js';

/** The relational operators of dependency fields (Policy §7.1). */
export type VersionOp = '<<' | '<=' | '=' | '>=' | '>>';

export interface ParsedVersion {
  epoch: number;
  upstream: string;
  /** '' when the version has no revision (which compares equal to "0"). */
  revision: string;
}

const UPSTREAM_OK = /^[A-Za-z0-9.+~:-]*$/;
const REVISION_OK = /^[A-Za-z0-9.+~]*$/;

/**
 * Splits a version at the first ':' and the last '-' without judging it. Used by the comparison,
 * which like `dpkg --compare-versions` tolerates odd but splittable input.
 */
function split(v: string): ParsedVersion {
  let epoch = 0;
  let rest = v;
  const colon = v.indexOf(':');
  if (colon >= 0) {
    epoch = Number.parseInt(v.slice(0, colon), 10) || 0;
    rest = v.slice(colon + 1);
  }
  const dash = rest.lastIndexOf('-');
  if (dash >= 0) return { epoch, upstream: rest.slice(0, dash), revision: rest.slice(dash + 1) };
  return { epoch, upstream: rest, revision: '' };
}

/**
 * Parses and validates a version the way dpkg's parser does, treating dpkg's warnings
 * (upstream not starting with a digit, characters outside the allowed set) as errors too.
 * Throws CakeError('bad-archive') naming the text.
 */
export function parseVersion(text: string): ParsedVersion {
  const v = text.trim();
  const bad = (why: string): CakeError =>
    new CakeError('bad-archive', `invalid version '${text}': ${why}`);
  if (v === '') throw bad('version string is empty');
  if (/\s/.test(v)) throw bad('version string has embedded spaces');
  const colon = v.indexOf(':');
  if (colon >= 0) {
    const e = v.slice(0, colon);
    if (e === '') throw bad('epoch is empty');
    if (!/^[0-9]+$/.test(e)) throw bad('epoch is not a number');
    if (Number(e) > 2147483647) throw bad('epoch is too big');
    if (colon === v.length - 1) throw bad('nothing after colon');
  }
  const parsed = split(v);
  if (v.endsWith('-')) throw bad('revision is empty');
  if (parsed.upstream === '') throw bad('upstream version is empty');
  if (!/^[0-9]/.test(parsed.upstream)) throw bad('upstream version does not start with a digit');
  if (!UPSTREAM_OK.test(parsed.upstream)) throw bad('invalid character in upstream version');
  if (!REVISION_OK.test(parsed.revision)) throw bad('invalid character in revision');
  return parsed;
}

/** True when `v` parses under {@link parseVersion}. */
export function isValidVersion(v: string): boolean {
  try {
    parseVersion(v);
    return true;
  } catch {
    return false;
  }
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** dpkg's character weight: '~' first, then end of string and digits, letters, everything else. */
function order(c: number): number {
  if (c === 0 || isDigit(c)) return 0;
  if ((c >= 65 && c <= 90) || (c >= 97 && c <= 122)) return c;
  if (c === 126) return -1;
  return c + 256;
}

/** Compares one upstream or revision part: alternating non-digit runs and numeric digit runs. */
function compareFragment(a: string, b: string): number {
  let i = 0;
  let j = 0;
  const la = a.length;
  const lb = b.length;
  while (i < la || j < lb) {
    let ca = i < la ? a.charCodeAt(i) : 0;
    let cb = j < lb ? b.charCodeAt(j) : 0;
    while ((ca !== 0 && !isDigit(ca)) || (cb !== 0 && !isDigit(cb))) {
      const d = order(ca) - order(cb);
      if (d !== 0) return d;
      i++;
      j++;
      ca = i < la ? a.charCodeAt(i) : 0;
      cb = j < lb ? b.charCodeAt(j) : 0;
    }
    while (i < la && a.charCodeAt(i) === 48) i++;
    while (j < lb && b.charCodeAt(j) === 48) j++;
    let firstDiff = 0;
    while (i < la && j < lb && isDigit(a.charCodeAt(i)) && isDigit(b.charCodeAt(j))) {
      if (firstDiff === 0) firstDiff = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (i < la && isDigit(a.charCodeAt(i))) return 1;
    if (j < lb && isDigit(b.charCodeAt(j))) return -1;
    if (firstDiff !== 0) return firstDiff;
  }
  return 0;
}

/**
 * Compares two versions as `dpkg --compare-versions` does: negative when a < b, zero when equal
 * (e.g. "1.0" and "1.0-0", "1.01" and "1.1"), positive when a > b. Does not throw.
 */
export function compareVersions(a: string, b: string): number {
  if (a === b) return 0;
  const pa = split(a.trim());
  const pb = split(b.trim());
  if (pa.epoch !== pb.epoch) return pa.epoch < pb.epoch ? -1 : 1;
  const u = compareFragment(pa.upstream, pb.upstream);
  if (u !== 0) return u;
  return compareFragment(pa.revision, pb.revision);
}

/** True when `version op bound` holds, e.g. satisfies('1.2', '>=', '1.0'). */
export function satisfies(version: string, op: VersionOp, bound: string): boolean {
  const c = compareVersions(version, bound);
  switch (op) {
    case '<<':
      return c < 0;
    case '<=':
      return c <= 0;
    case '=':
      return c === 0;
    case '>=':
      return c >= 0;
    case '>>':
      return c > 0;
  }
}
