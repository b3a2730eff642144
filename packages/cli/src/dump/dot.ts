import type { DomainDump } from '@ioasid/core';
import { dumpRows } from './collapse.js';
import { fieldsText, hex64, value } from './fields.js';
import type { ShownTable } from './filter.js';
import { headLine, type DumpHead } from './text.js';

const hex = (v: bigint) => `${v < 0n ? '-' : ''}0x${(v < 0n ? -v : v).toString(16)}`;
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Rows per table node before the rest is summarised (runs and gaps are already one row each). */
const MAX_ROWS = 128;

class DotWriter {
  readonly lines: string[] = [];

  table(t: ShownTable, id: string): void {
    const all = dumpRows(t);
    const rows = all.slice(0, MAX_ROWS).map((r) => {
      if (r.kind === 'empty') return `<tr><td align="left"><font color="grey">[${r.from === r.to ? r.from : `${r.from}–${r.to}`}] empty</font></td></tr>`;
      if (r.kind === 'run') return `<tr><td align="left">[${r.first.index}–${r.last.index}] ${r.count} more alike, output ${esc(hex(r.step))} each</td></tr>`;
      const e = r.entry;
      const to = e.decoded.addr !== undefined ? ` → ${hex(e.decoded.addr)}` : '';
      const f = fieldsText(e.decoded);
      return `<tr><td port="e${e.index}" align="left">[${e.index}] ${hex(e.entryAddr)} = ${hex64(e.raw)}<br/>${esc(e.decoded.kind + to)}${f ? `<br/><font point-size="9">${esc(f)}</font>` : ''}</td></tr>`;
    });
    if (all.length > MAX_ROWS) rows.push(`<tr><td>… ${all.length - MAX_ROWS} more rows (narrow with --range)</td></tr>`);
    if (t.elided !== undefined) rows.push(`<tr><td>${t.elided} entries below --depth</td></tr>`);
    const head = `<tr><td bgcolor="lightgrey"><b>level ${t.level} table at ${hex(t.tableAddr)}</b></td></tr>`;
    this.lines.push(`  ${id} [label=<<table border="0" cellborder="1" cellspacing="0">${head}${rows.join('')}</table>>];`);
    for (const r of all.slice(0, MAX_ROWS)) {
      if (r.kind !== 'entry' || !r.entry.child) continue;
      const cid = `${id}_${r.entry.index}`;
      this.table(r.entry.child, cid);
      this.lines.push(`  ${id}:e${r.entry.index} -> ${cid};`);
    }
  }

  domain(d: DomainDump, id: string): void {
    const ctx = Object.entries(d.context ?? {}).map(([k, v]) => `<tr><td align="left">${esc(k)}: ${esc(value(v))}</td></tr>`);
    const head = `<tr><td bgcolor="lightblue"><b>${esc(d.title)}</b><br/>format ${esc(d.format)}, input base ${hex(d.inputBase)}</td></tr>`;
    this.lines.push(`  ${id} [label=<<table border="0" cellborder="1" cellspacing="0">${head}${ctx.join('')}</table>>];`);
    if (d.root) {
      this.table(d.root, `${id}_t`);
      this.lines.push(`  ${id} -> ${id}_t;`);
    }
    (d.children ?? []).forEach((c, i) => {
      this.domain(c, `${id}_c${i}`);
      this.lines.push(`  ${id} -> ${id}_c${i} [style=dashed];`);
    });
  }
}

/** Graphviz: one node per table (entries as rows), edges from table entries to the tables below. */
export function renderDot(d: DomainDump, head: DumpHead): string {
  const w = new DotWriter();
  w.domain(d, 'd');
  return [
    `digraph "ioasid ${head.ioasid}" {`,
    `  label="${esc(headLine(head))}";`,
    '  rankdir=LR;',
    '  node [shape=plaintext, fontname="monospace"];',
    ...w.lines,
    '}',
    '',
  ].join('\n');
}
