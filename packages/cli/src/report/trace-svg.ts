import { isTraceRead, type TraceRead, type WalkTrace } from '@ioasid/core';
import { hex64, value } from '../dump/fields.js';
import { CHAR_W, LINE_H, esc, hex, rect, text, wrap } from './svg-text.js';

const W = 560;
const VIA_INDENT = 36;
const GAP = 18;

interface Node {
  lines: { s: string; cls: string }[];
  cls: string;
  indent: number;
  /** data-* attributes tests and readers can select on. */
  data: Record<string, string>;
}

function readNode(r: TraceRead, n: string, indent: number, cls: string): Node {
  const width = Math.floor((W - indent - 16) / CHAR_W);
  const where = [r.stage, r.level !== undefined ? `level ${r.level}` : undefined, r.index !== undefined ? `index ${r.index}` : undefined].filter(Boolean).join(', ');
  const lines = [{ s: `${n} ${r.structure}${where ? ` (${where})` : ''}`, cls: 'h' }];
  const at = r.addr !== undefined ? `at ${hex(r.addr)}` : `in ${r.where ?? 'the unit'}`;
  // Raw words, as many per line as fit (a 512-bit PASID entry is eight).
  const perLine = Math.max(1, Math.floor((width - at.length - 3) / 19));
  for (let k = 0; k < r.raw.length; k += perLine) {
    lines.push({ s: `${k === 0 ? `${at} =` : ' '.repeat(at.length + 2)} ${r.raw.slice(k, k + perLine).map(hex64).join(' ')}`, cls: 'm' });
  }
  for (const l of wrap(Object.entries(r.fields).map(([k, v]) => `${k}=${value(v)}`), width)) lines.push({ s: l, cls: 'f' });
  if (r.decided) lines.push({ s: `decided by ${r.decided}`, cls: 'd' });
  return { lines, cls, indent, data: { structure: r.structure, ...(r.addr !== undefined ? { addr: hex(r.addr) } : {}), ...(r.level !== undefined ? { level: String(r.level) } : {}) } };
}

/**
 * A walk as an SVG chain from the unit's registers down to the page (or the fault): one box per
 * structure read, stage-2 sub-walks indented above the fetch they located, arrows in walk order.
 */
export function traceSvg(t: WalkTrace, registers: Record<string, bigint>, id: string): string {
  const nodes: Node[] = [];
  const regs = Object.entries(registers).filter(([, v]) => v !== 0n);
  const regLines = wrap(regs.slice(0, 24).map(([k, v]) => `${k}=${hex(v)}`), Math.floor((W - 16) / CHAR_W));
  nodes.push({ lines: [{ s: 'unit registers', cls: 'h' }, ...regLines.map((s) => ({ s, cls: 'f' })), ...(regs.length > 24 ? [{ s: `… ${regs.length - 24} more`, cls: 'f' }] : [])], cls: 'reg', indent: 0, data: { structure: 'registers' } });
  let n = 0;
  for (const e of t.events) {
    if (!isTraceRead(e)) {
      nodes.push({ lines: [{ s: `${e.cache}: ${e.hit ? 'hit' : 'miss'}`, cls: 'h' }], cls: e.hit ? 'hit' : 'miss', indent: 0, data: { cache: e.cache } });
      continue;
    }
    n++;
    (e.via ?? []).forEach((v, i) => nodes.push(readNode(v, `${n}.${i + 1}`, VIA_INDENT, 'via')));
    nodes.push(readNode(e, `${n}.`, 0, e.level !== undefined ? 'pte' : 'ctx'));
  }
  if (t.truncated) nodes.push({ lines: [{ s: '… the trace stopped at its bound', cls: 'h' }], cls: 'miss', indent: 0, data: {} });
  if (t.fault) {
    const f = t.fault;
    const lines = [{ s: `fault ${f.name} (${f.code})`, cls: 'h' }, ...wrap((f.explain ?? '').split(' '), Math.floor((W - 16) / CHAR_W)).map((s) => ({ s, cls: 'f' }))];
    nodes.push({ lines, cls: 'fault', indent: 0, data: { fault: f.name } });
  } else if (t.output !== undefined) {
    const perms = t.perms ? ` ${t.perms.read ? 'R' : '-'}${t.perms.write ? 'W' : '-'}` : '';
    nodes.push({ lines: [{ s: `→ host physical ${hex(t.output)}${perms}`, cls: 'h' }, ...(t.pageSize ? [{ s: `in a page of ${hex(t.pageSize)} bytes`, cls: 'f' }] : [])], cls: 'out', indent: 0, data: { output: hex(t.output) } });
  }
  const parts: string[] = [];
  let y = 8;
  let prevBottom = -1;
  for (const node of nodes) {
    const h = node.lines.length * LINE_H + 10;
    const x = 8 + node.indent;
    if (prevBottom >= 0) parts.push(`<line x1="${x + 20}" y1="${prevBottom}" x2="${x + 20}" y2="${y}" class="edge" marker-end="url(#${id}-arrow)"/>`);
    const data = Object.entries(node.data).map(([k, v]) => ` data-${k}="${esc(v)}"`).join('');
    parts.push(`<g class="node ${node.cls}"${data}>`, rect(x, y, W - node.indent, h, 'box'));
    node.lines.forEach((l, i) => parts.push(text(x + 8, y + 16 + i * LINE_H, l.s, l.cls)));
    parts.push('</g>');
    prevBottom = y + h;
    y += h + GAP;
  }
  const height = y;
  return `<svg xmlns="http://www.w3.org/2000/svg" class="walk" width="${W + 16}" height="${height}" viewBox="0 0 ${W + 16} ${height}"><defs><marker id="${id}-arrow" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L8,4 L0,8 z" class="arrowhead"/></marker></defs>${parts.join('')}</svg>`;
}
