import { readFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { UsageError } from '../errors.js';
import { positionOf, pathText } from './positions.js';
import { Scenario, type ScenarioSpec } from './schema.js';
import { checkSemantics } from './semantics.js';

/** A scenario file that does not follow the format: names the file, line and column (exit 2). */
export class ScenarioError extends UsageError {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly col: number,
    readonly detail: string,
  ) {
    super(`${file}:${line}:${col}: ${detail}`);
  }
}

export interface LoadedScenario {
  name: string;
  file: string;
  spec: ScenarioSpec;
  /** Source line of each step (1-based), for reports. */
  stepLines: number[];
}

export function loadScenarioFile(file: string, displayName = file): LoadedScenario {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read scenario ${displayName}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parseScenario(text, displayName, basename(file, extname(file)));
}

export function parseScenario(text: string, file: string, name = basename(file, extname(file))): LoadedScenario {
  const lc = new LineCounter();
  // Integers as bigint, so 64-bit addresses stay exact.
  const doc = parseDocument(text, { lineCounter: lc, intAsBigInt: true, prettyErrors: false, uniqueKeys: true });
  const yamlErr = doc.errors[0];
  if (yamlErr) {
    const pos = lc.linePos(yamlErr.pos[0]);
    throw new ScenarioError(file, pos.line, pos.col, `YAML: ${yamlErr.message.split('\n')[0]}`);
  }
  const raw = doc.toJS({ maxAliasCount: 100 });
  const parsed = Scenario.safeParse(raw);
  if (!parsed.success) {
    // An unknown key (often a typo) explains a missing one better than the other way round.
    const issues = [...parsed.error.issues].sort((a, b) => Number(b.code === 'unrecognized_keys') - Number(a.code === 'unrecognized_keys'));
    const first = issues[0];
    const key = first.code === 'unrecognized_keys' ? first.keys[0] : undefined;
    const pos = positionOf(doc, lc, first.path, key);
    // Integers are read as bigint to keep 64-bit addresses exact; to the user they are numbers.
    const what = first.code === 'unrecognized_keys' ? `unknown key '${first.keys.join("', '")}'` : first.message.replace(/received bigint/, 'received number').replace(/^Invalid input: expected (.+), received undefined$/, 'missing (expected $1)');
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more problem${issues.length > 2 ? 's' : ''})` : '';
    throw new ScenarioError(file, pos.line, pos.col, `${pathText(first.path)}: ${what}${more}`);
  }
  const spec = parsed.data;
  const problem = checkSemantics(spec)[0];
  if (problem) {
    const pos = positionOf(doc, lc, problem.path);
    throw new ScenarioError(file, pos.line, pos.col, `${pathText(problem.path)}: ${problem.message}`);
  }
  const stepLines = spec.steps.map((_s, i) => positionOf(doc, lc, ['steps', i]).line);
  return { name, file, spec, stepLines };
}
