import type { DomainDump, DumpTable } from '@ioasid/core';
import type { Painter } from '../output/colour.js';
import { contextLines, fieldsText, hex64 } from './fields.js';

export interface DumpHead {
  scenario: string;
  vendor: string;
  ioasid: number;
}

const hex = (v: bigint) => `0x${v.toString(16)}`;

function table(t: DumpTable, indent: string, p: Painter, out: string[]): void {
  out.push(`${indent}${p.paint('bold', `level ${t.level} table`)} at ${hex(t.tableAddr)} (${t.entries.length} entr${t.entries.length === 1 ? 'y' : 'ies'} in use)`);
  for (const e of t.entries) {
    const kind = e.decoded.kind === 'table' ? p.paint('cyan', 'table') : e.decoded.kind === 'leaf' ? p.paint('green', 'leaf') : p.paint('red', e.decoded.kind);
    const to = e.decoded.addr !== undefined ? ` → ${hex(e.decoded.addr)}` : '';
    out.push(`${indent}  [${String(e.index).padStart(3)}] ${hex(e.entryAddr)} = ${hex64(e.raw)}  iova ${hex(e.iova)}  ${kind}${to}  ${p.paint('dim', fieldsText(e.decoded))}`);
    if (e.child) table(e.child, `${indent}    `, p, out);
  }
}

function domain(d: DomainDump, indent: string, p: Painter, out: string[]): void {
  out.push(`${indent}${p.paint('bold', d.title)}: format ${d.format}, input base ${hex(d.inputBase)}`);
  for (const [k, v] of Object.entries(d.context ?? {})) contextLines(k, v, `${indent}  `, out);
  if (d.root) table(d.root, `${indent}  `, p, out);
  else out.push(`${indent}  (no page table)`);
  for (const c of d.children ?? []) domain(c, `${indent}  `, p, out);
}

/** The dump as indented text: per level, entry index, entry address, raw value, decoded fields. */
export function renderText(d: DomainDump, head: DumpHead, p: Painter): string {
  const out = [`IOASID ${head.ioasid} after scenario ${head.scenario} on ${head.vendor} (decoded from memory)`];
  domain(d, '', p, out);
  return out.join('\n') + '\n';
}
