/**
 * GUID partition tables (UEFI spec, chapter 5) written and read by cake itself, so an image needs
 * no partitioning tool and the result depends only on its inputs: a protective MBR (optionally
 * with boot code, e.g. syslinux's gptmbr.bin), the primary header and entry array at LBA 1–33,
 * and their backup copies in the last 33 sectors. 512-byte sectors. Pure, no I/O.
 */
import { crc32 } from 'node:zlib';
import { CakeError } from '../model/errors.js';

export const SECTOR = 512;
const ENTRIES = 128;
const ENTRY_SIZE = 128;
/** Sectors of the entry array (128 × 128 bytes). */
const ARRAY_SECTORS = (ENTRIES * ENTRY_SIZE) / SECTOR;

export const GPT_TYPE = {
  esp: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B',
  /** Linux extended boot (XBOOTLDR): the FAT boot partition of a BIOS-only image. */
  xbootldr: 'BC13C2FF-59E6-4262-A352-B275FD6F7172',
  /** Linux root (x86-64), as in the Discoverable Partitions Specification. */
  rootX86_64: '4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709',
  linuxData: '0FC63DAF-8483-4772-8E79-3D69D8477DE4',
} as const;

/** Attribute bit 2: the partition is bootable by legacy BIOS (what gptmbr.bin looks for). */
export const LEGACY_BIOS_BOOTABLE = 1n << 2n;

export interface GptPartition {
  type: string;
  uuid: string;
  name: string;
  /** First sector (LBA). */
  start: number;
  /** Number of sectors. */
  sectors: number;
  attributes?: bigint;
}

export interface GptDisk {
  diskGuid: string;
  /** Size of the disk in sectors. */
  sectors: number;
  partitions: GptPartition[];
  /** Up to 440 bytes of MBR boot code. */
  bootCode?: Buffer;
}

/** The first usable LBA and last usable LBA of a disk of `sectors` sectors. */
export function usableRange(sectors: number): { first: number; last: number } {
  return { first: 2 + ARRAY_SECTORS, last: sectors - 2 - ARRAY_SECTORS };
}

/**
 * The bytes of the table: `head` for LBA 0 … 33 and `tail` for the last 33 sectors. Throws
 * CakeError('internal') for partitions that overlap or leave the usable range.
 */
export function writeGpt(disk: GptDisk): { head: Buffer; tail: Buffer } {
  const { first, last } = usableRange(disk.sectors);
  const sorted = [...disk.partitions].sort((a, b) => a.start - b.start);
  let end = first - 1;
  for (const p of sorted) {
    if (p.start <= end || p.sectors <= 0 || p.start + p.sectors - 1 > last) {
      throw new CakeError('internal', `partition ${p.name} (${p.start}+${p.sectors}) overlaps or leaves the disk (usable ${first}–${last})`);
    }
    end = p.start + p.sectors - 1;
  }
  if (disk.partitions.length > ENTRIES) throw new CakeError('internal', 'too many partitions');
  const array = Buffer.alloc(ENTRIES * ENTRY_SIZE);
  disk.partitions.forEach((p, i) => {
    const o = i * ENTRY_SIZE;
    guidBytes(p.type).copy(array, o);
    guidBytes(p.uuid).copy(array, o + 16);
    array.writeBigUInt64LE(BigInt(p.start), o + 32);
    array.writeBigUInt64LE(BigInt(p.start + p.sectors - 1), o + 40);
    array.writeBigUInt64LE(p.attributes ?? 0n, o + 48);
    const name = Buffer.from(p.name, 'utf16le');
    if (name.length > 72) throw new CakeError('internal', `partition name ${p.name} is longer than 36 characters`);
    name.copy(array, o + 56);
  });
  const arrayCrc = crc32(array);
  const header = (self: number, alternate: number, arrayLba: number): Buffer => {
    const h = Buffer.alloc(SECTOR);
    h.write('EFI PART', 0, 'latin1');
    h.writeUInt32LE(0x00010000, 8);
    h.writeUInt32LE(92, 12);
    h.writeBigUInt64LE(BigInt(self), 24);
    h.writeBigUInt64LE(BigInt(alternate), 32);
    h.writeBigUInt64LE(BigInt(first), 40);
    h.writeBigUInt64LE(BigInt(last), 48);
    guidBytes(disk.diskGuid).copy(h, 56);
    h.writeBigUInt64LE(BigInt(arrayLba), 72);
    h.writeUInt32LE(ENTRIES, 80);
    h.writeUInt32LE(ENTRY_SIZE, 84);
    h.writeUInt32LE(arrayCrc, 88);
    h.writeUInt32LE(crc32(h.subarray(0, 92)), 16);
    return h;
  };
  const lastLba = disk.sectors - 1;
  const head = Buffer.concat([protectiveMbr(disk), header(1, lastLba, 2), array]);
  const tail = Buffer.concat([array, header(lastLba, 1, lastLba - ARRAY_SECTORS)]);
  return { head, tail };
}

