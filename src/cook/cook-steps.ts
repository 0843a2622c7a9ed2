/**
 * Applying one recipe step to a working tree. `run` executes a script in the env through the
 * engine (root, network on, no host $HOME or /tmp, output to cake's stderr) with ownership
 * recorded into the tree's table (the standard fakeroot kit, run/ownership-recorder.ts: a chown
 * to www-data in a postinst lands in the table, so the step cache and the tree hash keep it) and,
 * in a Debian/Ubuntu tree, DEBIAN_FRONTEND=noninteractive unless the recipe sets it; the others
 * write the tree from the host side (add-apply.ts) or change only the env's settings (`env`,
 * `path`, `bind`).
 */
import { lstatSync, readdirSync, readlinkSync, rmdirSync, statSync, unlinkSync } from 'node:fs';
import { posix } from 'node:path';
import type { OwnershipTable } from '../model/ownership.js';
import { CakeError } from '../model/errors.js';
import type { Logger } from '../model/logger.js';
import { runInEnv, type EngineDeps } from '../run/engine.js';
import { hasGlibc } from '../run/guest-libc.js';
import { warnOnce, whyNotRecorded, type OwnershipRecording } from '../run/ownership-recorder.js';
import { defaultRunOptions, type Bind, type EngineName } from '../model/run-options.js';
import type { GuestConfig } from '../store/env-record.js';
import { applyPlan, makeGuestDir, writeGuestFile, writeGuestSymlink } from './add-apply.js';
import type { AddPlan } from './add-plan.js';
import { prependPath, setVar } from './guest-config.js';
import { writeLoginEnv } from './login-env.js';
import { captureStepOutput, runFailureHint } from './step-output.js';
import type { Step } from './recipe-types.js';
import { addUser } from './user-step.js';

/** An env under construction. */
export interface WorkState {
  root: string;
  ownership: OwnershipTable;
  config: GuestConfig;
  run: { binds?: Bind[]; env?: Record<string, string> };
  arch: string;
}

export interface StepDeps {
  engine: EngineName;
  engineDeps: EngineDeps;
  logger: Logger;
  /** For messages and the engine. */
  envName: string;
  /** Plans of `add` steps, made when their keys were computed. */
  addPlans: Map<Step, AddPlan>;
}

/** Mount points the engine may create in the env; removed again when a step leaves them empty. */
const MOUNT_POINTS = ['/dev', '/proc', '/sys', '/tmp', '/etc/resolv.conf', '/etc/hosts'];

export function where(step: Step): string {
  return `${step.at.file}:${step.at.line} ${step.at.path}`;
}

/**
 * Whether a step can change the tree (`bind` changes only settings; `env` and `path` also write
 * the variables for login shells, see login-env.ts).
 */
export function changesTree(step: Step): boolean {
  return step.kind !== 'bind';
}

function exists(p: string): boolean {
  return lstatSync(p, { throwIfNoEntry: false }) !== undefined;
}

function removeIfEmpty(p: string): void {
  const st = lstatSync(p, { throwIfNoEntry: false });
  if (st?.isDirectory() && readdirSync(p).length === 0) rmdirSync(p);
  else if (st?.isFile() && st.size === 0) unlinkSync(p);
}

async function runStep(step: Extract<Step, { kind: 'run' }>, state: WorkState, deps: StepDeps): Promise<void> {
  const absent = MOUNT_POINTS.filter((p) => !exists(state.root + p));
  const etcAbsent = !exists(state.root + '/etc');
  const guest = { name: deps.envName, rootfs: state.root, arch: state.arch, config: { ...(state.config.env ? { env: state.config.env } : {}), ...(state.config.workingDir ? { workingDir: state.config.workingDir } : {}) } };
  const debian = exists(state.root + '/etc/debian_version') && !(state.config.env ?? []).some((e) => e.startsWith('DEBIAN_FRONTEND='));
  const opts = defaultRunOptions({ engine: deps.engine, isolated: true, ...(step.cwd ? { cwd: step.cwd } : {}), ...(debian ? { env: { DEBIAN_FRONTEND: 'noninteractive' } } : {}) });
  const recordOwnership = await recording(guest, opts, state, deps);
  const out = captureStepOutput();
  let code: number;
  let tail = '';
  try {
    code = await runInEnv(guest, ['/bin/sh', '-ec', step.script], opts, { ...deps.engineDeps, ...(recordOwnership ? { recordOwnership } : {}), stdio: ['ignore', out.fd, out.fd] });
  } finally {
    tail = out.finish();
  }
  for (const p of absent) removeIfEmpty(state.root + p);
  if (etcAbsent) removeIfEmpty(state.root + '/etc');
  if (code !== 0) throw new CakeError('recipe', `${where(step)}: the script failed with exit code ${code}`, { hint: runFailureHint(code, tail, deps.engine) });
}

