import { OptionError } from '../model/errors.js';
import { guestCommandWords, HOST_HELPER_ENV, type HostCommand } from './command.js';
import type { RunPlan } from './plan.js';
import { DEV_NODES, GUEST_ENV_HELPER } from './run-dir.js';

/** A proot binary and what it can do (see proot-tool.ts). */
export interface ProotTool {
  binary: string;
  /** proot-me (upstream, Debian) or termux (has -L, --sysvipc, ...): their CLIs differ. */
  fork: 'proot-me' | 'termux';
  /** Whether `--kill-on-exit` exists (Debian's 5.1.0 lacks it; 5.4 and termux have it). */
  killOnExit: boolean;
  /** Variables proot itself needs (a provisioned proot's PROOT_LOADER, ...). Not for the guest. */
  env: Record<string, string>;
}

/** Where this run's pieces are (engine.ts). */
export interface ProotLayout {
  /** The run directory's /dev skeleton (run-dir.ts), shown as the guest's /dev. */
  dev: string;
  /** A directory shown as /proc/1 (its `root` is an empty directory), so chroot detection (ischroot) sees a chroot. */
  initRoot: string;
  /** The static busybox shown as GUEST_ENV_HELPER. */
  busybox: string;
  /** The caller's terminal device, shown as /dev/console. */
  console?: string;
}

/**
 * proot argv for a plan: `proot -v -1 -r ROOT -w CWD (-0 | -i UID:GID) [-k REL] [--kill-on-exit]
 * [-L (termux)] [-q QEMU] -b SRC:DST... GUEST_ENV_HELPER env -i K=V... ARGV...`. The guest sees a
 * private /dev (the run directory's skeleton with the host's null zero full random urandom tty
 * and pts bound in, a private shm directory), the host's /proc and /sys (proot can give neither a
 * PID namespace nor read-only binds: see README "What an env shares with the host"), and
 * /proc/1 as a directory whose `root` is not its `/` (the host's init is not the guest's business). proot itself runs with cake's environment
 * (plus its own PROOT_* and PROOT_NO_SECCOMP=1 when seccomp acceleration is off); the guest's is
 * applied by the static helper inside the guest. `-v -1` keeps proot quiet except on fatal errors
 * (it otherwise reports every guest death by signal). Pure.
 */
export function buildProotCommand(plan: RunPlan, tool: ProotTool, seccomp: boolean, layout: ProotLayout): HostCommand {
  const args = ['-v', '-1', '-r', plan.root, '-w', plan.cwd];
  if (plan.user.uid === 0 && plan.user.gid === 0) args.push('-0');
  else args.push('-i', `${plan.user.uid}:${plan.user.gid}`);
  if (plan.kernelRelease !== undefined) args.push('-k', plan.kernelRelease);
  if (tool.killOnExit) args.push('--kill-on-exit');
  // termux's -L reports symlink sizes the way dpkg expects; its Android-only extensions
  // (--link2symlink, --sysvipc, --ashmem-memfd) are not needed on Linux hosts.
  if (tool.fork === 'termux') args.push('-L');
  if (plan.qemu !== undefined) args.push('-q', plan.qemu);
  // Always SRC:DST: proot splits at the last colon, so a host path with a colon stays whole.
  const bind = (src: string, dst: string): void => void args.push('-b', `${src}:${dst}`);
  bind(layout.dev, '/dev');
  for (const n of DEV_NODES) bind(`/dev/${n}`, `/dev/${n}`);
  bind('/dev/pts', '/dev/pts');
  if (layout.console !== undefined) bind(layout.console, '/dev/console');
  bind(layout.busybox, GUEST_ENV_HELPER);
  bind('/proc', '/proc');
  bind(layout.initRoot, '/proc/1');
  bind('/sys', '/sys');
  for (const m of plan.mounts) {
    // proot has no read-only binds: refuse rather than let the guest write.
    if (m.readonly) throw new OptionError(['binds', 'engine'], `{binds} ${m.src}:${m.dst}:ro: the proot engine cannot make a bind read-only`, 'use {engine} userns, or bind without :ro');
    bind(m.src, m.dst);
  }
  args.push(...guestCommandWords(plan.env, plan.argv));
  const env: Record<string, string> = { ...HOST_HELPER_ENV, ...tool.env };
  if (!seccomp) env.PROOT_NO_SECCOMP = '1';
  return { file: tool.binary, args, env };
}
