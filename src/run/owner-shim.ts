/**
 * Files a program creates while it runs as another guest user are that user's (#16.2b). libfakeroot
 * fakes the ids (setuid, seteuid, su, runuser, setpriv succeed and getuid answers the faked id), but
 * a file created afterwards reaches faked with its real owner, the engine's root: PostgreSQL's
 * initdb, run as postgres by pg_createcluster, left 988 of 989 entries of its data directory
 * root:root. pseudo records a creation with the faked fsuid; cake does the same with a tiny shared
 * object of its own, preloaded before libfakeroot in every recorded run and in the bootstrap: it
 * wraps the calls that create a file (open/openat with O_CREAT, creat, fopen/freopen for writing,
 * mkdir, mknod, mkfifo, symlink and their *at forms, mkstemp and mkdtemp and their kin), calls the
 * next definition (libfakeroot's or libc's, found with dlsym(RTLD_NEXT)), and when it created a
 * file while the faked euid or egid is not 0, chowns it to them through libfakeroot's fchownat, so
 * faked records it. For an open without O_EXCL, a file that existed before (faccessat, a raw
 * syscall) is left alone. Generated like the groups shim (shim-elf.ts), nothing compiled, x86_64
 * only; elsewhere creations are recorded as root (a debug message says so).
 *
 * Not covered: programs that create files without these libc calls (static binaries, raw
 * syscalls, io_uring), a setgid parent directory's group (the file gets the egid), unix sockets.
 */
import { Asm, keepShim, shimElf } from './shim-elf.js';

/** Where the guest sees the directory holding the shim. */
export const OWNER_GUEST_DIR = '/.cake/owner';
export const OWNER_SHIM = 'libcake-owner.so';

/** Bumped when the generated object changes. */
const SHIM_FORMAT = 1;

/** How a wrapped call tells that it may have created its path. */
const enum Kind {
  /** success means created (mkdir, symlink, mkstemp…) */
  New = 0,
  /** open flags in `flags`: O_CREAT may create, O_EXCL makes success mean created */
  OFlags = 1,
  /** creat(): may create */
  Creat = 2,
  /** fopen mode string in `flags`: "w…" or "a…" may create */
  FMode = 3,
}

interface Wrapped {
  name: string;
  /** Argument index of the path (0-based). */
  path: number;
  /** Argument index of the directory fd (for *at), or undefined for AT_FDCWD. */
  dirfd?: number;
  kind: Kind;
  /** Argument index of the flags or mode string (OFlags, FMode). */
  flags?: number;
  /** Returns a pointer (NULL on failure) instead of an int (negative on failure). */
  ptr?: boolean;
  /** chown the link itself (symlinks). */
  nofollow?: boolean;
}

const WRAPPED: readonly Wrapped[] = [
  ...['open', 'open64'].map((name) => ({ name, path: 0, kind: Kind.OFlags, flags: 1 })),
  ...['openat', 'openat64'].map((name) => ({ name, path: 1, dirfd: 0, kind: Kind.OFlags, flags: 2 })),
  ...['creat', 'creat64'].map((name) => ({ name, path: 0, kind: Kind.Creat })),
  ...['fopen', 'fopen64', 'freopen', 'freopen64'].map((name) => ({ name, path: 0, kind: Kind.FMode, flags: 1, ptr: true })),
  ...['mkdir', 'mknod', 'mkfifo'].map((name) => ({ name, path: 0, kind: Kind.New })),
  ...['mkdirat', 'mknodat', 'mkfifoat'].map((name) => ({ name, path: 1, dirfd: 0, kind: Kind.New })),
  { name: 'symlink', path: 1, kind: Kind.New, nofollow: true },
  { name: 'symlinkat', path: 2, dirfd: 1, kind: Kind.New, nofollow: true },
  ...['mkstemp', 'mkstemp64', 'mkostemp', 'mkostemp64', 'mkstemps', 'mkstemps64', 'mkostemps', 'mkostemps64'].map((name) => ({ name, path: 0, kind: Kind.New })),
  { name: 'mkdtemp', path: 0, kind: Kind.New, ptr: true },
];