/**
 * The mode a `copy:` gives a host file or directory without `mode:`: 0755 for directories and for
 * files with any execute bit, else 0644. As git does, only the execute bit is taken from the host,
 * so the result does not depend on the umask of whoever checked the recipe's files out.
 */
export function copyMode(st: { mode: number; isDirectory(): boolean }): number {
  return st.isDirectory() || (st.mode & 0o111) !== 0 ? 0o755 : 0o644;
}

/** Ownership recording into the tree's table with the standard kit, unless CAKE_NO_FAKEROOT or it cannot work (a warning, once). */
async function recording(guest: { arch?: string }, opts: ReturnType<typeof defaultRunOptions>, state: WorkState, deps: StepDeps): Promise<OwnershipRecording | undefined> {
  const off = deps.engineDeps.hostEnv.CAKE_NO_FAKEROOT;
  const kits = deps.engineDeps.kits;
  if ((off !== undefined && off !== '' && off !== '0') || kits?.fakerootKit === undefined || whyNotRecorded(guest, opts) !== undefined || !(await hasGlibc(state.root))) return undefined;
  try {
    const kit = await kits.fakerootKit({ logger: deps.logger, machine: state.arch, ...(deps.engineDeps.signal ? { signal: deps.engineDeps.signal } : {}) });
    return { table: state.ownership, kit };
  } catch (err) {
    warnOnce(deps.logger, `ownership changes of the recipe's run steps are not recorded: ${(err as Error).message}`);
    return undefined;
  }
}

async function copyTreeIn(state: WorkState, hostDir: string, dest: string, mode: number | undefined): Promise<void> {
  await makeGuestDir(state.root, state.ownership, dest, 0o755);
  for (const name of readdirSync(hostDir).sort()) {
    const h = posix.join(hostDir, name);
    const d = posix.join(dest, name);
    const st = lstatSync(h);
    if (st.isDirectory()) await copyTreeIn(state, h, d, mode);
    else if (st.isSymbolicLink()) await writeGuestSymlink(state.root, state.ownership, d, readlinkSync(h));
    else if (st.isFile()) await writeGuestFile(state.root, state.ownership, d, { copyOf: h }, mode ?? copyMode(st));
  }
}

async function copyStep(step: Extract<Step, { kind: 'copy' }>, state: WorkState): Promise<void> {
  const intoDir = step.to.endsWith('/') || step.sources.length > 1;
  for (const { value: src } of step.sources) {
    const st = statSync(src);
    if (st.isDirectory()) await copyTreeIn(state, src, step.to.replace(/\/$/, '') || '/', step.mode);
    else {
      const dest = intoDir ? posix.join(step.to, posix.basename(src)) : step.to;
      await writeGuestFile(state.root, state.ownership, dest, { copyOf: src, follow: true }, step.mode ?? copyMode(st));
    }
  }
}

/** Applies `step` to `state` (in place). Throws CakeError('recipe') naming the step when it fails. */
export async function applyStep(step: Step, state: WorkState, deps: StepDeps): Promise<void> {
  switch (step.kind) {
    case 'run':
      return runStep(step, state, deps);
    case 'copy':
      return copyStep(step, state);
    case 'file':
      return writeGuestFile(state.root, state.ownership, step.path, { content: step.content }, step.mode);
    case 'user':
      return addUser(state.root, state.ownership, step, where(step));
    case 'env':
      for (const [k, v] of step.vars) state.config.env = setVar(state.config.env, k, v);
      return writeLoginEnv(state.root, state.ownership, state.config.env);
    case 'path':
      state.config.env = prependPath(state.config.env, step.dirs);
      return writeLoginEnv(state.root, state.ownership, state.config.env);
    case 'bind':
      state.run.binds = [...(state.run.binds ?? []).filter((b) => !step.binds.some((n) => n.dst === b.dst)), ...step.binds];
      return;
    case 'add': {
      const plan = deps.addPlans.get(step);
      if (!plan) throw new CakeError('internal', `${where(step)}: the add step was not planned`);
      await applyPlan(state.root, state.ownership, plan, deps.envName);
      if (plan.pathDirs.length > 0) {
        state.config.env = prependPath(state.config.env, plan.pathDirs);
        await writeLoginEnv(state.root, state.ownership, state.config.env);
      }
      for (const line of plan.summary) deps.logger.info(`  added ${line}`);
      return;
    }
  }
}
