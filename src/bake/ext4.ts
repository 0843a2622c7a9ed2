/**
 * The root filesystem: `mkfs.ext4 -d` from the prepared tree (rootless), made in place in the
 * disk image at the root partition's offset, then one debugfs run
 * that makes every inode what a root install would have — owner, group and mode from the
 * ownership table (files on disk all belong to the user running cake), access and change times
 * equal to the (clamped) modification time, the device nodes the system needs before devtmpfs.
 * Reproducible: a pinned mke2fs configuration (host defaults cannot leak in), fixed UUID and
 * directory hash seed, E2FSPROGS_FAKE_TIME for the times mke2fs itself stamps, the lifetime-writes
 * counter (s_kbytes_written) set to 0.
 */
import { rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { CakeError } from '../model/errors.js';
import type { Logger } from '../model/logger.js';
import type { TreeEntry } from './rootfs-tree.js';
import type { ToolRunner } from './tools.js';

export interface Owner {
  uid: number;
  gid: number;
  /** Permission bits, 0o7777. */
  mode: number;
}

export interface DeviceNode {
  /** Relative path, e.g. dev/console. */
  path: string;
  kind: 'char' | 'block';
  major: number;
  minor: number;
  owner: Owner;
}

export interface Ext4Input {
  /** The prepared tree (see rootfs-tree.ts buildFarm). */
  tree: string;
  /** The final walk of `tree`, sorted. */
  entries: readonly TreeEntry[];
  /** The real owner of an entry. */
  owner(e: TreeEntry): Owner;
  devices: readonly DeviceNode[];
  /** The disk image file the filesystem is made in (it exists), at `offset` bytes. */
  image: string;
  offset: number;
  bytes: number;
  uuid: string;
  hashSeed: string;
  label: string;
  sourceDateEpoch: number;
  /** Where to put the mke2fs configuration and the debugfs script. */
  workDir: string;
}

const BLOCK = 4096;
const INODE_SIZE = 256;
const MIB = 1024 * 1024;

const MKE2FS_CONF = `[defaults]
	base_features = sparse_super,large_file,filetype,resize_inode,dir_index,ext_attr
	default_mntopts = acl,user_xattr
	enable_periodic_fsck = 0
	blocksize = ${BLOCK}
	inode_size = ${INODE_SIZE}
	inode_ratio = 16384
	reserved_ratio = 5.0
	lazy_itable_init = false
	lazy_journal_init = false
[fs_types]
	ext4 = {
		features = has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize
	}
	default = {
	}
`;

/** The journal mke2fs makes for a filesystem of `blocks` blocks (ext2fs_default_journal_size). */
function journalBlocks(blocks: number): number {
  if (blocks < 2048) return 0;
  if (blocks < 32768) return 1024;
  if (blocks < 256 * 1024) return 4096;
  if (blocks < 512 * 1024) return 8192;
  if (blocks < 4096 * 1024) return 16384;
  if (blocks < 8192 * 1024) return 32768;
  if (blocks < 16384 * 1024) return 65536;
  return 131072;
}

export interface Ext4Estimate {
  /** Smallest filesystem the tree fits in (bytes, MiB-aligned). */
  minBytes: number;
  /** `--size auto`: the minimum plus headroom. */
  autoBytes: number;
  inodes: number;
}

/** How large the filesystem of `entries` must be (data, directories, inodes, journal, metadata). */
export function estimateExt4(entries: readonly TreeEntry[], extraFiles: number): Ext4Estimate {
  let blocks = 0;
  const dirBytes = new Map<string, number>();
  for (const e of entries) {
    if (e.kind === 'file') blocks += Math.ceil(e.st.size / BLOCK) + (e.st.size > 64 * MIB ? Math.ceil(e.st.size / (128 * MIB)) : 0);
    else if (e.kind === 'symlink' && e.st.size >= 60) blocks += 1;
    const slash = e.rel.lastIndexOf(0x2f);
    const parent = slash < 0 ? '' : e.rel.subarray(0, slash).toString('latin1');
    const name = e.rel.length - slash - 1;
    dirBytes.set(parent, (dirBytes.get(parent) ?? 24) + 8 + Math.ceil(name / 4) * 4);
  }
  for (const bytes of dirBytes.values()) blocks += Math.max(1, Math.ceil((bytes * 1.25) / BLOCK));
  const inodes = Math.ceil((entries.length + extraFiles) * 1.25) + 1024;
  const inodeBlocks = Math.ceil((inodes * INODE_SIZE) / BLOCK);
  const base = blocks + inodeBlocks;
  // bitmaps, group descriptors and their backups, reserved GDT blocks: a few percent
  const meta = Math.ceil(base * 0.04) + 1024;
  const core = base + meta;
  const total = core + journalBlocks(core);
  const minBytes = Math.ceil((total * BLOCK) / MIB) * MIB + 4 * MIB;
  const autoBytes = Math.ceil((minBytes * 1.25 + 64 * MIB) / MIB) * MIB;
  return { minBytes, autoBytes, inodes };
}

/** debugfs quoting: the whole path in double quotes, a quote doubled. */
function quotePath(rel: Buffer): Buffer {
  const parts: Buffer[] = [Buffer.from('"/')];
  let start = 0;
  for (let i = 0; i < rel.length; i++) {
    if (rel[i] === 0x22) {
      parts.push(rel.subarray(start, i + 1), Buffer.from('"'));
      start = i + 1;
    }
  }
  parts.push(rel.subarray(start), Buffer.from('"'));
  return Buffer.concat(parts);
}

const TYPE_BITS = { file: 0o100000, dir: 0o040000, symlink: 0o120000, fifo: 0o010000 } as const;

/**
 * The debugfs script that fixes owners, modes and times and adds the device nodes. Entries whose
 * name holds a newline cannot be addressed by debugfs: they are returned in `skipped`.
 */
export function fixupScript(input: Pick<Ext4Input, 'entries' | 'owner' | 'devices' | 'sourceDateEpoch'>): { script: Buffer; commands: number; skipped: string[] } {
  const lines: Buffer[] = [];
  const skipped: string[] = [];
  const seen = new Set<number>();
  const sde = input.sourceDateEpoch;
  const cmd = (path: Buffer, field: string, value: string | number): void => {
    lines.push(Buffer.concat([Buffer.from('sif '), path, Buffer.from(` ${field} ${value}\n`)]));
  };
  for (const e of input.entries) {
    if (seen.has(e.st.ino)) continue;
    seen.add(e.st.ino);
    if (e.rel.includes(0x0a)) {
      skipped.push(e.rel.toString('utf8'));
      continue;
    }
    const path = e.rel.length === 0 ? Buffer.from('/') : quotePath(e.rel);
    const want = e.rel.length === 0 ? { uid: 0, gid: 0, mode: 0o755 } : input.owner(e);
    if (want.uid !== e.st.uid) cmd(path, 'uid', want.uid);
    if (want.gid !== e.st.gid) cmd(path, 'gid', want.gid);
    if (e.kind !== 'symlink' && want.mode !== (e.st.mode & 0o7777)) cmd(path, 'mode', `0${(TYPE_BITS[e.kind] | want.mode).toString(8)}`);
    const mtime = Math.floor(e.st.mtimeMs / 1000);
    // '@' makes debugfs read seconds: a bare number can parse as a YYYYMMDD… date
    const t = Math.min(mtime, sde);
    if (t !== mtime) cmd(path, 'mtime', `@${t}`);
    cmd(path, 'atime', `@${t}`);
    cmd(path, 'ctime', `@${t}`);
  }
  for (const d of input.devices) {
    const slash = d.path.lastIndexOf('/');
    const dir = slash < 0 ? '/' : `/${d.path.slice(0, slash)}`;
    const name = d.path.slice(slash + 1);
    lines.push(Buffer.from(`cd "${dir}"\nmknod ${name} ${d.kind === 'char' ? 'c' : 'b'} ${d.major} ${d.minor}\ncd /\n`));
    const p = quotePath(Buffer.from(d.path));
    cmd(p, 'uid', d.owner.uid);
    cmd(p, 'gid', d.owner.gid);
    cmd(p, 'mode', `0${((d.kind === 'char' ? 0o020000 : 0o060000) | d.owner.mode).toString(8)}`);
    for (const f of ['atime', 'ctime', 'mtime', 'crtime']) cmd(p, f, `@${sde}`);
  }
  // the superblock's lifetime-writes counter counts what mke2fs and this run wrote (it differs
  // between runs): 0, which e2fsprogs leaves alone on close
  lines.push(Buffer.from('ssv kbytes_written 0\n'));
  return { script: Buffer.concat(lines), commands: lines.length, skipped };
}

/**
 * Creates the filesystem image. Throws CakeError('bake') when the tree does not fit (with the
 * size it needs) or a tool fails.
 */
export async function buildExt4(input: Ext4Input, tools: ToolRunner, logger: Logger): Promise<{ commands: number }> {
  const conf = `${input.workDir}/mke2fs.conf`;
  writeFileSync(conf, MKE2FS_CONF);
  const env = { MKE2FS_CONFIG: conf, E2FSPROGS_FAKE_TIME: String(input.sourceDateEpoch) };
  const est = estimateExt4(input.entries, input.devices.length);
  const inodes = Math.max(est.inodes, Math.ceil(input.bytes / 16384));
  const args = ['-q', '-F', '-t', 'ext4', '-T', 'default', '-b', String(BLOCK), '-I', String(INODE_SIZE), '-N', String(inodes), '-m', '5'];
  args.push('-U', input.uuid, '-E', `offset=${input.offset},hash_seed=${input.hashSeed},root_owner=0:0`, '-L', input.label, '-d', input.tree, input.image, `${Math.floor(input.bytes / 1024)}k`);
  try {
    await tools.run('mkfs.ext4', args, { what: 'creating the root filesystem', env });
  } catch (err) {
    if (err instanceof CakeError && /No space left|Could not allocate block|ran out of|too small|inode table/i.test(err.message)) {
      throw new CakeError('bake', `the env does not fit in a root filesystem of ${Math.round(input.bytes / MIB)} MiB (it needs about ${Math.round(est.minBytes / MIB)} MiB)`, {
        hint: 'give a larger --size, or --size auto',
        cause: err,
      });
    }
    throw err;
  }
  const fix = fixupScript(input);
  for (const s of fix.skipped) logger.warn(`cannot set the owner of ${JSON.stringify(s)} (a newline in its name): it keeps the baker's uid`);
  const script = `${input.workDir}/fixup.debugfs`;
  writeFileSync(script, fix.script);
  // debugfs takes the offset as an I/O option after '?' in the device name (e2fsprogs' unix_io);
  // a link with a plain name keeps a '?' in the image's own path from being read as one
  const device = `${input.workDir}/disk.raw`;
  rmSync(device, { force: true });
  symlinkSync(input.image, device);
  const { stderr } = await tools.run('debugfs', ['-w', '-f', script, `${device}?offset=${input.offset}`], { what: 'setting owners, modes and times in the root filesystem', env });
  const problems = stderr.split('\n').filter((l) => l.trim() !== '' && !/^debugfs \d/.test(l));
  if (problems.length > 0) {
    throw new CakeError('bake', `setting owners, modes and times in the root filesystem: debugfs: ${problems.slice(0, 3).join('; ')}`);
  }
  return { commands: fix.commands };
}
