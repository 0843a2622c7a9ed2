import { constants } from 'node:os';
import { guestCommandWords, HOST_HELPER_ENV, shQuote, type HostCommand } from './command.js';
import type { RunPlan } from './plan.js';
import { DEV_NODES } from './run-dir.js';

export { HOST_HELPER_ENV } from './command.js';

/** Host programs the userns engine runs (absolute paths; util-linux, dumb-init, a static busybox, coreutils env). */
export interface UsernsTools {
  unshare: string;
  setpriv: string;
  env: string;
  dumbInit: string;
  /**
   * A statically linked busybox: the guest-side env helper, the shell of the setup script and its
   * `mount` (a static exec costs a third of util-linux mount's, which loads libmount, libblkid and
   * libselinux and reads the mount table for each of the ~35 calls). A remount takes the mount's
   * current flags from /proc/mounts, as util-linux does, so a locked nosuid/nodev stays set.
   */
  busybox: string;
}

/** Where this run's pieces are: decided by engine.ts before the argv is built. */
export interface UsernsLayout {
  /** The run directory (run-dir.ts): stages `proc/`, `sys/` and the /dev skeleton `dev/`. */
  runDir: string;
  /** Symlink-free guest paths of the env's /dev, /proc and /sys mount points. */
  dev: string;
  proc: string;
  sys: string;
  /** Symlink-free guest destination of each `plan.mounts[i]` (default: its `dst`). */
  dsts?: readonly string[];
  /** Host mount points below /sys (parents first), each made read-only too. */
  sysSubmounts: readonly string[];
  /** The caller's terminal device, shown as /dev/console (so ttyname() works in the guest). */
  console?: string;
  /** A terminal is involved: dumb-init forwards no SIGINT/SIGQUIT/SIGWINCH (the terminal sends them to the guest itself). */
  terminal: boolean;
  /**
   * Where engine.ts wrote usernsSetupScript(): the setup shell runs this file (so the guest's
   * `ps` shows a short PID 1). Without it the script goes inline (`sh -c`).
   */
  scriptFile?: string;
}

function rewrites(terminal: boolean): string[] {
  if (!terminal) return [];
  return (['SIGINT', 'SIGQUIT', 'SIGWINCH'] as const).flatMap((s) => ['-r', `${constants.signals[s]}:0`]);
}

/**
 * The userns engine as one exec chain (no process of cake's in between; signals and the exit code
 * pass through dumb-init, which forwards them and exits as its child did):
 *
 *     setpriv --pdeathsig KILL -- unshare --user --map-root-user --mount --pid --
 *       dumb-init -c -- setpriv --pdeathsig KILL -- dumb-init -c --      # outside, then PID 1
 *         busybox sh -c SETUP cake ENV -i ... [setpriv --bounding-set=-sys_admin | unshare --user
 *           --map-user=U --map-group=G] unshare --root=ROOT --wd=CWD --
 *           /dev/.cake/busybox env -i K=V... CMD ARGS...
 *
 * - The outer dumb-init is cake's child: cake relays SIGTERM/SIGHUP/... to it, it forwards them to
 *   the inner one, which is PID 1 of the env's own PID namespace (PID 1 ignores signals it has no
 *   handler for, so the guest cannot be PID 1). With a terminal both skip SIGINT, SIGQUIT and
 *   SIGWINCH, which the terminal already sends to the guest (same process group, no relay).
 * - Kill on exit: when the command ends, PID 1 ends and the kernel kills everything left in the
 *   namespace (`setsid sleep 300 &` included); PDEATHSIG ties each dumb-init to its parent, so a
 *   cake killed by SIGKILL takes the env's processes with it.
 * - SETUP (host busybox sh, in the new namespaces, nothing of the guest's in its environment)
 *   stages a fresh /proc of the PID namespace with /proc/sys, sysrq-trigger, irq and bus
 *   read-only; the private /dev (the host's null zero full random urandom tty bound into the run
 *   directory's skeleton, a new devpts instance, a private /dev/shm tmpfs, the helper read-only);
 *   /sys read-only with every submount; then moves each finished tree onto the env's mount point
 *   in one mount call (a tree is never changed after it is in the env, so no guest process can
 *   catch it half-made), then binds /tmp, $HOME and the user's binds.
 * - The guest cannot undo the setup: as root it runs without CAP_SYS_ADMIN (setpriv drops it from
 *   the bounding set), so it can neither unmount the read-only binds nor remount them writable
 *   (in a user namespace of its own it only gets locked copies); as --user's uid/gid it runs in a
 *   nested user namespace mapping that uid to the setup's root, with no capability at all here.
 *   A root guest stays in the setup's user namespace so that it may read /proc/1/root (chroot
 *   detection: ischroot).
 * - The guest environment is set by the static helper inside the guest (command.ts): no host
 *   program runs with any of it.
 * - Known limit: mount targets in the env are paths resolved by mount(2) in the host view (an fd
 *   opened by cake belongs to the host's mount namespace and cannot be a target in the new one).
 *   engine.ts resolves them symlink-free and creates them with env-fs.ts just before, and no file
 *   is created through them; still, a guest of another run of the same env that swaps a directory
 *   for a symlink at that instant could make a bind land elsewhere inside this run's private mount
 *   namespace (never on the host's own view).
 *
 * Pure.
 */