function protectiveMbr(disk: GptDisk): Buffer {
  const mbr = Buffer.alloc(SECTOR);
  if (disk.bootCode !== undefined) {
    if (disk.bootCode.length > 440) throw new CakeError('internal', 'MBR boot code is larger than 440 bytes');
    disk.bootCode.copy(mbr, 0);
  }
  const e = 446;
  mbr[e] = 0x00;
  mbr.writeUIntBE(0x000200, e + 1, 3); // CHS of LBA 1
  mbr[e + 4] = 0xee;
  mbr.writeUIntBE(0xffffff, e + 5, 3);
  mbr.writeUInt32LE(1, e + 8);
  mbr.writeUInt32LE(Math.min(disk.sectors - 1, 0xffffffff), e + 12);
  mbr[510] = 0x55;
  mbr[511] = 0xaa;
  return mbr;
}

/** Reads the primary table from the first 34 sectors of a disk. Throws CakeError('bake') when there is none. */
export function readGpt(head: Buffer): { diskGuid: string; partitions: GptPartition[] } {
  const h = head.subarray(SECTOR, 2 * SECTOR);
  if (head.length < (2 + ARRAY_SECTORS) * SECTOR || h.toString('latin1', 0, 8) !== 'EFI PART') {
    throw new CakeError('bake', 'no GUID partition table');
  }
  const check = Buffer.from(h.subarray(0, 92));
  check.writeUInt32LE(0, 16);
  if (crc32(check) !== h.readUInt32LE(16)) throw new CakeError('bake', 'the GPT header checksum is wrong');
  const arrayLba = Number(h.readBigUInt64LE(72));
  const count = h.readUInt32LE(80);
  const size = h.readUInt32LE(84);
  const partitions: GptPartition[] = [];
  for (let i = 0; i < count; i++) {
    const o = arrayLba * SECTOR + i * size;
    if (o + size > head.length) break;
    const e = head.subarray(o, o + size);
    if (e.subarray(0, 16).every((b) => b === 0)) continue;
    const start = Number(e.readBigUInt64LE(32));
    const name = e.subarray(56, 128).toString('utf16le').replace(/\0.*$/s, '');
    partitions.push({
      type: guidString(e.subarray(0, 16)),
      uuid: guidString(e.subarray(16, 32)),
      name,
      start,
      sectors: Number(e.readBigUInt64LE(40)) - start + 1,
      attributes: e.readBigUInt64LE(48),
    });
  }
  return { diskGuid: guidString(h.subarray(56, 72)), partitions };
}

/** A GUID's 16 bytes in the mixed-endian on-disk order (first three fields little-endian). */
export function guidBytes(guid: string): Buffer {
  const hex = guid.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex) || !/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(guid)) {
    throw new CakeError('internal', `not a GUID: ${guid}`);
  }
  const b = Buffer.from(hex, 'hex');
  return Buffer.concat([Buffer.from(b.subarray(0, 4)).reverse(), Buffer.from(b.subarray(4, 6)).reverse(), Buffer.from(b.subarray(6, 8)).reverse(), b.subarray(8)]);
}

export function guidString(b: Buffer): string {
  const hex = Buffer.concat([Buffer.from(b.subarray(0, 4)).reverse(), Buffer.from(b.subarray(4, 6)).reverse(), Buffer.from(b.subarray(6, 8)).reverse(), b.subarray(8, 16)]).toString('hex').toUpperCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
