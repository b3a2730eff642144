import type { DomainDump, DumpTable } from '@ioasid/core';
import { fieldsText, hex64, value } from './fields.js';
import type { DumpHead } from './text.js';

const hex = (v: bigint) => `0x${v.toString(16)}`;
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Entries per table node before the rest is summarised (a dot graph of 512 rows is unreadable). */
const MAX_ROWS = 64;

class DotWriter {
  readonly lines: string[] = [];

  table(t: DumpTable, id: string): void {
    const rows = t.entries.slice(0, MAX_ROWS).map((e) => {
      const to = e.decoded.addr !== undefined ? ` → ${hex(e.decoded.addr)}` : '';
      const f = fieldsText(e.decoded);
      return `<tr><td port="e${e.index}" align="left">[${e.index}] ${hex(e.entryAddr)} = ${hex64(e.raw)}<br/>${esc(e.decoded.kind + to)}${f ? `<br/><font point-size="9">${esc(f)}</font>` : ''}</td></tr>`;
    });
    if (t.entries.length > MAX_ROWS) rows.push(`<tr><td>… ${t.entries.length - MAX_ROWS} more entries</td></tr>`);
    const head = `<tr><td bgcolor="lightgrey"><b>level ${t.level} table at ${hex(t.tableAddr)}</b></td></tr>`;
    this.lines.push(`  ${id} [label=<<table border="0" cellborder="1" cellspacing="0">${head}${rows.join('')}</table>>];`);
    t.entries.slice(0, MAX_ROWS).forEach((e) => {
      if (!e.child) return;
      const cid = `${id}_${e.index}`;
      this.table(e.child, cid);
      this.lines.push(`  ${id}:e${e.index} -> ${cid};`);
    });
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
    `  label="IOASID ${head.ioasid} after ${esc(head.scenario)} on ${head.vendor}";`,
    '  rankdir=LR;',
    '  node [shape=plaintext, fontname="monospace"];',
    ...w.lines,
    '}',
    '',
  ].join('\n');
}
