import { Command, Option } from 'commander';
import { UsageError } from '../model/errors.js';
import { COMMANDS, GLOBAL_OPTIONS, type CommandSpec, type OptionSpec } from './command-table.js';
import { readVersion } from './context.js';

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
    if (spec.arguments) {
      for (const a of spec.arguments) cmd.argument(a);
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

