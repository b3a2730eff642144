/** Exit codes of the command (documented in --help). */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** A mistake in how the command was called or in an input file: one line, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
