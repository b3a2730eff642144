import { Command, CommanderError } from 'commander';
import { IoasidError } from '@ioasid/core';
import { createContext } from './context.js';
import type { Io } from './io.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError } from './errors.js';
import { packageVersion } from './version.js';
import { infoCommand } from './commands/info.js';
import { conformanceCommand } from './commands/conformance.js';
import { runCommand } from './commands/run.js';
import { dumpCommand } from './commands/dump.js';
import { benchCommand } from './commands/bench.js';
import { walkCommand } from './commands/walk.js';
import { reportCommand } from './commands/report.js';
import { snapshotCommand } from './commands/snapshot.js';
import { newVendorCommand } from './commands/new-vendor.js';

const EPILOG = `
Exit codes: 0 success, 1 a check failed or the model raised an error, 2 a usage error
(unknown option or vendor, bad scenario file). Colour only on a terminal and never with NO_COLOR.`;

/** Builds the `ioasid` program around an Io (the process, or a buffer in tests). */
export function buildProgram(io: Io): { program: Command; exitCode: () => number } {
  const program = new Command('ioasid');
  const ctx = createContext(io, () => program.opts<{ plugin?: string[] }>().plugin ?? []);
  program
    .description('An executable model of the /dev/ioasid uAPI with Intel VT-d, ARM SMMUv3 and POWER TCE backends')
    .version(packageVersion(), '-V, --version', 'print the version')
    .option(
      '--plugin <module>',
      'also load a third-party vendor plugin: a package name or a path to a .js module (repeatable)',
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .addHelpText('after', EPILOG)
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: (s) => io.out(s),
      writeErr: (s) => io.err(s),
      outputError: (s, write) => write(`ioasid: ${s.replace(/^error: /, '').trimEnd()}\n`),
    });
  for (const cmd of [infoCommand(ctx), conformanceCommand(ctx), runCommand(ctx), dumpCommand(ctx), walkCommand(ctx), reportCommand(ctx), snapshotCommand(ctx), benchCommand(ctx), newVendorCommand(ctx)]) {
    program.addCommand(cmd.addHelpText('after', EPILOG));
  }
  // Every command, not only the top one, throws instead of exiting, and shares the output.
  const configure = (c: Command): void => {
    c.exitOverride();
    c.configureOutput(program.configureOutput());
    c.commands.forEach(configure);
  };
  configure(program);
  return { program, exitCode: () => ctx.exitCode };
}

/** Parses argv, runs the command, and returns the exit code; prints errors as one line. */
export async function runCli(argv: string[], io: Io): Promise<number> {
  const { program, exitCode } = buildProgram(io);
  // With --json, a refusal is JSON on stdout too (the one line still goes to stderr for a person).
  const json = argv.includes('--json');
  const jsonError = (kind: 'usage' | 'failure', message: string, errno?: string): void => {
    if (json) io.out(JSON.stringify({ error: { kind, message, ...(errno ? { errno } : {}), exitCode: kind === 'usage' ? EXIT_USAGE : EXIT_FAILURE } }) + '\n');
  };
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode();
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return EXIT_OK;
      if (e.code === 'commander.help') return e.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
      if (e.code === 'commander.executeSubCommandAsync') return EXIT_FAILURE;
      jsonError('usage', e.message.replace(/^error: /, ''));
      return EXIT_USAGE; // commander has already printed its one line
    }
    if (e instanceof UsageError) {
      io.err(`ioasid: ${e.message}\n`);
      jsonError('usage', e.message);
      return EXIT_USAGE;
    }
    const message = e instanceof Error ? e.message : String(e);
    io.err(`ioasid: ${message}\n`);
    jsonError('failure', message, e instanceof IoasidError ? e.errno : undefined);
    if (process.env.IOASID_DEBUG && e instanceof Error) io.err(`${e.stack}\n`);
    return EXIT_FAILURE;
  }
}
