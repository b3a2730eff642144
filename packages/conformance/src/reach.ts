import { isTraceRead, type Device, type DomainDump, type DumpTable, type IoasidFd, type Machine, type TraceCacheProbe, type TraceRead } from '@ioasid/core';
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

/**
 * Guest RAM's frames per machine, gathered again only when a frame is not among them: guest RAM
 * stays mapped for the machine's life, so a page once backed keeps its frame, and only pages
 * touched since can be missing.
 */
const known = new WeakMap<Machine, Set<number>>();

function isGuestRam(m: Machine, frame: number): boolean {
  let set = known.get(m);
  if (set?.has(frame)) return true;
  set = guestRamFrames(m);
  known.set(m, set);
  return set.has(frame);
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
  const fetched = fetchesByGpa(trace.events);
  check(fetched.length > 0 || trace.fault !== undefined, () => `${what}: the traced walk of ${hex(iova)} shows no structure fetched by guest-physical address, yet the route is nested on a guest table`);
  for (const r of fetched) {
    check(isGuestRam(m, Number(r.addr! >> 12n)), () => `${what}: the ${r.stage ? `${r.stage} ` : ''}${r.structure} the hardware fetched through stage 2 lies at host ${hex(r.addr!)}, outside guest RAM: kernel memory mapped into the device's stage 2, which its DMA can read there too`);
  }
  if (trace.output !== undefined) {
    check(isGuestRam(m, Number(trace.output >> 12n)), () => `${what}: the DMA at ${hex(iova)} lands at host ${hex(trace.output!)}, outside guest RAM (the parent maps only guest RAM)`);
  }
}

/** The first leaf of a dumped table (and its nested dumps) that maps a kernel frame, with the view it is in. */
function kernelLeaf(d: DomainDump): { title: string; iova: bigint; addr: bigint | undefined } | null {
  const inTable = (t: DumpTable | null): { iova: bigint; addr: bigint | undefined } | null => {
    if (!t) return null;
    for (const e of t.entries) {
      if (e.kernel) return { iova: e.iova, addr: e.decoded.addr };
      const c = inTable(e.child ?? null);
      if (c) return c;
    }
    return null;
  };
  const here = inTable(d.root);
  if (here) return { title: d.title, ...here };
  for (const c of d.children ?? []) {
    const k = kernelLeaf(c);
    if (k) return k;
  }
  return null;
}

/**
 * The tables of `ioasid` in memory, as DUMP_PGTABLE shows them (bounded), map no kernel frame: a
 * leaf that does puts kernel memory in the space of every device attached — and, for a stage 2,
 * at a GPA the guest's own tables can point at.
 */
export function checkNoKernelLeaf(fd: IoasidFd, ioasid: number, what: string): void {
  const k = kernelLeaf(fd.dumpPgtable(ioasid));
  check(!k, () => `${what}: DUMP_PGTABLE of IOASID ${ioasid} (${k!.title}) has a leaf at input ${hex(k!.iova)} that maps the kernel frame at ${k!.addr === undefined ? '?' : hex(k!.addr)}: kernel memory in a space devices reach`);
}