const IMPORTS = ['dlsym', 'geteuid', 'getegid', 'fchownat'] as const;
/** Per wrapped call: next (u64), name - descriptor (i32), path, dirfd (0xff: AT_FDCWD), kind, flags, ptr, pad, at-flags (u16), pad. */
const DESC = 24;
const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;
const SYS_FACCESSAT = 269;
const RTLD_NEXT = -1;

/** The shim for an `arch` (Node's process.arch) host, or undefined where cake has no machine code for it. Pure. */
export function ownerShimElf(arch: string): Buffer | undefined {
  if (arch !== 'x64') return undefined;
  return shimElf({
    exports: WRAPPED.map((w) => w.name),
    imports: IMPORTS,
    dataSize: DESC * WRAPPED.length,
    build(at) {
      const data = Buffer.alloc(DESC * WRAPPED.length);
      WRAPPED.forEach((w, i) => {
        const d = i * DESC;
        data.writeInt32LE(at.str(w.name) - (at.data + d), d + 8);
        data.writeUInt8(w.path, d + 12);
        data.writeUInt8(w.dirfd ?? 0xff, d + 13);
        data.writeUInt8(w.kind, d + 14);
        data.writeUInt8(w.flags ?? 0, d + 15);
        data.writeUInt8(w.ptr === true ? 1 : 0, d + 16);
        data.writeUInt16LE(w.nofollow === true ? AT_SYMLINK_NOFOLLOW : 0, d + 18);
      });
      const a = new Asm(at.code);
      common(a, (n) => at.got(n));
      const entries = new Map<string, number>();
      WRAPPED.forEach((w, i) => {
        entries.set(w.name, a.offset);
        a.rip([0x4c, 0x8d, 0x1d], at.data + i * DESC); // lea r11, [rip+descriptor]
        a.jmp('common');
      });
      return { data, code: a.done(), entries };
    },
  });
}

/**
 * The routine every wrapper jumps to with its descriptor in r11 and the caller's arguments in
 * rdi, rsi, rdx, rcx, r8, r9 (System V). Stack: [rsp+8i] argument i, [rsp+48] scratch/result.
 */
