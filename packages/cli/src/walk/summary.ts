import { isTraceRead, type LookupView, type TraceRead } from '@ioasid/core';

function name(r: TraceRead): string {
  return r.via?.length ? `${r.structure} (via ${r.via.length} stage-2 reads)` : r.structure;
}

/** One line saying what a LOOKUP walked: the hardware's structures in order, or the decoded levels. */
export function walkSummary(v: LookupView): string {
  if (v.trace) {
    const reads = v.trace.events.filter(isTraceRead);
    const count = reads.reduce((n, r) => n + 1 + (r.via?.length ?? 0), 0);
    return `hardware walk: ${reads.map(name).join(' → ') || 'no reads'} (${count} reads)`;
  }
  return `${v.steps.length} table reads: ${v.steps.map((s) => `${s.stage ? `${s.stage} ` : ''}level ${s.level}`).join(' → ') || 'none'}`;
}
