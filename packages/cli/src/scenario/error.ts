import { UsageError } from '../errors.js';

/** One problem in a scenario file, where it sits (1-based line and column) and what is wrong. */
export interface ScenarioProblem {
  line: number;
  col: number;
  /** `path: what`, e.g. "step 4 (map): size: missing (expected …)". */
  detail: string;
}

/** How many problems one error lists before it only counts the rest. */
export const MAX_PROBLEMS_SHOWN = 20;

function listing(file: string, all: readonly ScenarioProblem[]): string {
  const lines = all.slice(0, MAX_PROBLEMS_SHOWN).map((p) => `${file}:${p.line}:${p.col}: ${p.detail}`);
  const rest = all.length - MAX_PROBLEMS_SHOWN;
  if (rest > 0) lines.push(`… and ${rest} more problem${rest === 1 ? '' : 's'}`);
  return lines.join('\n');
}

/**
 * A scenario file that does not follow the format (exit 2). The first line is the first problem
 * as `file:line:col: path: what`; every other problem follows on a line of its own.
 */
export class ScenarioError extends UsageError {
  /** Every problem found, the first one included. */
  readonly problems: readonly ScenarioProblem[];

  constructor(
    readonly file: string,
    readonly line: number,
    readonly col: number,
    readonly detail: string,
    others: readonly ScenarioProblem[] = [],
  ) {
    const all = [{ line, col, detail }, ...others];
    super(listing(file, all));
    this.problems = all;
  }

  /** One error listing `problems` in the order given (there must be at least one). */
  static of(file: string, problems: readonly ScenarioProblem[]): ScenarioError {
    const [first, ...others] = problems;
    return new ScenarioError(file, first.line, first.col, first.detail, others);
  }
}