function common(a: Asm, got: (n: string) => number): void {
  a.label('common');
  a.b(0x55, 0x48, 0x89, 0xe5); // push rbp; mov rbp, rsp
  a.b(0x53, 0x41, 0x54, 0x41, 0x55, 0x41, 0x56, 0x41, 0x57); // push rbx, r12, r13, r14, r15
  a.b(0x48, 0x83, 0xec, 0x38); // sub rsp, 56 (16-aligned again)
  a.b(0x48, 0x89, 0x3c, 0x24); // mov [rsp], rdi
  a.b(0x48, 0x89, 0x74, 0x24, 0x08); // mov [rsp+8], rsi
  a.b(0x48, 0x89, 0x54, 0x24, 0x10); // mov [rsp+16], rdx
  a.b(0x48, 0x89, 0x4c, 0x24, 0x18); // mov [rsp+24], rcx
  a.b(0x4c, 0x89, 0x44, 0x24, 0x20); // mov [rsp+32], r8
  a.b(0x4c, 0x89, 0x4c, 0x24, 0x28); // mov [rsp+40], r9
  a.b(0x4c, 0x89, 0xdb); // mov rbx, r11
  // the next definition, looked up once: dlsym(RTLD_NEXT, name)
  a.b(0x48, 0x83, 0x3b, 0x00).jcc(5, 'resolved'); // cmp qword [rbx], 0; jne resolved
  a.b(0x48, 0xc7, 0xc7).imm32(RTLD_NEXT); // mov rdi, -1
  a.b(0x48, 0x63, 0x73, 0x08, 0x48, 0x01, 0xde); // movsxd rsi, [rbx+8]; add rsi, rbx
  a.rip([0xff, 0x15], got('dlsym')); // call [dlsym]
  a.b(0x48, 0x89, 0x03); // mov [rbx], rax
  a.b(0x48, 0x85, 0xc0).jcc(5, 'resolved'); // test rax, rax; jne resolved
  // no next definition (cannot happen with a glibc): fail as the call would
  a.b(0x48, 0xc7, 0x44, 0x24, 0x30).imm32(-1); // mov qword [rsp+48], -1
  a.b(0x80, 0x7b, 0x10, 0x00).jcc(4, 'out'); // cmp byte [rbx+16], 0; je out
  a.b(0x48, 0xc7, 0x44, 0x24, 0x30).imm32(0).jmp('out'); // mov qword [rsp+48], 0
  a.label('resolved');
  a.b(0x0f, 0xb6, 0x43, 0x0c, 0x4c, 0x8b, 0x3c, 0xc4); // movzx eax, byte [rbx+12]; mov r15, [rsp+rax*8]  (path)
  a.b(0x4d, 0x85, 0xff).jcc(4, 'plain'); // test r15, r15; je plain
  a.b(0x49, 0xc7, 0xc6).imm32(AT_FDCWD); // mov r14, AT_FDCWD
  a.b(0x0f, 0xb6, 0x43, 0x0d, 0x3c, 0xff).jcc(4, 'fd'); // movzx eax, byte [rbx+13]; cmp al, 0xff; je fd
  a.b(0x4c, 0x63, 0x34, 0xc4); // movsxd r14, dword [rsp+rax*8]
  a.label('fd');
  a.b(0x0f, 0xb6, 0x43, 0x0f, 0x48, 0x8b, 0x14, 0xc4); // movzx eax, byte [rbx+15]; mov rdx, [rsp+rax*8]  (flags)
  a.b(0x31, 0xc9); // xor ecx, ecx  (ecx: look first whether the path exists)
  a.b(0x0f, 0xb6, 0x43, 0x0e); // movzx eax, byte [rbx+14]  (kind)
  a.b(0x3c, Kind.OFlags).jcc(4, 'oflags'); // cmp al, OFlags; je oflags
  a.b(0x3c, Kind.FMode).jcc(4, 'fmode'); // cmp al, FMode; je fmode
  a.b(0x3c, Kind.New).jcc(4, 'decided'); // cmp al, New; je decided
  a.jmp('check'); // Creat
  a.label('oflags');
  a.b(0xf7, 0xc2).imm32(0x40).jcc(4, 'plain'); // test edx, O_CREAT; je plain
  a.b(0xf7, 0xc2).imm32(0x80).jcc(5, 'decided'); // test edx, O_EXCL; jne decided
  a.jmp('check');
  a.label('fmode');
  a.b(0x0f, 0xb6, 0x12); // movzx edx, byte [rdx]
  a.b(0x80, 0xfa, 0x77).jcc(4, 'check'); // cmp dl, 'w'; je check
  a.b(0x80, 0xfa, 0x61).jcc(5, 'plain'); // cmp dl, 'a'; jne plain
  a.label('check');
  a.b(0xb9).imm32(1); // mov ecx, 1
  a.label('decided');
  a.b(0x48, 0x89, 0x4c, 0x24, 0x30); // mov [rsp+48], rcx
  // the faked ids, through libfakeroot: nothing to do for root
  a.rip([0xff, 0x15], got('geteuid')).b(0x41, 0x89, 0xc5); // call [geteuid]; mov r13d, eax
  a.rip([0xff, 0x15], got('getegid')).b(0x41, 0x89, 0xc4); // call [getegid]; mov r12d, eax
  a.b(0x44, 0x89, 0xe8, 0x44, 0x09, 0xe0).jcc(4, 'plain'); // mov eax, r13d; or eax, r12d; je plain
  a.b(0x48, 0x83, 0x7c, 0x24, 0x30, 0x00).jcc(4, 'act'); // cmp qword [rsp+48], 0; je act
  // faccessat(dirfd, path, F_OK), a raw syscall (errno untouched): an existing file is left alone
  a.b(0x44, 0x89, 0xf7, 0x4c, 0x89, 0xfe, 0x31, 0xd2); // mov edi, r14d; mov rsi, r15; xor edx, edx
  a.b(0xb8).imm32(SYS_FACCESSAT).b(0x0f, 0x05); // mov eax, SYS_faccessat; syscall
  a.b(0x85, 0xc0).jcc(4, 'plain'); // test eax, eax; je plain
  a.label('act');
  restoreArgs(a);
  a.b(0x31, 0xc0, 0xff, 0x13); // xor eax, eax (no vector args); call [rbx]
  a.b(0x48, 0x89, 0x44, 0x24, 0x30); // mov [rsp+48], rax
  a.b(0x80, 0x7b, 0x10, 0x00).jcc(5, 'ptr'); // cmp byte [rbx+16], 0; jne ptr
  a.b(0x85, 0xc0).jcc(8, 'out').jmp('chown'); // test eax, eax; js out
  a.label('ptr');
  a.b(0x48, 0x85, 0xc0).jcc(4, 'out'); // test rax, rax; je out
  a.label('chown');
  // fchownat(dirfd, path, euid, egid, at-flags): libfakeroot's, so faked records the owner
  a.b(0x44, 0x89, 0xf7, 0x4c, 0x89, 0xfe); // mov edi, r14d; mov rsi, r15
  a.b(0x44, 0x89, 0xea, 0x44, 0x89, 0xe1); // mov edx, r13d; mov ecx, r12d
  a.b(0x44, 0x0f, 0xb7, 0x43, 0x12); // movzx r8d, word [rbx+18]
  a.rip([0xff, 0x15], got('fchownat'));
  a.label('out');
  a.b(0x48, 0x8b, 0x44, 0x24, 0x30); // mov rax, [rsp+48]
  epilogue(a);
  a.b(0xc3); // ret
  // nothing to record: the next definition, as if called directly
  a.label('plain');
  a.b(0x4c, 0x8b, 0x1b); // mov r11, [rbx]
  restoreArgs(a);
  epilogue(a);
  a.b(0x31, 0xc0, 0x41, 0xff, 0xe3); // xor eax, eax; jmp r11
}

