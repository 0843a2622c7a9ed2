/**
 * Verification of a clearsigned InRelease file. Archives sign it with several keys (Debian:
 * the EdDSA release key and RSA-4096 automatic signing keys): one valid signature from a key of
 * the trusted keyring is enough, as for apt. Only the signed text is ever returned: anything the
 * file carries outside the signed block is refused, never used.
 */
import { readCleartextMessage, verify, type PublicKey } from 'openpgp';
import { CakeError } from '../model/errors.js';

export interface InReleaseContext {
  suite: string;
  mirror: string;
  /** "the debian archive keyring" (see keyrings.ts keyringLabel). */
  keyringLabel: string;
  /**
   * Key validity (expiry, revocation) is judged at this time; default now. `null` skips time
   * checks: for content already trusted by its hash (a pinned InRelease) or snapshot archives
   * signed by keys that have expired since.
   */
  date?: Date | null;
}

export interface VerifiedInRelease {
  /** The signed Release text (dash-escaping undone, line ends normalized to \n). */
  text: string;
  /** Key ids (hex) of the signatures that verified. */
  signers: string[];
}

const BEGIN = '-----BEGIN PGP SIGNED MESSAGE-----';
const END = '-----END PGP SIGNATURE-----';

/**
 * Verifies `inRelease` against `keys`. Throws CakeError('signature') — a hard error, never a
 * warning — when the file is not exactly one clearsigned block or no signature from `keys`
 * verifies (tampered text, unknown or expired key, wrong keyring).
 */
export async function verifyInRelease(inRelease: string | Buffer, keys: PublicKey[], ctx: InReleaseContext): Promise<VerifiedInRelease> {
  const what = `InRelease of ${ctx.suite} at ${ctx.mirror}`;
  const fail = (detail: string, cause?: unknown): CakeError =>
    new CakeError('signature', `${what}: ${detail}`, {
      cause,
      hint:
        `the file is not signed by ${ctx.keyringLabel}: it was altered on the way or by the mirror, or the keyring is the wrong one ` +
        '(debian vs ubuntu) or too old; check the mirror URL and the keyring, never skip verification',
    });
  const armored = typeof inRelease === 'string' ? inRelease : inRelease.toString('utf8');
  const start = armored.indexOf(BEGIN);
  const end = armored.indexOf(END);
  if (start < 0 || end < 0 || armored.slice(0, start).trim() !== '' || armored.slice(end + END.length).trim() !== '') {
    throw fail('no valid signature: not a single clearsigned message');
  }
  if (armored.indexOf(BEGIN, start + 1) >= 0) throw fail('no valid signature: more than one signed message');
  let message;
  try {
    message = await readCleartextMessage({ cleartextMessage: armored });
  } catch (err) {
    throw fail(`no valid signature: unreadable clearsigned message (${(err as Error).message})`, err);
  }
  const result = await verify({ message, verificationKeys: keys, date: ctx.date === undefined ? new Date() : ctx.date });
  const signers: string[] = [];
  const problems: string[] = [];
  for (const sig of result.signatures) {
    try {
      if (await sig.verified) signers.push(sig.keyID.toHex());
    } catch (err) {
      problems.push(`${sig.keyID.toHex()}: ${(err as Error).message}`);
    }
  }
  if (signers.length === 0) {
    const detail = problems.length === 0 ? 'no signature at all' : problems.join('; ');
    throw fail(`no valid signature from ${ctx.keyringLabel} (${detail})`);
  }
  return { text: result.data, signers };
}
