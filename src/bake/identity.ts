/**
 * The identifiers of a baked image — filesystem UUIDs, partition GUIDs, the ext4 hash seed, the
 * FAT volume id — derived from one seed (by default the env's tree hash), so the same env and
 * options give the same image while different envs get different identifiers. Pure.
 */
import { createHash } from 'node:crypto';

export interface ImageIds {
  diskGuid: string;
  espPartUuid: string;
  rootPartUuid: string;
  /** The ext4 filesystem UUID (root=UUID=… on the kernel command line). */
  rootFsUuid: string;
  rootHashSeed: string;
  /** FAT volume id, 8 hex digits (shown as XXXX-XXXX). */
  espVolumeId: string;
}

/** A version-4-shaped UUID (lowercase) made from sha256(seed, label): stable, not random. */
export function derivedUuid(seed: string, label: string): string {
  const b = createHash('sha256').update(`cake-bake\0${seed}\0${label}`).digest().subarray(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

export function imageIds(seed: string): ImageIds {
  return {
    diskGuid: derivedUuid(seed, 'disk').toUpperCase(),
    espPartUuid: derivedUuid(seed, 'esp-partition').toUpperCase(),
    rootPartUuid: derivedUuid(seed, 'root-partition').toUpperCase(),
    rootFsUuid: derivedUuid(seed, 'root-filesystem'),
    rootHashSeed: derivedUuid(seed, 'root-hash-seed'),
    espVolumeId: createHash('sha256').update(`cake-bake\0${seed}\0esp-volume-id`).digest('hex').slice(0, 8),
  };
}
