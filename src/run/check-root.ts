import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, realpath, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CakeError } from '../model/errors.js';
import { findHostProgram } from './host-tools.js';

/**
 * The self-check's scratch rootfs: copies of the HOST's sh, stat, cat, ls and readlink with their
 * shared-library closure (from `ldd`), plus a few files whose guest content differs from the
 * host's. Using the host's own tools makes the check independent of any guest and of a compiler:
 * GNU stat calls statx(2) on glibc ≥ 2.28, which is exactly what a broken proot fails to
 * translate. A statically linked or busybox tool is copied alone.
 */
export const CHECK_PROGRAMS: Readonly<Record<string, string>> = {
  sh: '/bin/sh',
  stat: '/usr/bin/stat',
  cat: '/usr/bin/cat',
  ls: '/usr/bin/ls',
  readlink: '/usr/bin/readlink',
};

export interface CheckRoot {
  root: string;
  /** Size in bytes of the guest's /etc/passwd (differs from the host's). */
  passwdSize: number;
  /** Size of the host's /etc/passwd, to recognise "stat shows host files". */
  hostPasswdSize: number | undefined;
}

/** Lists the absolute paths `ldd` prints for a program; [] for a static one or without ldd. */
async function sharedLibraries(program: string): Promise<string[]> {
  const out = await new Promise<string>((resolve) => {
    execFile('ldd', [program], { env: { PATH: '/usr/bin:/bin', LC_ALL: 'C' }, timeout: 10_000 }, (_err, stdout) => resolve(String(stdout)));
  });
  const libs: string[] = [];
  for (const line of out.split('\n')) {
    // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
    const m = /(?:=>\s*)?(\/\S+)\s+\(0x[0-9a-f]+\)/.exec(line);
    if (m) libs.push(m[1]!);
  }
  return libs;
}

async function copyInto(root: string, guestPath: string, hostFile: string): Promise<void> {
  const dst = join(root, guestPath);
  await mkdir(dirname(dst), { recursive: true });
  await copyFile(await realpath(hostFile), dst);
  await chmod(dst, 0o755);
}

/**
 * Builds a fresh check rootfs in a new directory under `parent` and returns it. The caller
 * removes it. Fails with CakeError('missing-tool') when the host lacks one of the programs.
 */
export async function buildCheckRoot(parent: string, hostEnv: Record<string, string | undefined>): Promise<CheckRoot> {
  await mkdir(parent, { recursive: true });
  const root = await mkdtemp(join(parent, 'root-'));
  for (const [name, guestPath] of Object.entries(CHECK_PROGRAMS)) {
    const host = await findHostProgram(name, hostEnv);
    if (host === undefined) throw new CakeError('missing-tool', `${name} is not installed (the engine self-check needs it)`);
    await copyInto(root, guestPath, host);
    for (const lib of await sharedLibraries(host)) await copyInto(root, lib, lib);
  }
  for (const d of ['dev', 'proc', 'sys', 'tmp', 'root', 'cake-check']) await mkdir(join(root, d), { recursive: true });
  let hostPasswdSize: number | undefined;
  try {
    hostPasswdSize = (await stat('/etc/passwd')).size;
  } catch {
    hostPasswdSize = undefined;
  }
  let passwd = 'root:x:0:0:cake engine self-check:/root:/bin/sh\n';
  if (passwd.length === hostPasswdSize) passwd += '# padding\n';
  await mkdir(join(root, 'etc'), { recursive: true });
  await writeFile(join(root, 'etc/passwd'), passwd);
  await writeFile(join(root, 'cake-check/marker'), 'guest-only\n');
  await writeFile(join(root, 'cake-check/hello.sh'), 'echo hello-ok\n', { mode: 0o644 });
  return { root, passwdSize: passwd.length, hostPasswdSize };
}

/**
 * Runs in the guest as `sh -c CHECK_SCRIPT cake-check HOST_ROOT PASSWD_SIZE HOST_PASSWD_SIZE EXPECT_UID`
 * with cwd /cake-check. One line per check: `name|ok|detail` or `name|fail|detail`. Uses only sh builtins
 * and the five copied programs.
 */
export const CHECK_SCRIPT = `r() { printf '%s|%s|%s\\n' "$1" "$2" "$3"; }
host_root=$1 passwd_size=$2 host_passwd_size=$3 expect_uid=$4
s=$(stat -c %s /etc/passwd 2>&1)
if [ "$s" = "$passwd_size" ]; then r stat-size ok "stat agrees with the guest file"
elif [ "$s" = "$host_passwd_size" ]; then r stat-size fail "stat shows host files (statx not translated)"
else r stat-size fail "stat reports $s bytes for a guest file of $passwd_size bytes"; fi
f=/cake-check/new.$$
if echo cake > "$f" 2>/dev/null; then
  s=$(stat -c %s "$f" 2>&1)
  l=$(ls /cake-check 2>&1)
  case "$s:$l" in 5:*new.$$*) r new-file ok "a new file is visible to stat and ls";; *) r new-file fail "a file created in the guest is invisible to stat or ls: $s";; esac
  u=$(stat -c %u "$f" 2>&1)
  if [ "$u" = "$expect_uid" ]; then r owner ok "new files belong to uid $u"; else r owner fail "a new file belongs to uid $u, expected $expect_uid"; fi
else
  r new-file fail "cannot create a file in the guest"
fi
o=$(sh /cake-check/hello.sh 2>&1)
if [ "$o" = hello-ok ]; then r script-by-path ok "scripts open by path"; else r script-by-path fail "a guest script cannot be opened by path: $o"; fi
e=$(readlink /proc/self/exe 2>&1)
if [ "$e" = /usr/bin/readlink ]; then r proc-self-exe ok "/proc/self/exe is a guest path"; else r proc-self-exe fail "/proc/self/exe is $e, not /usr/bin/readlink"; fi
c=$(readlink /proc/self/cwd 2>&1)
if [ "$c" = /cake-check ]; then r cwd ok "the working directory is a guest path"; else r cwd fail "the working directory reads as $c, not /cake-check"; fi
if [ -e "$host_root/cake-check/marker" ] || cat "$host_root/cake-check/marker" >/dev/null 2>&1; then r confined fail "host files outside the binds are reachable ($host_root)"; else r confined ok "host files outside the binds are unreachable"; fi
`;
