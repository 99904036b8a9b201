// What every command line of the project shares at the top: --log-format, a version line with an example, an example in each --help.
import { Option, type Command } from 'commander';
import { configureLogging, LOG_FORMATS, type LogFormat } from './log.js';

/**
 * Adds `--log-format auto|pretty|json` to the program (accepted before or after the subcommand) and applies it before
 * any action runs, so the runtime's loggers are made with it. LOG_FORMAT is the default, for service files.
 */
export function addLogFormatOption(program: Command): Command {
  program.addOption(
    new Option('--log-format <format>', 'log lines on stderr: pretty (levelled, readable), json (one object per line) or auto (pretty on a terminal)')
      .choices(LOG_FORMATS)
      .default('auto')
      .env('LOG_FORMAT'),
  );
  program.hook('preAction', (cmd) => {
    configureLogging({ format: cmd.optsWithGlobals<{ logFormat: LogFormat }>().logFormat });
  });
  return program;
}

/**
 * `--version` prints the version alone on its first line (for scripts), then a few commands to start with; the
 * program's own --help ends with the same commands.
 */
export function addVersion(program: Command, version: string, firstSteps: readonly string[]): Command {
  const tryThese = `Try:\n${firstSteps.map((e) => `  $ ${e}`).join('\n')}`;
  return program.version(`${version}\n\n${tryThese}`).addHelpText('after', `\n${tryThese}\n`);
}

/** Every command below `program` that runs something (has no subcommands), by its path: 'rad identify'. */
export function leafCommands(program: Command): Map<string, Command> {
  const out = new Map<string, Command>();
  const walk = (c: Command, path: string[]): void => {
    for (const sub of c.commands) {
      const p = [...path, sub.name()];
      if (sub.commands.length === 0) out.set(p.join(' '), sub);
      else walk(sub, p);
    }
  };
  walk(program, []);
  return out;
}

/**
 * Appends "Example:" lines to the --help of each command named in `examples` (by path, as `leafCommands` gives it).
 * A path that names no command is an error here rather than a help text that silently never shows.
 */
export function addExamples(program: Command, examples: Readonly<Record<string, readonly string[]>>): void {
  const leaves = leafCommands(program);
  for (const [path, lines] of Object.entries(examples)) {
    const cmd = leaves.get(path);
    if (!cmd) throw new Error(`help examples: "${program.name()} ${path}" is not a command (known: ${[...leaves.keys()].join(', ')})`);
    cmd.addHelpText('after', `\n${lines.length > 1 ? 'Examples' : 'Example'}:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`);
  }
}
