import type { VendorRegistration } from '@ioasid/core';
import type { Painter } from '../output/colour.js';

/** Each vendor's fault catalogue as text: code (hex as the specification writes it), name, meaning. */
export function renderFaults(regs: VendorRegistration[], p: Painter): string {
  const out: string[] = [];
  for (const r of regs) {
    out.push(p.paint('bold', `${r.vendor}: ${r.faults?.length ?? 0} fault codes`));
    if (!r.faults?.length) out.push('  (the plugin publishes no fault catalogue)');
    const w = Math.max(0, ...(r.faults ?? []).map((f) => f.name.length));
    for (const f of r.faults ?? []) out.push(`  0x${f.code.toString(16).padStart(2, '0')}  ${f.name.padEnd(w)}  ${f.explain}`);
    out.push('');
  }
  return out.join('\n');
}
