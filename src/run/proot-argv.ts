import { UsageError } from '../model/errors.js';
import { splitLoaderVars, type HostCommand } from './command.js';
import type { RunPlan } from './plan.js';

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

/**
 * proot argv for a plan: `proot -v -1 -r ROOT -w CWD (-0 | -i UID:GID) [-k REL] [--kill-on-exit]
 * [-L (termux)] [-q QEMU] -b SRC:DST... [GUEST-ENV LD_*=...] ARGV...`, with the clean guest environment plus
 * PROOT_NO_SECCOMP=1 when seccomp acceleration is off. `-v -1` keeps proot quiet except on
 * fatal errors (it otherwise reports every guest death by signal). Pure.
 */
export function buildProotCommand(plan: RunPlan, tool: ProotTool, seccomp: boolean): HostCommand {
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
  for (const m of plan.mounts) {
    // proot has no read-only binds: refuse rather than let the guest write.
    if (m.readonly) throw new UsageError(`--bind ${m.src}:${m.dst}:ro: the proot engine cannot make a bind read-only`, 'use --engine userns, or bind without :ro');
    args.push('-b', `${m.src}:${m.dst}`);
  }
  const { outer, inner } = splitLoaderVars(plan.env, plan.guestEnvProgram);
  args.push(...inner, ...plan.argv);
  const env: Record<string, string> = { ...outer, ...tool.env };
  if (!seccomp) env.PROOT_NO_SECCOMP = '1';
  return { file: tool.binary, args, env };
}
