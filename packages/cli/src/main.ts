#!/usr/bin/env node
import { processIo } from './io.js';
import { runCli } from './program.js';

// `ioasid dump … | head`: a reader that goes away is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

process.exitCode = await runCli(process.argv.slice(2), processIo());
