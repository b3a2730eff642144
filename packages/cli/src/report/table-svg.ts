import type { DomainDump, DumpEntry } from '@ioasid/core';
import { dumpRows, type DumpRow } from '../dump/collapse.js';
import type { ShownTable } from '../dump/filter.js';
import { CHAR_W, LINE_H, esc, hex, rect, text } from './svg-text.js';

const BOX_W = 400;
const COL_GAP = 60;
const ROW_GAP = 16;
/** Rows a table box shows; the rows the walk read are always among them. */
const MAX_ROWS = 24;
/** Table boxes one tree draws; the walk's path always among them. */
const MAX_BOXES = 40;

interface Box {
  t: ShownTable;
  depth: number;
  x: number;
  y: number;
  h: number;
  rows: (DumpRow | { kind: 'more'; n: number })[];
  onPath: boolean;
  parent?: { box: Box; row: number };
}

function rowText(r: DumpRow | { kind: 'more'; n: number }): string {
  if (r.kind === 'more') return `… ${r.n} more rows`;
  if (r.kind === 'empty') return `[${r.from === r.to ? r.from : `${r.from}–${r.to}`}] empty`;
  if (r.kind === 'run') return `[${r.first.index}–${r.last.index}] ${r.count} alike, ${r.step < 0n ? '' : '+'}${hex(r.step)} each`;
  const e = r.entry;
  return `[${e.index}] ${e.decoded.kind}${e.decoded.addr !== undefined ? ` → ${hex(e.decoded.addr)}` : ''}${e.kernel ? ' (kernel frame)' : ''}`;
}

function pickRows(rows: DumpRow[], path: ReadonlySet<bigint>): Box['rows'] {
  if (rows.length <= MAX_ROWS) return rows;
  const keep = new Set<number>();
  rows.forEach((r, i) => {
    if (i < MAX_ROWS - 4 || (r.kind === 'entry' && path.has(r.entry.entryAddr))) keep.add(i);
  });
  const out: Box['rows'] = [];
  let skipped = 0;
  rows.forEach((r, i) => {
    if (keep.has(i)) {
      if (skipped) out.push({ kind: 'more', n: skipped });
      skipped = 0;
      out.push(r);
    } else skipped++;
  });
  if (skipped) out.push({ kind: 'more', n: skipped });
  return out;
}

function hasPath(t: ShownTable, path: ReadonlySet<bigint>): boolean {
  return t.entries.some((e) => path.has(e.entryAddr) || (e.child !== undefined && hasPath(e.child, path)));
}

/**
 * One page table as an SVG tree, a column per level (as the specification numbers it), runs and
 * unused slots collapsed as in the text dump; the entries the walk read (`path`) are highlighted
 * and their tables always drawn.
 */
export function tableSvg(d: DomainDump, path: ReadonlySet<bigint>, id: string): string {
  if (!d.root) return `<p class="muted">${esc(d.title)}: no page table</p>`;
  const boxes: Box[] = [];
  const nextY: number[] = [];
  let hidden = 0;
  const place = (t: ShownTable, depth: number, parent?: Box['parent']): void => {
    const onPath = hasPath(t, path);
    if (boxes.length >= MAX_BOXES && !onPath) {
      hidden++;
      return;
    }
    const rows = pickRows(dumpRows(t, path), path);
    const h = (rows.length + 1) * LINE_H + 10;
    const want = parent ? parent.box.y + (parent.row + 1) * LINE_H : 8;
    const y = Math.max(nextY[depth] ?? 8, want);
    nextY[depth] = y + h + ROW_GAP;
    const box: Box = { t, depth, x: 8 + depth * (BOX_W + COL_GAP), y, h, rows, onPath, ...(parent ? { parent } : {}) };
    boxes.push(box);
    rows.forEach((r, i) => {
      if (r.kind === 'entry' && r.entry.child) place(r.entry.child, depth + 1, { box, row: i });
    });
  };
  place(d.root, 0);
  const parts: string[] = [];
  for (const b of boxes) {
    if (b.parent) {
      const py = b.parent.box.y + 10 + (b.parent.row + 1) * LINE_H;
      const cls = b.onPath && b.parent.box.onPath ? 'edge path' : 'edge';
      parts.push(`<path d="M${b.parent.box.x + BOX_W},${py} C${b.x - COL_GAP / 2},${py} ${b.x - COL_GAP / 2},${b.y + 12} ${b.x},${b.y + 12}" class="${cls}"/>`);
    }
    parts.push(`<g class="table${b.onPath ? ' on-path' : ''}" data-level="${b.t.level}" data-addr="${hex(b.t.tableAddr)}">`);
    parts.push(rect(b.x, b.y, BOX_W, b.h, 'box'));
    const inUse = b.t.elided ?? b.t.entries.length;
    parts.push(text(b.x + 8, b.y + 16, `level ${b.t.level} table at ${hex(b.t.tableAddr)} (${inUse}${b.t.slots !== undefined ? ` of ${b.t.slots}` : ''})`, 'h'));
    b.rows.forEach((r, i) => {
      const y = b.y + 10 + (i + 1) * LINE_H;
      const e: DumpEntry | undefined = r.kind === 'entry' ? r.entry : undefined;
      const hit = e !== undefined && path.has(e.entryAddr);
      if (hit) parts.push(rect(b.x + 2, y - 1, BOX_W - 4, LINE_H, 'hit'));
      const cls = r.kind === 'empty' || r.kind === 'more' ? 'muted' : e?.decoded.kind === 'leaf' ? 'leaf' : '';
      const s = rowText(r);
      const fit = Math.floor((BOX_W - 16) / CHAR_W);
      parts.push(`<g class="row${hit ? ' walked' : ''}"${e ? ` data-index="${e.index}" data-entry="${hex(e.entryAddr)}"` : ''}>${text(b.x + 8, y + 11, s.length > fit ? `${s.slice(0, fit - 1)}…` : s, cls)}</g>`);
    });
    parts.push('</g>');
  }
  const width = Math.max(...boxes.map((b) => b.x + BOX_W)) + 8;
  const height = Math.max(...boxes.map((b) => b.y + b.h)) + 8;
  const note = hidden ? `<p class="muted">${hidden} more tables not drawn (off the walk)</p>` : '';
  return `<svg xmlns="http://www.w3.org/2000/svg" id="${id}" class="tree" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${parts.join('')}</svg>${note}`;
}
