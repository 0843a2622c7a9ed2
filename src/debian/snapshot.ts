/**
 * The URL scheme of the snapshot archives, for rebuilding a locked pull after its mirror moved on:
 * snapshot.debian.org serves every archive it mirrors as `/archive/<archive>/<YYYYMMDDTHHMMSSZ>/`
 * with the archive's own layout below (dists/, pool/), <archive> being the mirror's last path
 * component (debian, debian-security, debian-ports, …), and answers a time with the newest import
 * at or before it; snapshot.ubuntu.com serves `/<archive>/<timestamp>/` the same way. Pure.
 */

/** The default snapshot service for a keyring. */
export function defaultSnapshotBase(keyring: unknown): string {
  return keyring === 'ubuntu' ? 'https://snapshot.ubuntu.com' : 'http://snapshot.debian.org';
}

/** `20260711T101637Z` for a time. */
export function snapshotStamp(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
}

/**
 * The snapshot roots (with a trailing slash) that may hold `mirror` as it was around `pulledAt`
 * (ISO time of the pull that wrote the lock): that moment first, then 6, 12, 24 and 48 hours
 * later (a snapshot imports the archive a few times a day, so the state a pull saw may be in the
 * next import only). `base` is the service (defaultSnapshotBase, or CAKE_SNAPSHOT_URL).
 */
export function snapshotRoots(base: string, mirror: string, keyring: unknown, pulledAt: string): string[] {
  const t = Date.parse(pulledAt);
  if (!Number.isFinite(t)) return [];
  const archive = new URL(mirror).pathname.split('/').filter((c) => c !== '').pop() ?? (keyring === 'ubuntu' ? 'ubuntu' : 'debian');
  const prefix = keyring === 'ubuntu' ? `${base.replace(/\/+$/, '')}/${archive}` : `${base.replace(/\/+$/, '')}/archive/${archive}`;
  return [0, 6, 12, 24, 48].map((h) => `${prefix}/${snapshotStamp(t + h * 3600_000)}/`);
}
