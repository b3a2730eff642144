import { REF, type ScenarioSpec, type StepSpec, OP_NAMES, type OpName } from './schema.js';

/** Names every scenario can refer to without defining them. */
export const PREDEFINED = ['guest', 'vendor'] as const;

export interface Problem {
  path: PropertyKey[];
  message: string;
}

/** The step's one operation and its arguments. */
export function opOf(step: StepSpec): { op: OpName; args: Record<string, unknown> } {
  const op = OP_NAMES.find((k) => k in step)!;
  return { op, args: ((step as Record<string, unknown>)[op] ?? {}) as Record<string, unknown> };
}

/** Checks the schema cannot express: references to names defined earlier, and argument combinations. */
export function checkSemantics(spec: ScenarioSpec): Problem[] {
  const problems: Problem[] = [];
  const defined = new Set<string>(PREDEFINED);
  spec.steps.forEach((step, i) => {
    const { op, args } = opOf(step);
    const base: PropertyKey[] = ['steps', i, op];
    walk(args, base, (value, path) => {
      const m = REF.exec(value);
      if (m && !defined.has(m[1])) {
        problems.push({ path, message: `'$${m[1]}' is not defined by an earlier step (define it with 'as: ${m[1]}')` });
      }
      const off = m?.[3];
      if (off !== undefined && !/^(?:0x[0-9a-fA-F_]+|\d[\d_]*[KMGT]?)$/.test(off)) {
        problems.push({ path, message: `the offset after '+' must be a number (got '${off}')` });
      }
    });
    for (const msg of combos(op, args)) problems.push({ path: base, message: msg });
    if (step.as !== undefined) defined.add(step.as);
  });
  return problems;
}

function walk(v: unknown, path: PropertyKey[], visit: (s: string, path: PropertyKey[]) => void): void {
  if (typeof v === 'string' && v.startsWith('$')) visit(v, path);
  else if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...path, i], visit));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, [...path, k], visit);
}

function combos(op: OpName, a: Record<string, unknown>): string[] {
  const has = (k: string) => a[k] !== undefined;
  switch (op) {
    case 'unmap':
      if (a.all === true ? has('iova') || has('size') : !(has('iova') && has('size'))) return ['expected either iova and size, or all: true'];
      return [];
    case 'bind-pgtable':
    case 'bind-pasid-table':
      if (has('table') === (has('addr') || has('format'))) return ['expected either table: $ref, or addr and format'];
      if (!has('table') && !(has('addr') && has('format'))) return ['expected both addr and format'];
      return [];
    case 'guest-pgtable':
      if (has('table') === has('format')) return ['expected either format (to build a new table) or table: $ref (to change one)'];
      return [];
    case 'invalidate':
      if (a.all === true ? has('iova') || has('size') : !(has('iova') && has('size'))) return ['expected either iova and size, or all: true'];
      return [];
    case 'dma-read':
      if (!has('expect') && !has('length') && !has('fault')) return ['expected expect (bytes), length or fault'];
      return [];
    case 'info':
      if (has('ioasid') === has('device')) return ['expected either ioasid or device'];
      return [];
    default:
      return [];
  }
}
