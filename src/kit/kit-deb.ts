/**
 * A .deb that a kit is made of: the fakeroot kit (fakeroot, libfakeroot, libc6), the provisioned
 * proot (proot, libtalloc2, libc6), bake's packages (kernel, busybox-static, bootloaders). One
 * type for all of them; which fields are known depends on where the record comes from.
 */

/** One .deb of a kit. `filename` and `size` are known when it can be fetched (a Packages stanza). */
export interface KitDeb {
  name: string;
  version: string;
  sha256: string;
  /** Debian architecture (amd64, all, …), when recorded. */
  arch?: string;
  /** Relative to the mirror root. */
  filename?: string;
  size?: number;
  /** The Release's Origin, when recorded. */
  origin?: string;
}

/** A kit .deb as a Packages stanza names it: fetchable. */
export type PinnedDeb = KitDeb & { filename: string; size: number };

/** A kit .deb in the blob store: `path` is its blob. */
export type FetchedDeb = PinnedDeb & { path: string };

/** The fakeroot kit's packages recorded in an env's `resolved` (`resolved.fakeroot.debs`), or undefined when it has none. Pure. */
export function kitDebs(resolved: Record<string, unknown>): KitDeb[] | undefined {
  const f = resolved.fakeroot as { debs?: unknown } | undefined;
  if (typeof f !== 'object' || f === null || !Array.isArray(f.debs) || f.debs.length === 0) return undefined;
  const ok = f.debs.every((d: unknown) => typeof d === 'object' && d !== null && typeof (d as KitDeb).sha256 === 'string' && /^[0-9a-f]{64}$/.test((d as KitDeb).sha256));
  return ok ? (f.debs as KitDeb[]) : undefined;
}
