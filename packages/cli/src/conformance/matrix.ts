import type { Painter } from '../output/colour.js';
import { makeTable } from '../output/table.js';
import type { CaseResult, CaseStatus } from './kit.js';

/** One cell of the matrix: the worst status over the runs of a case on a vendor. */
export interface Cell {
  status: CaseStatus;
  runs: number;
  failures: CaseResult[];
  reason?: string;
  /** What the case counted (sequences, DMAs, probes), from its last run. */
  detail?: string;
}

export interface Matrix {
  vendors: string[];
  cases: { id: string; title: string; group: string }[];
  cells: Map<string, Cell>;
}

const key = (id: string, vendor: string) => `${id}\u0000${vendor}`;
const RANK: Record<CaseStatus, number> = { pass: 0, unsupported: 1, fail: 2 };

export function buildMatrix(vendors: string[], results: CaseResult[]): Matrix {
  const cases: Matrix['cases'] = [];
  const seen = new Set<string>();
  const cells = new Map<string, Cell>();
  for (const r of results) {
    if (!seen.has(r.id)) {
      seen.add(r.id);
      cases.push({ id: r.id, title: r.title, group: r.group });
    }
    const k = key(r.id, r.vendor);
    const c = cells.get(k) ?? { status: 'pass', runs: 0, failures: [] };
    c.runs++;
    if (RANK[r.status] > RANK[c.status]) c.status = r.status;
    if (r.status === 'fail') c.failures.push(r);
    if (r.status === 'unsupported' && r.reason) c.reason ??= r.reason;
    if (r.detail) c.detail = r.detail;
    cells.set(k, c);
  }
  return { vendors, cases, cells };
}

export function cell(m: Matrix, id: string, vendor: string): Cell | undefined {
  return m.cells.get(key(id, vendor));
}

function cellText(c: Cell | undefined, p: Painter): string {
  if (!c) return '-';
  if (c.status === 'pass') return p.paint('green', 'pass');
  if (c.status === 'unsupported') return p.paint('yellow', 'unsupported');
  const n = c.failures.length;
  return p.paint('red', c.runs > 1 ? `FAIL ${n}/${c.runs}` : 'FAIL');
}

export function errorText(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (typeof e === 'string') return e;
  return JSON.stringify(e, (_k, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v));
}

/**
 * What a failure says, without the stack and hints: the kit's error is message + stack, and a
 * property's message spans a few lines (seed, counterexample). Continuation lines are indented.
 */
export function failureText(r: CaseResult, maxLines = 4): string {
  const text = r.reason ?? (r.error === undefined ? 'failed' : errorText(r.error));
  const lines = text
    .split('\n')
    .filter((l) => l.trim() !== '' && !/^\s+at /.test(l) && !/^Hint: /.test(l));
  const shown = lines.slice(0, maxLines);
  if (lines.length > maxLines) shown.push('…');
  return shown.join('\n      ');
}

/** The case × vendor table, then failures and unsupported reasons below it. */
export function renderMatrix(m: Matrix, p: Painter): string {
  const t = makeTable(['case', ...m.vendors], p);
  let group = '';
  for (const c of m.cases) {
    if (c.group !== group) {
      group = c.group;
      t.push([{ colSpan: m.vendors.length + 1, content: p.paint('bold', group) }]);
    }
    t.push([`${c.id}`, ...m.vendors.map((v) => cellText(cell(m, c.id, v), p))]);
  }
  let out = t.toString() + '\n';
  const fails: string[] = [];
  const unsupported: string[] = [];
  const counts: string[] = [];
  for (const c of m.cases) {
    for (const v of m.vendors) {
      const x = cell(m, c.id, v);
      if (!x) continue;
      if (x.detail) counts.push(`  ${v} ${c.id}: ${x.detail}`);
      for (const f of x.failures) fails.push(`  ${v} ${c.id}: ${failureText(f)}`);
      if (x.status === 'unsupported') unsupported.push(`  ${v} ${c.id}: ${x.reason ?? 'not supported by this vendor'}`);
    }
  }
  if (counts.length) out += `\n${p.paint('bold', 'Tried:')}\n${counts.join('\n')}\n`;
  if (fails.length) out += `\n${p.paint('red', 'Failures:')}\n${fails.join('\n')}\n`;
  if (unsupported.length) out += `\n${p.paint('yellow', 'Unsupported:')}\n${unsupported.join('\n')}\n`;
  return out;
}

export function countStatuses(results: CaseResult[]): Record<CaseStatus, number> {
  const c: Record<CaseStatus, number> = { pass: 0, fail: 0, unsupported: 0 };
  for (const r of results) c[r.status]++;
  return c;
}