export function buildUsernsCommand(plan: RunPlan, tools: UsernsTools, layout: UsernsLayout): HostCommand {
  const inner = [tools.env, '-i', ...Object.entries(HOST_HELPER_ENV).map(([k, v]) => `${k}=${v}`)];
  if (plan.user.uid === 0 && plan.user.gid === 0) inner.push(tools.setpriv, '--bounding-set=-sys_admin', '--', tools.unshare);
  else inner.push(tools.unshare, '--user', `--map-user=${plan.user.uid}`, `--map-group=${plan.user.gid}`);
  inner.push(`--root=${plan.root}`, `--wd=${plan.cwd}`, '--', ...guestCommandWords(plan.env, plan.argv));

  const init = (): string[] => [tools.setpriv, '--pdeathsig', 'KILL', '--', tools.dumbInit, '-c', ...rewrites(layout.terminal), '--'];
  const setup = layout.scriptFile !== undefined ? [layout.scriptFile] : ['-c', usernsSetupScript(plan, tools, layout)];
  return {
    file: tools.setpriv,
    args: [
      '--pdeathsig', 'KILL', '--', tools.unshare, '--user', '--map-root-user', '--mount', '--pid', ...(plan.hostname !== undefined ? ['--uts'] : []), '--',
      ...init().slice(4), ...init(), tools.busybox, 'sh', ...setup, ...(layout.scriptFile !== undefined ? [] : ['cake']), ...inner,
    ],
    env: { ...HOST_HELPER_ENV },
  };
}

/** The setup script of buildUsernsCommand (run by the host's busybox sh; ends in `exec "$@"`). Pure. */
export function usernsSetupScript(plan: RunPlan, tools: UsernsTools, layout: UsernsLayout): string {
  const q = shQuote;
  // -i: no mount.TYPE helper; this busybox keeps no mtab (nor util-linux's /run/mount/utab)
  const M = `${q(tools.busybox)} mount -i`;
  const R = q(layout.runDir);
  const at = (guest: string): string => q(plan.root + (guest === '/' ? '' : guest));
  const lines = ['set -e', `R=${R}`];
  const ro = (p: string): string => `${M} -o remount,bind,ro ${p}`;
  // /proc of the new PID namespace, read-only where it reaches the host kernel
  lines.push(`${M} -t proc -o nosuid,nodev,noexec proc "$R/proc"`);
  lines.push(`for p in sys sysrq-trigger irq bus; do if [ -e "$R/proc/$p" ]; then ${M} --bind "$R/proc/$p" "$R/proc/$p"; ${ro('"$R/proc/$p"')}; fi; done`);
  for (const f of plan.mounts.filter((m) => m.why === 'fake-proc')) {
    const dst = `"$R"${q(f.dst.slice('/proc'.length))}`;
    lines.push(`${M} --bind ${q(f.src)} ${dst}`, ro(dst));
  }
  // The private /dev and /sys, in one mount call: their targets are fresh files and directories
  // of the run directory (`mount -a` skips a target that is already a mount point; none of
  // these can be). Then /sys and the helper read-only (remounts make no new mount, so the
  // guest's mountinfo lists the same mounts in the same order as one call per mount did).
  const stage = (dir: string): string => `${layout.runDir}/${dir}`;
  const fstab: string[] = DEV_NODES.map((n) => fstabLine(`/dev/${n}`, stage(`dev/${n}`), 'none', 'bind'));
  if (layout.console !== undefined) fstab.push(fstabLine(layout.console, stage('dev/console'), 'none', 'bind'));
  fstab.push(fstabLine('devpts', stage('dev/pts'), 'devpts', 'newinstance,ptmxmode=0666,mode=0620'));
  fstab.push(fstabLine('tmpfs', stage('dev/shm'), 'tmpfs', 'nosuid,nodev,mode=1777'));
  fstab.push(fstabLine(tools.busybox, stage('dev/.cake/busybox'), 'none', 'bind'));
  fstab.push(fstabLine('/sys', stage('sys'), 'none', 'rbind'));
  lines.push(`${M} -a -T /dev/fd/0 <<'${FSTAB_END}'`, ...fstab, FSTAB_END);
  lines.push(ro('"$R/dev/.cake/busybox"'));
  // /sys, read-only all the way down
  lines.push(ro('"$R/sys"'));
  for (const s of layout.sysSubmounts) lines.push(`${ro(`"$R"${q(s)}`)} 2>/dev/null || :`);
  // the finished trees into the env, one call each
  lines.push(`${M} --move "$R/proc" ${at(layout.proc)}`);
  lines.push(`${M} --rbind "$R/dev" ${at(layout.dev)}`);
  lines.push(`${M} --move "$R/sys" ${at(layout.sys)}`);
  plan.mounts.forEach((m, i) => {
    if (m.why === 'fake-proc') return;
    const target = at(layout.dsts?.[i] ?? m.dst);
    lines.push(`${M} --rbind ${q(m.src)} ${target}`);
    if (m.readonly) lines.push(ro(target));
  });
  if (plan.hostname !== undefined) lines.push(`${q(tools.busybox)} hostname ${q(plan.hostname)}`);
  lines.push('exec "$@"');
  return lines.join('\n');
}

const FSTAB_END = 'CAKE_FSTAB_END';

/**
 * One fstab line for the setup's `mount -a`: space, tab, newline and backslash in a field are
 * octal escapes, which getmntent(3) decodes (no other byte is special there: a path starts with
 * `/`, so a line is never a `#` comment, and no line can be the here-document's end). Pure.
 */
export function fstabLine(src: string, dst: string, type: string, opts: string): string {
  const esc = (f: string): string => f.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
  return `${esc(src)} ${esc(dst)} ${type} ${opts} 0 0`;
}
