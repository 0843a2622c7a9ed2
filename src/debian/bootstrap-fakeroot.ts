/**
 * Ownership while maintainer scripts run: the guest's own fakeroot (faked-sysv + libfakeroot-sysv,
 * from the same archive) runs *inside* the env, whatever the engine, and its save file tells cake
 * what dpkg and the scripts chown'ed, chmod'ed and mknod'ed. Only uid 0 exists in a rootless user
 * namespace (a chown to 42 fails with EINVAL), and a fakeroot around the engine itself would
 * deadlock under ptrace, hence this arrangement.
 *
 * faked's save file (fakeroot 1.31, checked by experiment) has one line per inode:
 *   dev=fe00,ino=2147297,mode=104755,uid=1,gid=42,nlink=1,rdev=0
 * dev in hex, mode in octal (file type included), the others in decimal; rdev is the glibc dev_t.
 */
import { lstatSync, readdirSync, unlinkSync, type BigIntStats } from 'node:fs';
import { CakeError } from '../model/errors.js';
import { bytesFromKey, keyFromBytes, recordOwner, setOwner, type OwnerRecord, type OwnershipTable } from '../archive/ownership.js';

export interface FakedEntry {
  dev: bigint;
  ino: bigint;
  /** st_mode with the file type bits. */
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  rdev: bigint;
}

const LINE = /^dev=([0-9a-f]+),ino=(\d+),mode=([0-7]+),uid=(\d+),gid=(\d+),nlink=(\d+),rdev=(\d+)$/i;

/** Parses a faked save file. Blank lines are skipped; anything else malformed is CakeError('bad-archive'). Pure. */
export function parseFakedSave(text: string): FakedEntry[] {
  const out: FakedEntry[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    const m = LINE.exec(line);
    if (m === null) throw new CakeError('bad-archive', `fakeroot save file, line ${i + 1}: unexpected ${JSON.stringify(line.slice(0, 80))}`);
    out.push({
      dev: BigInt(`0x${m[1]}`),
      ino: BigInt(m[2]!),
      mode: parseInt(m[3]!, 8),
      uid: Number(m[4]),
      gid: Number(m[5]),
      nlink: Number(m[6]),
      rdev: BigInt(m[7]!),
    });
  }
  return out;
}

/** glibc's dev_t encoding (gnu_dev_major/minor): major 12 bits at 8 plus the rest at 32, minor 8 bits at 0 plus 12 at 20. Pure. */
export function decodeDev(dev: bigint): [number, number] {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return [Number(major), Number(minor)];
}

/** The lookup key of an inode. */
export function inodeKey(dev: bigint, ino: bigint): string {
  return `${dev}:${ino}`;
}

const S_IFMT = 0o170000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;
const S_IFREG = 0o100000;

/**
 * The guest script that runs "$@" under libfakeroot against a faked that loads the save file (when
 * it exists) and writes it back when told to stop; it waits for faked to exit so the file is
 * complete when the script returns. `prefix` is the guest dir holding the extracted fakeroot and
 * libfakeroot packages, `lib` the guest path of libfakeroot-sysv.so, `save` the save file's guest
 * path. faked's pid is kept in `<save>.pid` while it runs (see stopFaked). The paths are cake's own
 * (no quoting needed: checked). Pure.
 */
export function fakerootWrapper(prefix: string, lib: string, save: string): string {
  for (const p of [prefix, lib, save]) {
    if (!/^\/[A-Za-z0-9._/+-]+$/.test(p)) throw new CakeError('internal', `unsafe fakeroot path ${JSON.stringify(p)}`);
  }
  return `#!/bin/sh
# cake: "$@" under the guest's libfakeroot; ownership is kept in ${save}
faked=${prefix}/usr/bin/faked-sysv
if [ -s ${save} ]; then
  kp=$("$faked" --load --save-file ${save} < ${save})
else
  kp=$("$faked" --save-file ${save})
fi
key=\${kp%%:*}
pid=\${kp##*:}
if [ -z "$key" ] || [ -z "$pid" ] || [ "$key" = "$kp" ]; then
  echo "cake: faked-sysv did not start" >&2
  exit 111
fi
# cake stops a faked left behind by an interrupted run (the daemon outlives a killed wrapper)
echo "$pid" > ${save}.pid
FAKEROOTKEY=$key FAKED_MODE=unknown-is-root FAKEROOTDONTTRYCHOWN=1 LD_PRELOAD=${lib} "$@"
rc=$?
kill -TERM "$pid"
# faked saves and exits at once; its zombie may wait a while for init, so the state is what counts
while kill -0 "$pid" 2>/dev/null; do
  st=$(cat /proc/$pid/stat 2>/dev/null) || st=
  case $st in *") Z "* | *") X "*) break ;; esac
  sleep 0.01
done
rm -f ${save}.pid
exit $rc
`;
}

export interface ApplyOptions {
  /** Top-level entry names not to walk (cake's private build dirs). */
  skip: readonly string[];
  /** inode key of each table entry when the table was last right (after extraction). */
  baseline: ReadonlyMap<string, string>;
}

