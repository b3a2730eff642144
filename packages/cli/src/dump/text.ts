import type { DomainDump, DumpEntry } from '@ioasid/core';
import type { Painter } from '../output/colour.js';
import { dumpRows } from './collapse.js';
import { contextLines, fieldsText, hex64 } from './fields.js';
import type { ShownTable } from './filter.js';

export interface DumpHead {
  scenario: string;
  vendor: string;
  ioasid: number;
  /** The step the state is from (1-based), when not the end of the scenario. */
  step?: number;
}

const hex = (v: bigint) => `${v < 0n ? '-' : ''}0x${(v < 0n ? -v : v).toString(16)}`;

export function headLine(head: DumpHead): string {
  return `IOASID ${head.ioasid} ${head.step === undefined ? 'after scenario' : `after step ${head.step} of`} ${head.scenario} on ${head.vendor} (decoded from memory)`;
}

function entryLine(e: DumpEntry, p: Painter): string {
  const kind = e.decoded.kind === 'table' ? p.paint('cyan', 'table') : e.decoded.kind === 'leaf' ? p.paint('green', 'leaf') : p.paint('red', e.decoded.kind);
  const to = e.decoded.addr !== undefined ? ` → ${hex(e.decoded.addr)}${e.kernel ? ` ${p.paint('yellow', '(a kernel frame)')}` : ''}` : '';
  return `[${String(e.index).padStart(3)}] ${hex(e.entryAddr)} = ${hex64(e.raw)}  iova ${hex(e.iova)}  ${kind}${to}  ${p.paint('dim', fieldsText(e.decoded))}`;
}

function table(t: ShownTable, indent: string, p: Painter, out: string[]): void {
  const inUse = t.elided ?? t.inUse ?? t.entries.length;
  const of = t.slots !== undefined ? ` of ${t.slots}` : '';
  const shown = t.inUse !== undefined ? `; ${t.entries.length} in the range shown` : '';
  out.push(`${indent}${p.paint('bold', `level ${t.level} table`)} at ${hex(t.tableAddr)} (${inUse}${of} entr${inUse === 1 && !of ? 'y' : 'ies'} in use${shown})`);
  if (t.elided !== undefined) {
    out.push(`${indent}  … below --depth`);
    return;
  }
  for (const r of dumpRows(t)) {
    if (r.kind === 'empty') out.push(`${indent}  ${p.paint('dim', `[${r.from === r.to ? r.from : `${r.from}–${r.to}`}] empty`)}`);
    else if (r.kind === 'run') {
      const last = r.last.iova + (t.span ?? 0n) - 1n;
      out.push(
        `${indent}  [${r.first.index}–${r.last.index}] ${r.count} more leaves like [${r.first.index - 1}], output ${r.step < 0n ? '' : '+'}${hex(r.step)} each: ` +
          `iova ${hex(r.first.iova)}–${hex(last)} → ${hex(r.first.decoded.addr!)} … ${hex(r.last.decoded.addr!)}`,
      );
    } else {
      out.push(`${indent}  ${entryLine(r.entry, p)}`);
      if (r.entry.child) table(r.entry.child, `${indent}    `, p, out);
    }
  }
}

function domain(d: DomainDump, indent: string, p: Painter, out: string[]): void {
  out.push(`${indent}${p.paint('bold', d.title)}: format ${d.format}, input base ${hex(d.inputBase)}`);
  for (const [k, v] of Object.entries(d.context ?? {})) contextLines(k, v, `${indent}  `, out);
  if (d.root) table(d.root, `${indent}  `, p, out);
  else out.push(`${indent}  (no page table)`);
  for (const c of d.children ?? []) domain(c, `${indent}  `, p, out);
}

/**
 * The dump as indented text: per level, entry index, entry address, raw value, decoded fields;
 * unused slots and runs of alike leaves one line each.
 */
export function renderText(d: DomainDump, head: DumpHead, p: Painter): string {
  const out = [headLine(head)];
  domain(d, '', p, out);
  return out.join('\n') + '\n';
}
