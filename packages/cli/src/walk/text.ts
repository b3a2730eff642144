import { isTraceRead, type LookupView, type TraceRead, type WalkTrace } from '@ioasid/core';
import type { Painter } from '../output/colour.js';
import { hex64, value } from '../dump/fields.js';

const hex = (v: bigint) => `0x${v.toString(16)}`;

function sizeText(n: bigint): string {
  for (const [u, s] of [[30n, 'GiB'], [20n, 'MiB'], [10n, 'KiB']] as const) if (n >= 1n << u && n % (1n << u) === 0n) return `${n >> u} ${s}`;
  return `${n} bytes`;
}

function readLines(r: TraceRead, n: string, indent: string, p: Painter, out: string[]): void {
  const where = [r.stage, r.level !== undefined ? `level ${r.level}` : undefined, r.index !== undefined ? `index ${r.index}` : undefined].filter(Boolean).join(', ');
  out.push(`${indent}${n} ${p.paint('bold', r.structure)}${where ? ` (${where})` : ''} ${r.addr !== undefined ? `at ${hex(r.addr)}` : `in ${r.where ?? 'the unit'}`}`);
  if (r.via?.length) {
    out.push(`${indent}   ${p.paint('dim', 'found through the stage-2 walk of its guest-physical address:')}`);
    r.via.forEach((v, i) => readLines(v, `${n.replace(/\.$/, '')}.${i + 1}`, `${indent}     `, p, out));
  }
  out.push(`${indent}   = ${r.raw.map(hex64).join(' ')}`);
  const fields = Object.entries(r.fields).map(([k, v]) => `${k}=${value(v)}`).join(' ');
  if (fields) out.push(`${indent}   ${p.paint('dim', fields)}`);
  if (r.decided) out.push(`${indent}   ${p.paint('yellow', `decided by ${r.decided}`)}`);
}

/** A hardware walk trace as numbered lines: each read, its raw words, fields and the deciding field. */
export function traceLines(t: WalkTrace, p: Painter, indent = '  '): string[] {
  const out: string[] = [];
  let n = 0;
  for (const e of t.events) {
    if (isTraceRead(e)) readLines(e, `${++n}.`, indent, p, out);
    else out.push(`${indent}${p.paint('dim', `${e.cache}: ${e.hit ? 'hit' : 'miss'}`)}`);
  }
  if (t.truncated) out.push(`${indent}… the trace stopped at its bound (a structure that loops or fans out)`);
  if (t.fault) {
    const f = t.fault;
    out.push(`${indent}${p.paint('red', `fault ${f.name} (${f.code})`)}${f.explain ? `: ${f.explain}` : ''}`);
    const extra = Object.entries(f).filter(([k]) => !['rid', 'pasid', 'iova', 'write', 'code', 'name', 'explain'].includes(k));
    if (extra.length) out.push(`${indent}  ${p.paint('dim', extra.map(([k, v]) => `${k}=${value(v)}`).join(' '))}`);
  } else if (t.output !== undefined) {
    const perms = t.perms ? ` ${t.perms.read ? 'R' : '-'}${t.perms.write ? 'W' : '-'}` : '';
    out.push(`${indent}${p.paint('green', `→ host physical ${hex(t.output)}`)}${perms}${t.pageSize ? ` in a ${sizeText(t.pageSize)} page` : ''}`);
  }
  return out;
}

/** LOOKUP's decode from memory, for a unit that cannot trace. */
export function lookupLines(v: LookupView, p: Painter, indent = '  '): string[] {
  const out = v.steps.map((s, i) => `${indent}${i + 1}. ${s.stage ? `${s.stage} ` : ''}level ${s.level} entry [${s.index}] at ${hex(s.entryAddr)} = ${hex64(s.raw)}  ${s.decoded.kind}`);
  out.push(v.output !== null ? `${indent}${p.paint('green', `→ ${hex(v.output)}`)}` : `${indent}${p.paint('red', `not translated: ${v.fault ?? 'no leaf'}`)}`);
  return out;
}