function restoreArgs(a: Asm): void {
  a.b(0x48, 0x8b, 0x3c, 0x24); // mov rdi, [rsp]
  a.b(0x48, 0x8b, 0x74, 0x24, 0x08); // mov rsi, [rsp+8]
  a.b(0x48, 0x8b, 0x54, 0x24, 0x10); // mov rdx, [rsp+16]
  a.b(0x48, 0x8b, 0x4c, 0x24, 0x18); // mov rcx, [rsp+24]
  a.b(0x4c, 0x8b, 0x44, 0x24, 0x20); // mov r8, [rsp+32]
  a.b(0x4c, 0x8b, 0x4c, 0x24, 0x28); // mov r9, [rsp+40]
}

function epilogue(a: Asm): void {
  a.b(0x48, 0x83, 0xc4, 0x38); // add rsp, 56
  a.b(0x41, 0x5f, 0x41, 0x5e, 0x41, 0x5d, 0x41, 0x5c, 0x5b, 0x5d); // pop r15, r14, r13, r12, rbx, rbp
}

/**
 * The directory (to bind at OWNER_GUEST_DIR) holding the shim, written once under
 * `<cacheDir>/owner/`; undefined where ownerShimElf has none.
 */
export async function prepareOwnerShim(cacheDir: string, arch: string = process.arch): Promise<string | undefined> {
  const elf = ownerShimElf(arch);
  if (elf === undefined) return undefined;
  return keepShim(cacheDir, 'owner', `cake-owner ${SHIM_FORMAT}`, OWNER_SHIM, elf);
}
