import { CakeError, OptionError, toCakeError } from '../model/errors.js';
import { flagOf } from './flag-of.js';
import { splitArgv, type SplitArgv } from './argv.js';
import { LOADERS, type CommandSpec } from './command-table.js';
import type { Handler } from './command-types.js';
import type { CliContext } from './context.js';
import { CliLogger } from './logger.js';

/** Commands whose engine forwards signals itself: cake must not abort on SIGINT for them. */
const SIGNAL_PASSTHROUGH = new Set(['enter', 'exec', 'boot']);

/**
 * exec and enter skip commander (its module and a program of every command cost start-up time):
 * after splitArgv, their words are canonical flags and at most one NAME. Anything unusual (an
 * unknown flag, a missing value, a value outside the choices, --help) returns undefined, and
 * commander parses the line and reports the problem as usual.
 */
export function parseFast(split: SplitArgv): { args: string[]; opts: Record<string, unknown>; globals: Record<string, unknown> } | undefined {
  const spec = split.spec;
  if (!spec || !FAST.has(spec.name)) return undefined;
  const at = split.argv.indexOf(spec.name, 2);
  const globals: Record<string, unknown> = {};
  for (const g of split.argv.slice(2, at)) {
    if (g === '-v' || g === '--verbose') globals.verbose = true;
    else if (g === '--insecure') globals.insecure = true;
    else return undefined;
  }
  const byFlag = new Map(spec.options.map((o) => [/--[a-z0-9-]+/.exec(o.flags)![0], o]));
  const opts: Record<string, unknown> = {};
  const args: string[] = [];
  const words = split.argv.slice(at + 1);
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (!w.startsWith('-') || w === '-') {
      args.push(w);
      continue;
    }
    const eq = w.indexOf('=');
    const o = byFlag.get(eq > 0 ? w.slice(0, eq) : w);
    if (!o) return undefined;
    const key = o.flags.replace(/^.*--([a-z0-9-]+).*$/, '$1').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    if (!/[<[]/.test(o.flags)) {
      if (eq > 0) return undefined;
      opts[key] = true;
      continue;
    }
    const value = eq > 0 ? w.slice(eq + 1) : words[++i];
    if (value === undefined || (o.choices && !o.choices.includes(value))) return undefined;
    opts[key] = o.repeatable ? [...((opts[key] as string[] | undefined) ?? []), value] : value;
  }
  if (args.length > 1 || (spec.name === 'exec' && args.length === 0)) return undefined;
  return { args, opts, globals };
}

const FAST = new Set(['exec', 'enter']);

/** Entry point: parses argv, runs one command, exits with its code. Never throws. */
export async function main(argv: string[]): Promise<void> {
  // `cake --version` alone: no context, no commander (what commander would print, without its cost)
  if (argv.length === 3 && argv[2] === '--version') {
    const { readVersion } = await import('./version.js');
    process.stdout.on('error', () => {});
    process.stdout.write(`${readVersion()}\n`);
    return;
  }
  // loaded here, not at the top: the stores and their modules are not needed for --version
  const { createContext, ignoreClosedPipes } = await import('./context.js');
  ignoreClosedPipes();
  const env = { ...process.env };
  const controller = new AbortController();
  let exitCode = 0;
  let ctx: (CliContext & { closeHttp(): Promise<void> }) | undefined;
  let guestCmd: string[] | undefined;
  const fallbackLogger = new CliLogger({ stderr: process.stderr, env, verbose: false });
  const onSignal = (sig: NodeJS.Signals): void => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort(new CakeError('interrupted', `interrupted by ${sig}`));
  };
  const runCommand = async (spec: CommandSpec, args: string[], opts: Record<string, unknown>, globals: Record<string, unknown>): Promise<void> => {
    if (!SIGNAL_PASSTHROUGH.has(spec.name)) {
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
    }
    ctx = createContext({ env, verbose: Boolean(globals.verbose) || env.CAKE_VERBOSE === '1', insecure: Boolean(globals.insecure), signal: controller.signal });
    const load = (LOADERS as Readonly<Record<string, (() => Promise<Handler<never>>) | undefined>>)[spec.name];
    if (!load) throw new CakeError('internal', `no handler for ${spec.name}`);
    const handler = await load();
    // commander (or parseFast) made `opts` from this spec's options: what the handler's CommandOptions type says
    exitCode = await handler(ctx, args, (guestCmd === undefined ? opts : { ...opts, guestCmd }) as never);
  };
  try {
    const split = argv.length <= 2 ? undefined : splitArgv(argv);
    guestCmd = split?.guestCmd;
    const fast = split && parseFast(split);
    if (fast) {
      await runCommand(split.spec!, fast.args, fast.opts, fast.globals);
    } else {
      const { buildProgram } = await import('./program.js');
      const program = buildProgram((spec, args, opts) => runCommand(spec, args, opts, program.opts()));
      if (split === undefined) {
        program.outputHelp();
        exitCode = 2;
      } else {
        await program.parseAsync(split.argv);
      }
    }
  } catch (err) {
    exitCode = reportError(err, ctx?.logger ?? fallbackLogger, env);
  } finally {
    try {
      await ctx?.closeHttp();
    } catch {
      // closing idle sockets cannot change the outcome
    }
  }
  process.exitCode = controller.signal.aborted && exitCode !== 0 ? 130 : exitCode;
}

function reportError(err: unknown, logger: CliLogger, env: Record<string, string | undefined>): number {
  const code = err instanceof Error ? (err as { code?: unknown }).code : undefined;
  if (err instanceof Error && typeof code === 'string' && code.startsWith('commander.')) {
    if (code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help') return 0;
    const msg = err.message.replace(/^error: /, '');
    logger.error(msg, 'see `cake help` or `cake help COMMAND`');
    return 2;
  }
  const e = toCakeError(err);
  if (e instanceof OptionError) logger.error(e.worded(flagOf), e.wordedHint(flagOf));
  else logger.error(e.message, e.hint);
  if (env.CAKE_DEBUG === '1') {
    process.stderr.write(`${(err as Error)?.stack ?? String(err)}\n`);
    let cause = (err as Error)?.cause;
    while (cause) {
      process.stderr.write(`caused by: ${(cause as Error).stack ?? String(cause)}\n`);
      cause = (cause as Error).cause;
    }
  }
  return e.exitCode;
}
