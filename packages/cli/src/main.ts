#!/usr/bin/env node
import { processIo } from './io.js';
import { runCli } from './program.js';

// `ioasid dump … | head`: a reader that goes away is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

// Ctrl-C during a progress bar: give the terminal back its cursor and line wrap before leaving.
process.once('SIGINT', () => {
  if (process.stderr.isTTY) process.stderr.write('\u001b[?25h\u001b[?7h\n');
  process.exit(130);
});

process.exitCode = await runCli(process.argv.slice(2), processIo());