export interface ApplyStats {
  /** Paths in the tree (skipped dirs excluded). */
  paths: number;
  /** Paths whose ownership came from faked. */
  faked: number;
  /** Device nodes faked by mknod (recorded, their placeholder file removed). */
  devices: number;
  /** Table entries dropped because their path was replaced or removed since the baseline. */
  dropped: number;
}

/**
 * Rebuilds `table` from the tree at `root`: a path whose inode faked knows gets faked's owner and
 * mode; a path still holding the inode it had at the baseline keeps its record; any other record
 * is dropped (its path was replaced outside faked, or removed). A faked char/block device (mknod
 * under fakeroot leaves an empty regular file) becomes a device record and the placeholder is
 * removed, as the extractor does with device entries. Walks without following symlinks.
 */
export function applyFakedOwnership(root: string, entries: readonly FakedEntry[], table: OwnershipTable, opts: ApplyOptions): ApplyStats {
  const byInode = new Map<string, FakedEntry>();
  for (const e of entries) byInode.set(inodeKey(e.dev, e.ino), e);
  const old: OwnershipTable = { ...table };
  for (const k of Object.keys(table)) delete table[k];
  const stats: ApplyStats = { paths: 0, faked: 0, devices: 0, dropped: 0 };
  const kept = new Set<string>();

  const visit = (abs: Buffer, key: string, st: BigIntStats): void => {
    stats.paths++;
    const ik = inodeKey(st.dev, st.ino);
    const f = byInode.get(ik);
    if (f !== undefined) {
      const type = f.mode & S_IFMT;
      const placeholder = (type === S_IFCHR || type === S_IFBLK || type === S_IFIFO) && st.isFile() && st.size === 0n;
      if (placeholder) {
        // mknod under fakeroot leaves an empty file: record the node, drop the file (as the extractor does)
        const kind = type === S_IFCHR ? 'char' : type === S_IFBLK ? 'block' : 'fifo';
        const rec: OwnerRecord = { uid: f.uid, gid: f.gid, mode: f.mode & 0o7777, kind };
        if (kind !== 'fifo') rec.rdev = decodeDev(f.rdev);
        setOwner(table, key, rec);
        unlinkSync(abs);
        stats.faked++;
        stats.devices++;
        return;
      }
      if (sameKind(type, st)) {
        recordOwner(table, key, { uid: f.uid, gid: f.gid, mode: f.mode & 0o7777 }, Number(st.mode));
        stats.faked++;
        return;
      }
      // another kind of object than faked saw: a reused inode, faked's entry is stale
    }
    const prev = Object.hasOwn(old, key) ? old[key] : undefined;
    if (prev !== undefined && opts.baseline.get(key) === ik) {
      setOwner(table, key, prev);
      kept.add(key);
    }
  };

  const stack: Array<{ abs: Buffer; key: string }> = [{ abs: Buffer.from(root), key: '' }];
  while (stack.length > 0) {
    const { abs, key } = stack.pop()!;
    for (const name of readdirSync(abs, { encoding: 'buffer' })) {
      const childKey = key === '' ? keyFromBytes(name) : `${key}/${keyFromBytes(name)}`;
      if (key === '' && opts.skip.includes(childKey)) continue;
      const childAbs = Buffer.concat([abs, Buffer.from('/'), name]);
      const st = lstatSync(childAbs, { bigint: true, throwIfNoEntry: false });
      if (st === undefined) continue;
      visit(childAbs, childKey, st);
      if (st.isDirectory()) stack.push({ abs: childAbs, key: childKey });
    }
  }
  for (const [k, rec] of Object.entries(old)) {
    if (kept.has(k) || Object.hasOwn(table, k)) continue;
    // a device or fifo the extractor could not create has no file to find: keep it
    if (rec.kind !== undefined && lstatSync(hostPath(root, k), { throwIfNoEntry: false }) === undefined && !opts.skip.includes(k.split('/')[0]!)) {
      setOwner(table, k, rec);
      continue;
    }
    stats.dropped++;
  }
  return stats;
}

function sameKind(type: number, st: BigIntStats): boolean {
  switch (type) {
    case S_IFREG:
      return st.isFile();
    case 0o040000:
      return st.isDirectory();
    case 0o120000:
      return st.isSymbolicLink();
    case S_IFIFO:
      return st.isFIFO();
    default:
      return false;
  }
}

/** Inode keys of the table's paths as they are now (the baseline for {@link applyFakedOwnership}). */
export function snapshotInodes(root: string, table: OwnershipTable): Map<string, string> {
  const out = new Map<string, string>();
  for (const key of Object.keys(table)) {
    const st = lstatSync(hostPath(root, key), { bigint: true, throwIfNoEntry: false });
    if (st !== undefined) out.set(key, inodeKey(st.dev, st.ino));
  }
  return out;
}

function hostPath(root: string, key: string): Buffer {
  return Buffer.concat([Buffer.from(root), Buffer.from('/'), bytesFromKey(key)]);
}
