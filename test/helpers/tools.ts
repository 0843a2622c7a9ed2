import { spawnSync } from 'node:child_process';

/**
 * One place for "this test needs a host tool (or a fixture cache)". Without it a test skips;
 * under CAKE_TEST_STRICT=1, which scripts/test.sh (`npm test`, CI) sets, it fails instead, naming
 * what is missing, so a tool that CI lost never turns a suite silently green.
 */
export function strict(): boolean {
  return process.env.CAKE_TEST_STRICT === '1';
}

/** The host has each command on PATH (or in /usr/sbin, /sbin, for tools such as mkfs.ext4 when PATH lacks them). */
export function haveCommand(...cmds: string[]): boolean {
  return cmds.every((c) => spawnSync('sh', ['-c', `command -v ${c} || test -x /usr/sbin/${c} || test -x /sbin/${c}`], { stdio: 'ignore' }).status === 0);
}

function absent(what: string): string {
  return `${what} is missing (install it: scripts/test-packages.txt, scripts/host-packages.txt)`;
}

/**
 * For `describe.skipIf(...)` / `it.skipIf(...)`: true (skip) when `present` is false. Under
 * CAKE_TEST_STRICT=1 it throws instead, which fails the test file.
 */
export function missing(what: string, present: boolean): boolean {
  if (present) return false;
  if (strict()) throw new Error(`${absent(what)}, and CAKE_TEST_STRICT=1 turns the skip into a failure`);
  process.stderr.write(`skipped: ${absent(what)}\n`);
  return true;
}

/** {@link missing} for commands: names the ones that are not there. */
export function missingCommands(...cmds: string[]): boolean {
  const gone = cmds.filter((c) => !haveCommand(c));
  return missing(gone.join(', '), gone.length === 0);
}

/** Inside a test, when `what` is missing: skips it, or fails it under CAKE_TEST_STRICT=1. */
export function skipMissing(ctx: { skip: (note?: string) => void }, what: string): void {
  if (strict()) throw new Error(`${absent(what)}, and CAKE_TEST_STRICT=1 turns the skip into a failure`);
  ctx.skip(absent(what));
}

/** Inside a test: {@link skipMissing} when `present` is false. */
export function skipUnless(ctx: { skip: (note?: string) => void }, what: string, present: boolean): void {
  if (!present) skipMissing(ctx, what);
}
