import { Command, CommanderError, Option } from 'commander';
import { CakeError, UsageError, toCakeError } from '../model/errors.js';
import { splitArgv } from './argv.js';
import { COMMANDS, GLOBAL_OPTIONS, type CommandSpec, type OptionSpec } from './command-table.js';
import { createContext, ignoreClosedPipes, readVersion, type CliContext } from './context.js';
import { CliLogger } from './logger.js';

/** A command handler: parsed positionals and options in, exit code out. */
export type Handler = (ctx: CliContext, args: string[], opts: Record<string, unknown>) => Promise<number>;

// Handlers are loaded lazily so `cake exec` pays only for what it uses.
const HANDLERS: Record<string, () => Promise<Handler>> = {
  pull: async () => (await import('./commands/pull.js')).pullCommand,
  import: async () => (await import('./commands/pull.js')).importCommand,
  enter: async () => (await import('./commands/run.js')).enterCommand,
  exec: async () => (await import('./commands/run.js')).execCommand,
  list: async () => (await import('./commands/list.js')).listCommand,
  rm: async () => (await import('./commands/manage.js')).rmCommand,
  rename: async () => (await import('./commands/manage.js')).renameCommand,
  export: async () => (await import('./commands/export.js')).exportCommand,
  distros: async () => (await import('./commands/distros.js')).distrosCommand,
  doctor: async () => (await import('./commands/doctor.js')).doctorCommand,
  gc: async () => (await import('./commands/gc.js')).gcCommand,
  push: async () => (await import('./commands/push.js')).pushCommand,
  inspect: async () => (await import('./commands/list.js')).inspectCommand,
  clone: async () => (await import('./commands/manage.js')).cloneCommand,
  config: async () => (await import('./commands/config.js')).configCommand,
  cook: async () => (await import('./commands/cook.js')).cookCommand,
  add: async () => (await import('./commands/add.js')).addCommand,
  bake: async () => (await import('./commands/bake.js')).bakeCommand,
  boot: async () => (await import('./commands/boot.js')).bootCommand,
};

/** Commands whose engine forwards signals itself: cake must not abort on SIGINT for them. */
const SIGNAL_PASSTHROUGH = new Set(['enter', 'exec', 'boot']);

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function addOption(cmd: Command, spec: OptionSpec): void {
  const also = spec.aliases?.length ? ` (also ${spec.aliases.join(', ')})` : '';
  const opt = new Option(spec.flags, spec.description + also);
  if (spec.choices) opt.choices(spec.choices as string[]);
  if (spec.repeatable) opt.argParser(collect);
  cmd.addOption(opt);
}

function usageArgs(spec: CommandSpec): string {
  return spec.args.replace(/\bNAME\.\.\./, '<NAME...>');
}

/**
 * Commander configured from the command table. `argv` must have gone through splitArgv (the guest
 * command of exec/enter is cut off before commander sees it).
 */
export function buildProgram(run: (spec: CommandSpec, args: string[], opts: Record<string, unknown>) => Promise<void>): Command {
  const program = new Command('cake');
  program
    .description('rootless environment manager: pull, enter, cook and bake Linux root filesystems')
    .version(readVersion(), '--version', 'print the version')
    .enablePositionalOptions()
    .showSuggestionAfterError(true)
    .helpCommand(false)
    .configureOutput({ writeErr: () => {}, writeOut: (s) => process.stdout.write(s) })
    .exitOverride();
  for (const g of GLOBAL_OPTIONS) if (g.flags !== '--version') addOption(program, g);
  for (const spec of COMMANDS) {
    if (spec.name === 'help') continue;
    const cmd = program.command(spec.name).summary(spec.summary).description(spec.summary);
    if (spec.aliases?.length) cmd.aliases(spec.aliases as string[]);
    cmd.exitOverride().configureOutput({ writeErr: () => {}, writeOut: (s) => process.stdout.write(s) });
    if (spec.name === 'exec') {
      cmd.argument('<NAME>');
    } else if (spec.name === 'enter') {
      cmd.argument('[NAME]');
    } else if (spec.name === 'config') {
      cmd.argument('[ACTION]').argument('[KEY]').argument('[VALUE...]');
    } else if (spec.name === 'boot') {
      cmd.argument('<IMAGE>').argument('[QEMU_ARGS...]');
    } else if (spec.args) {
      for (const a of usageArgs(spec).split(' ')) {
        if (!a) continue;
        const optional = a.startsWith('[');
        const name = a.replace(/[[\]<>]/g, '');
        cmd.argument(optional ? `[${name}]` : `<${name}>`);
      }
    }
    for (const o of spec.options) addOption(cmd, o);
    cmd.addHelpText('after', `\nExamples:\n${spec.examples.map((e) => `  ${e}`).join('\n')}\n`);
    cmd.action(async (...params: unknown[]) => {
      const command = params[params.length - 1] as Command;
      const positional = command.args.slice();
      await run(spec, positional, command.opts());
    });
  }
  program
    .command('help')
    .argument('[COMMAND]')
    .summary('show help for cake or one command')
    .action((name?: string) => {
      if (!name) {
        program.outputHelp();
        return;
      }
      const sub = program.commands.find((c) => c.name() === name);
      if (!sub) throw new UsageError(`unknown command: ${name}`, 'see `cake help` for the list of commands');
      sub.outputHelp();
    });
  return program;
}

/** Entry point: parses argv, runs one command, exits with its code. Never throws. */
export async function main(argv: string[]): Promise<void> {
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
  const program = buildProgram(async (spec, args, opts) => {
    const globals = program.opts();
    if (!SIGNAL_PASSTHROUGH.has(spec.name)) {
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
    }
    ctx = createContext({ env, verbose: Boolean(globals.verbose) || env.CAKE_VERBOSE === '1', insecure: Boolean(globals.insecure), signal: controller.signal });
    const loader = HANDLERS[spec.name];
    if (!loader) throw new CakeError('internal', `no handler for ${spec.name}`);
    const handler = await loader();
    exitCode = await handler(ctx, args, guestCmd === undefined ? opts : { ...opts, guestCmd });
  });
  try {
    if (argv.length <= 2) {
      program.outputHelp();
      exitCode = 2;
    } else {
      const split = splitArgv(argv);
      guestCmd = split.guestCmd;
      await program.parseAsync(split.argv);
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
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
    const msg = err.message.replace(/^error: /, '');
    logger.error(msg, 'see `cake help` or `cake help COMMAND`');
    return 2;
  }
  const e = toCakeError(err);
  logger.error(e.message, e.hint);
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
