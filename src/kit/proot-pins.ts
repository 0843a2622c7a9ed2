/**
 * Data: the Debian packages cake provisions a working proot from, pinned by sha256. Debian 12/13
 * ship proot 5.1.0, which does not translate statx; sid's 5.4.x does, and runs on any host when
 * started through the glibc loader that comes with it (proot-provision.ts).
 *
 * Recorded on 2026-11-23 from the sid main Packages indices (amd64, arm64) of
 * http://deb.debian.org/debian, whose InRelease is signed by the Debian archive keys (checked
 * by test/integration/run/provision.test.ts). When sid moves on and a pool file is gone, cake
 * resolves the newest proot >= MIN_PROOT_VERSION from the signed sid index instead, and says so.
 * To update: read Filename, Size and SHA256 of proot, libtalloc2 and libc6 from those indices.
 */

import type { PinnedDeb } from './kit-deb.js';

/** Everything a provisioned proot is made of, for one architecture. */
export interface ProotPins {
  /** Debian architecture name. */
  arch: 'amd64' | 'arm64';
  mirror: string;
  suite: string;
  /** proot first, then the libraries it needs, libc6 (which carries the loader) last. */
  debs: PinnedDeb[];
}

export const PROOT_MIRROR = 'http://deb.debian.org/debian';
export const PROOT_SUITE = 'sid';
/** The first upstream release that translates statx (proot-me/proot#262). */
export const MIN_PROOT_VERSION = '5.4';

const TALLOC = '2:2.5.0+samba4.25.1+dfsg-1';

export const PROOT_PINS: Readonly<Record<'amd64' | 'arm64', ProotPins>> = {
  amd64: {
    arch: 'amd64',
    mirror: PROOT_MIRROR,
    suite: PROOT_SUITE,
    debs: [
      {
        name: 'proot',
        version: '5.4.0-3',
        filename: 'pool/main/p/proot/proot_5.4.0-3_amd64.deb',
        sha256: 'bebc55a4461cb6cf3063f8248aa2c93f12e2426d054cc85e42271b349d2f514f',
        size: 89268,
      },
      {
        name: 'libtalloc2',
        version: TALLOC,
        filename: 'pool/main/s/samba/libtalloc2_2.5.0+samba4.25.1+dfsg-1_amd64.deb',
        sha256: '0853d597d8bd4449ed6561e521d0a581c0860e5043d75820331d96cb2faffbcf',
        size: 48416,
      },
      {
        name: 'libc6',
        version: '2.43-7',
        filename: 'pool/main/g/glibc/libc6_2.43-7_amd64.deb',
        sha256: '5c71715c51103beb4fbba9fe9f8dff604af6610dfa71c70bff342f54a7860803',
        size: 1866392,
      },
    ],
  },
  arm64: {
    arch: 'arm64',
    mirror: PROOT_MIRROR,
    suite: PROOT_SUITE,
    debs: [
      {
        name: 'proot',
        version: '5.4.0-3',
        filename: 'pool/main/p/proot/proot_5.4.0-3_arm64.deb',
        sha256: '736269702ac3915af98a402d7646296273ede4ba58dafeb21243ff8d09429813',
        size: 81852,
      },
      {
        name: 'libtalloc2',
        version: TALLOC,
        filename: 'pool/main/s/samba/libtalloc2_2.5.0+samba4.25.1+dfsg-1_arm64.deb',
        sha256: '581c346c57a8b2a3c611fd77d2bf629aaca4e3c1b2dd5e58acd9f52245e85fe0',
        size: 45340,
      },
      {
        name: 'libc6',
        version: '2.43-7',
        filename: 'pool/main/g/glibc/libc6_2.43-7_arm64.deb',
        sha256: '2315e75157bf67622bb435724de8be3c4c6f5bb33f3f26e8310842ea66093c74',
        size: 1458588,
      },
    ],
  },
};

/** Per Debian architecture: the multiarch triplet and the name of glibc's dynamic loader. */
export const PROOT_ARCH_LAYOUT: Readonly<Record<'amd64' | 'arm64', { triplet: string; loader: string; elfMachine: number; elfMachine32: number }>> = {
  amd64: { triplet: 'x86_64-linux-gnu', loader: 'ld-linux-x86-64.so.2', elfMachine: 62, elfMachine32: 3 },
  arm64: { triplet: 'aarch64-linux-gnu', loader: 'ld-linux-aarch64.so.1', elfMachine: 183, elfMachine32: 40 },
};

/** The Debian architecture cake provisions proot for on a host of `machine` (uname -m), if any. Pure. */
export function provisionArch(machine: string): 'amd64' | 'arm64' | undefined {
  if (machine === 'x86_64' || machine === 'amd64') return 'amd64';
  if (machine === 'aarch64' || machine === 'arm64') return 'arm64';
  return undefined;
}
