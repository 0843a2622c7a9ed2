/**
 * A foreign-architecture Debian env through the built CLI from the real deb.debian.org: bookworm
 * for arm64 on an x86_64 host (amd64 on an arm64 one), the smallest set the CLI builds
 * (`--variant essential`, whose maintainer scripts run emulated), then `cake exec uname -m`.
 * Runs with whichever runner the host allows (the kernel's binfmt_misc handler with the F flag
 * under userns, else cake's own proot with qemu-user's -q) and checks it is never the system
 * proot. Needs qemu-user-static (scripts/host-packages.txt); under CAKE_TEST_STRICT=1 its absence
 * fails the file instead of skipping it.
 */
import { openSync, readSync, closeSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cake, freshHome } from '../../helpers/cli.js';
import { missingCommands } from '../../helpers/tools.js';

const onArm = process.arch === 'arm64';
const platform = onArm ? 'linux/amd64' : 'linux/arm64';
const uname = onArm ? 'x86_64' : 'aarch64';
/** ELF e_machine: EM_X86_64 = 0x3e, EM_AARCH64 = 0xb7. */
const machine = onArm ? 0x3e : 0xb7;
const qemu = `qemu-${uname}-static`;

const home = freshHome('cake-foreign-');

/** e_machine of an ELF file (little-endian, as both architectures are). */
function elfMachine(path: string): number {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(20);
    readSync(fd, b, 0, 20, 0);
    expect(b.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    return b.readUInt16LE(18);
  } finally {
    closeSync(fd);
  }
}

describe.skipIf(missingCommands(qemu))(`debian:bookworm --platform ${platform} from deb.debian.org`, () => {
  afterAll(() => home.cleanup());

  it(`builds the essential set for ${uname} and runs its programs: uname -m says ${uname}`, async () => {
    const t0 = performance.now();
    const r = await cake(home.home, ['pull', 'debian:bookworm', '--platform', platform, '--variant', 'essential', '--name', 'foreign']);
    expect(r.code, r.stderr).toBe(0);
    process.stdout.write(`foreign ${platform} essential build: ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
    const envDir = join(home.home, 'v1/envs/foreign');
    const rec = JSON.parse(readFileSync(join(envDir, 'env.json'), 'utf8')) as { arch: string; resolved: { packages: { name: string }[] } };
    expect(rec.arch).toBe(uname);
    expect(rec.resolved.packages.map((p) => p.name)).toEqual(expect.arrayContaining(['base-files', 'coreutils', 'dpkg', 'libc6']));
    // the packages really are the guest's: its programs are ELF files for the guest's machine
    expect(elfMachine(join(envDir, 'rootfs/usr/bin/uname'))).toBe(machine);

    const u = await cake(home.home, ['-v', 'exec', 'foreign', '--', 'uname', '-m']);
    expect(u.code, u.stderr).toBe(0);
    expect(u.stdout.trim()).toBe(uname);
    // the runner is the kernel's handler or cake's provisioned proot with qemu-user, never the system proot
    const engine = u.stderr.split('\n').find((l) => l.startsWith('engine ')) ?? '';
    expect(engine).toMatch(new RegExp(`env foreign is ${uname}: (the kernel runs ${uname} programs through .* \\(binfmt_misc .*, F flag\\)|no binfmt_misc handler with the F flag for ${uname}: proot with \\S*${qemu})`));
    expect(engine).not.toContain('engine proot (/usr/bin/proot)');
    process.stdout.write(`foreign runner: ${engine}\n`);

    // the guest's own dpkg (emulated) finds a consistent database: every maintainer script ran
    const audit = await cake(home.home, ['exec', 'foreign', '--', 'dpkg', '--audit']);
    expect(audit).toMatchObject({ code: 0, stdout: '' });
    const arch = await cake(home.home, ['exec', 'foreign', '--', 'dpkg', '--print-architecture']);
    expect(arch.stdout.trim()).toBe(platform.split('/')[1]);
  }, 1_200_000);
});
