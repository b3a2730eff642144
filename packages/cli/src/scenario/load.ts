import { readFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { UsageError } from '../errors.js';
import { ScenarioError } from './error.js';
import { schemaProblems } from './issues.js';
import { positionOf, pathText, type Position } from './positions.js';
import { Scenario, type ScenarioSpec } from './schema.js';
import { checkSemantics } from './semantics.js';

export { ScenarioError, type ScenarioProblem } from './error.js';

export interface LoadedScenario {
  name: string;
  file: string;
  spec: ScenarioSpec;
  /** Source line of each step (1-based), for reports. */
  stepLines: number[];
  /**
   * Where the value at a path of the file sits, or with `key` that key of the map at the path
   * (for checks made after loading, e.g. fault names).
   */
  locate?: (path: readonly PropertyKey[], key?: string) => Position;
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
  if (doc.errors.length > 0) {
    throw ScenarioError.of(
      file,
      doc.errors.map((e) => ({ ...lc.linePos(e.pos[0]), detail: `YAML: ${e.message.split('\n')[0]}` })),
    );
  }
  const raw = doc.toJS({ maxAliasCount: 100 }) as unknown;
  const at = (path: readonly PropertyKey[], key?: string): Position => positionOf(doc, lc, path, key);
  const parsed = Scenario.safeParse(raw);
  if (!parsed.success) {
    const problems = schemaProblems(parsed.error.issues, raw).map((p) => ({ ...at(p.path, p.key), detail: p.detail }));
    throw ScenarioError.of(file, byPosition(problems));
  }
  const spec = parsed.data;
  const semantic = checkSemantics(spec);
  if (semantic.length > 0) {
    throw ScenarioError.of(file, byPosition(semantic.map((p) => ({ ...at(p.path), detail: `${pathText(p.path, raw)}: ${p.message}` }))));
  }
  const stepLines = spec.steps.map((_s, i) => at(['steps', i]).line);
  return { name, file, spec, stepLines, locate: at };
}

/** Problems in the order of the file (stable for problems at one place). */
function byPosition<T extends Position>(problems: T[]): T[] {
  return [...problems].sort((a, b) => a.line - b.line || a.col - b.col);
}
