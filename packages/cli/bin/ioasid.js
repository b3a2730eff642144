#!/usr/bin/env node
// Committed shim: npm links bins at install time, before dist/ exists.
import('../dist/main.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/main.js')) {
    process.stderr.write('ioasid: the CLI is not built yet; run `npm run build` first\n');
    process.exit(2);
  }
  throw err;
});
