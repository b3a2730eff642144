import { isTraceRead, type Device, type Machine, type TraceCacheProbe, type TraceRead } from '@ioasid/core';
import { check } from './kit.js';

/** Host frames behind the guest RAM pages that exist (a page never touched has none). */
function guestRamFrames(m: Machine): Set<number> {
  const out = new Set<number>();
  const pages = Number(m.guest.size >> 12n);
  for (let g = 0; g < pages; g++) {
    const f = m.guest.hostFrame(g);
    if (f >= 0) out.add(f);
  }
  return out;
}

/** The reads of a trace that the hardware made at a guest-physical address: those a stage-2 sub-walk located. */
function fetchesByGpa(events: readonly (TraceRead | TraceCacheProbe)[]): TraceRead[] {
  return events.filter((e): e is TraceRead => isTraceRead(e) && !!e.via?.length && e.addr !== undefined);
}

const hex = (v: bigint) => `0x${v.toString(16)}`;

/**
 * What a nested route reaches must be the guest's own. The hardware's walk of `iova` (traced, no
 * side effect) is read back: every structure it fetched by guest-physical address — a PASID or
 * context table entry, a guest page-table entry — and the byte the request lands on must lie in
 * guest RAM. A kernel structure fetched through the device's stage 2 would be kernel memory that
 * the same device's DMA can read at that guest-physical address (docs/isolation.md).
 * A unit that traces must show at least one such fetch (the guest's own table is read by GPA).
 */
export function checkNestedReach(m: Machine, dev: Device, iova: bigint, options: { pasid?: number; write?: boolean }, what: string): void {
  const trace = dev.traceDma(iova, { ...(options.pasid !== undefined ? { pasid: options.pasid } : {}), write: options.write ?? false });
  if (!trace) return;
  const ram = guestRamFrames(m);
  const fetched = fetchesByGpa(trace.events);
  check(fetched.length > 0 || trace.fault !== undefined, () => `${what}: the traced walk of ${hex(iova)} shows no structure fetched by guest-physical address, yet the route is nested on a guest table`);
  for (const r of fetched) {
    check(ram.has(Number(r.addr! >> 12n)), () => `${what}: the ${r.stage ? `${r.stage} ` : ''}${r.structure} the hardware fetched through stage 2 lies at host ${hex(r.addr!)}, outside guest RAM: kernel memory mapped into the device's stage 2, which its DMA can read there too`);
  }
  if (trace.output !== undefined) {
    check(ram.has(Number(trace.output >> 12n)), () => `${what}: the DMA at ${hex(iova)} lands at host ${hex(trace.output!)}, outside guest RAM (the parent maps only guest RAM)`);
  }
}
