import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { loadScenarioFile, type LoadedScenario } from './load.js';

/** The scenarios shipped in the package (packages/cli/scenarios; src/ and dist/ sit beside it). */
export const BUILTIN_DIR = fileURLToPath(new URL('../../scenarios/', import.meta.url));

export function listBuiltinScenarios(): LoadedScenario[] {
  return readdirSync(BUILTIN_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => loadScenarioFile(join(BUILTIN_DIR, f), f));
}

/** A path to a scenario file, or the name of a built-in one ("5.1-simple" or "5.1-simple.yaml"). */
export function resolveScenario(arg: string): LoadedScenario {
  if (existsSync(arg) && statSync(arg).isFile()) return loadScenarioFile(arg);
  const file = arg.endsWith('.yaml') ? arg : `${arg}.yaml`;
  const builtin = join(BUILTIN_DIR, file);
  if (!arg.includes('/') && existsSync(builtin)) return loadScenarioFile(builtin, `builtin:${file}`);
  throw new UsageError(`no scenario file or built-in scenario named '${arg}' (see 'ioasid run --list')`);
}
