/**
 * Architecture names of an ELF machine: the e_machine of a distro arch name, and for a machine
 * Debian's multiarch triplets, glibc's $PLATFORM and musl's loader arch name.
 */
import type { ElfInfo } from './elf.js';

/** Machine numbers (e_machine) of the architectures cake knows. */
export const EM = { i386: 3, arm: 40, x86_64: 62, aarch64: 183, riscv: 243, ppc64: 21, s390: 22 } as const;

/** The e_machine of a distro arch name (x86_64, aarch64, armv7, i686, riscv64, ppc64le, s390x). */
export function machineOfArch(arch: string): number | undefined {
  switch (arch) {
    case 'x86_64': return EM.x86_64;
    case 'aarch64': return EM.aarch64;
    case 'armv7': return EM.arm;
    case 'i686': return EM.i386;
    case 'riscv64': return EM.riscv;
    case 'ppc64le': return EM.ppc64;
    case 's390x': return EM.s390;
    default: return undefined;
  }
}

/** Debian's multiarch triplets for a machine (the library directories under /lib and /usr/lib). */
export function multiarchTriplets(info: Pick<ElfInfo, 'machine' | 'bits' | 'endian'>): string[] {
  switch (info.machine) {
    case EM.x86_64: return info.bits === 64 ? ['x86_64-linux-gnu'] : ['x86_64-linux-gnux32'];
    case EM.i386: return ['i386-linux-gnu'];
    case EM.aarch64: return info.endian === 'le' ? ['aarch64-linux-gnu'] : ['aarch64_be-linux-gnu'];
    case EM.arm: return ['arm-linux-gnueabihf', 'arm-linux-gnueabi'];
    case EM.riscv: return info.bits === 64 ? ['riscv64-linux-gnu'] : [];
    case EM.ppc64: return info.endian === 'le' ? ['powerpc64le-linux-gnu'] : ['powerpc64-linux-gnu'];
    case EM.s390: return ['s390x-linux-gnu'];
    default: return [];
  }
}

/** The value glibc gives $PLATFORM on a machine (best effort). */
export function platformName(info: Pick<ElfInfo, 'machine' | 'bits'>): string | undefined {
  switch (info.machine) {
    case EM.x86_64: return 'x86_64';
    case EM.i386: return 'i686';
    case EM.aarch64: return 'aarch64';
    case EM.arm: return 'v7l';
    case EM.riscv: return 'riscv64';
    case EM.ppc64: return 'powerpc64le';
    case EM.s390: return 's390x';
    default: return undefined;
  }
}

/** musl's arch name in /etc/ld-musl-ARCH.path. */
export function muslArch(info: Pick<ElfInfo, 'machine' | 'bits' | 'endian'>): string | undefined {
  switch (info.machine) {
    case EM.x86_64: return 'x86_64';
    case EM.i386: return 'i386';
    case EM.aarch64: return 'aarch64';
    case EM.arm: return 'armhf';
    case EM.riscv: return 'riscv64';
    case EM.ppc64: return info.endian === 'le' ? 'powerpc64le' : 'powerpc64';
    case EM.s390: return 's390x';
    default: return undefined;
  }
}
