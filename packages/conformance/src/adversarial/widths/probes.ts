import { rangeHolding } from '@ioasid/core';
import { ConformanceFailure } from '../../kit.js';
import { attempt } from '../api.js';
import { command } from '../state.js';
import { hexn, nearPow2 } from '../show.js';
import type { Tally } from '../tally.js';
import type { Child, MapSpace } from './setup.js';
import { TOP, widthSizes } from './values.js';

const bytesText = (b: Uint8Array) => `[${[...b].map((x) => x.toString(16).padStart(2, '0')).join(' ')}]`;
const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

/** The tagged page (0 or 1) `iova` falls in, or -1. */
function taggedPage(s: MapSpace, iova: bigint): number {
  if (iova < s.base || iova >= s.base + 2n * s.g) return -1;
  return Number((iova - s.base) / s.g);
}

function reset(s: MapSpace, dev = s.dev): void {
  attempt(`reset ${dev.name}`, () => dev.reset());
}

/** DMA at `iova` (reads and a write): only DmaFault/IoasidError, or exactly the mapped bytes. */
function dmaAt(s: MapSpace, iova: bigint, t: Tally): void {
  const where = nearPow2(iova);
  const page = taggedPage(s, iova);
  for (const pasid of [undefined, 1]) {
    const r = attempt(() => `dev0.dmaRead(${where}, 8${pasid === undefined ? '' : ', { pasid: 1 }'})`, () => s.dev.dmaRead(iova, 8, { pasid }), true);
    t.add('width probes');
    if (!r.ok) {
      if (r.fault) reset(s);
      continue;
    }
    if (page >= 0 && iova % s.g === 0n && same(r.value, s.tag(page))) continue;
    if (page >= 0) continue; // inside a mapped page at an offset: some bytes of that page
    throw new ConformanceFailure(`isolation: dev0 read ${bytesText(r.value)} by DMA at iova ${where}${pasid === undefined ? '' : ' with PASID 1'}, where IOASID ${s.ioasid} maps nothing`);
  }
  // A read that crosses the power of two.
  if (iova >= 4n && iova < TOP) {
    const r = attempt(() => `dev0.dmaRead(${where} − 4, 8)`, () => s.dev.dmaRead(iova - 4n, 8), true);
    t.add('width probes');
    if (!r.ok && r.fault) reset(s);
    else if (r.ok && taggedPage(s, iova - 4n) < 0 && taggedPage(s, iova + 3n) < 0) {
      throw new ConformanceFailure(`isolation: dev0 read ${bytesText(r.value)} by DMA across ${where}, where IOASID ${s.ioasid} maps nothing`);
    }
  }
  const marker = new Uint8Array([0x77, 0x1d, 0x7a, 0x5e, 0, 0, 0, 1]);
  const w = attempt(() => `dev0.dmaWrite(${where}, 8 bytes)`, () => s.dev.dmaWrite(iova, marker), true);
  t.add('width probes');
  if (!w.ok) {
    if (w.fault) reset(s);
    return;
  }
  if (page < 0) throw new ConformanceFailure(`isolation: dev0 wrote by DMA at iova ${where}, where IOASID ${s.ioasid} maps nothing, and the write went through`);
  const off = iova - s.base;
  const got = s.m.vmm.read(s.va + off, 8);
  if (!same(got, marker)) throw new ConformanceFailure(`widths: dev0's DMA write at iova ${where} went through but the VMM page behind it holds ${bytesText(got)}: the bytes went to another host address`);
  s.m.vmm.write(s.va + off, off % s.g === 0n ? s.tag(page) : new Uint8Array(8));
}

/** MAP_DMA of the spare page at `iova`: refused, or then reached exactly there, LOOKUP agreeing, and UNMAP taking it away. */
function mapAt(s: MapSpace, iova: bigint, t: Tally): void {
  const where = nearPow2(iova);
  if (iova % s.g !== 0n || taggedPage(s, iova) >= 0 || taggedPage(s, iova + s.g - 1n) >= 0) return;
  const r = command(s.m, () => `MAP_DMA(iova ${where}, one page)`, () => s.fd.mapDma({ ioasid: s.ioasid, iova, vaddr: s.spare, size: s.g }));
  t.add('width probes');
  if (!r.ok) return;
  if (!rangeHolding(s.info.permittedRanges, iova, s.g)) throw new ConformanceFailure(`widths: MAP_DMA at iova ${where} succeeded outside every permitted range GET_INFO lists`);
  const read = attempt(() => `dev0.dmaRead(${where}) after MAP_DMA there`, () => s.dev.dmaRead(iova, 8), true);
  if (!read.ok) {
    if (read.fault) reset(s);
    throw new ConformanceFailure(`widths: MAP_DMA at iova ${where} succeeded but a DMA there fails (${read.fault ? `DmaFault ${read.fault.record.name}` : read.error.message})`);
  }
  if (!same(read.value, s.tag(2))) throw new ConformanceFailure(`widths: after MAP_DMA of the spare page at iova ${where}, a DMA there reads ${bytesText(read.value)}, not the page's bytes ${bytesText(s.tag(2))}: the entry points elsewhere`);
  const marker = new Uint8Array([0x5a, 0x17, 0xe5, 0x0d]);
  const wr = attempt(() => `dev0.dmaWrite(${where} + 16)`, () => s.dev.dmaWrite(iova + 16n, marker), true);
  if (wr.ok && !same(s.m.vmm.read(s.spare + 16n, 4), marker)) throw new ConformanceFailure(`widths: a DMA write at iova ${where} + 16 (mapped to the spare page) did not land in it: it went to another host address`);
  if (!wr.ok && wr.fault) reset(s);
  const l = attempt(() => `LOOKUP(${where})`, () => s.fd.lookup(s.ioasid, iova));
  if (l.ok && l.value.output !== null && l.value.output !== undefined) {
    const at = attempt('hostMemory.read of the LOOKUP output', () => s.m.hostMemory.read(l.value.output as bigint, 8));
    if (at.ok && !same(at.value, s.tag(2))) throw new ConformanceFailure(`widths: LOOKUP at iova ${where} says host address ${hexn(l.value.output as bigint)}, which holds ${bytesText(at.value)}, not the mapped page`);
  }
  const u = command(s.m, () => `UNMAP_DMA(${where}, one page)`, () => s.fd.unmapDma({ ioasid: s.ioasid, iova, size: s.g }));
  if (!u.ok || u.value !== s.g) throw new ConformanceFailure(`widths: UNMAP_DMA of the page just mapped at iova ${where} ${u.ok ? `returned ${u.value}` : `failed: ${u.error?.message}`}, expected ${s.g}`);
  const after = attempt(() => `dev0.dmaRead(${where}) after UNMAP_DMA`, () => s.dev.dmaRead(iova, 8), true);
  if (after.ok) throw new ConformanceFailure(`isolation: after UNMAP_DMA at iova ${where}, dev0 still reads ${bytesText(after.value)} there`);
  if (after.fault) reset(s);
}

/** UNMAP_DMA, INVALIDATE_CACHE and LOOKUP at `iova` with sizes up to 2^64. */
function rangesAt(s: MapSpace, iova: bigint, t: Tally): void {
  const where = nearPow2(iova);
  const lo = s.base;
  const hi = s.base + 2n * s.g;
  for (const size of widthSizes(iova, s.g)) {
    const u = command(s.m, () => `UNMAP_DMA(${where}, size ${nearPow2(size)})`, () => s.fd.unmapDma({ ioasid: s.ioasid, iova, size }));
    t.add('width probes');
    if (u.ok) {
      const end = iova + size;
      const covers = iova <= lo && end >= hi;
      const touches = iova < hi && end > lo;
      const want = covers ? 2n * s.g : 0n;
      if (touches && !covers) throw new ConformanceFailure(`widths: UNMAP_DMA(${where}, ${nearPow2(size)}) cut the map at ${hexn(lo)} and succeeded (returned ${u.value}); it must be refused (EINVAL)`);
      if (u.value !== want) throw new ConformanceFailure(`widths: UNMAP_DMA(${where}, ${nearPow2(size)}) returned ${u.value}, expected ${want}`);
      if (covers) {
        const again = attempt('MAP_DMA of the tagged pages again', () => s.fd.mapDma({ ioasid: s.ioasid, iova: lo, vaddr: s.va, size: 2n * s.g }));
        if (!again.ok) throw new ConformanceFailure(`widths: mapping the tagged pages again after UNMAP_DMA(${where}, ${nearPow2(size)}) failed: ${again.error?.message}`);
      }
    }
    command(s.m, () => `INVALIDATE_CACHE(${where}, size ${nearPow2(size)})`, () => s.fd.invalidateCache({ ioasid: s.ioasid, iova, size }));
    t.add('width probes');
  }
  const l = attempt(() => `LOOKUP(${where})`, () => s.fd.lookup(s.ioasid, iova));
  t.add('width probes');
  if (l.ok && l.value.output !== null && l.value.output !== undefined && taggedPage(s, iova) < 0) {
    throw new ConformanceFailure(`widths: LOOKUP at iova ${where} reports output ${hexn(l.value.output as bigint)}, but IOASID ${s.ioasid} maps nothing there`);
  }
}

/** The child's DMA, INVALIDATE_CACHE and LOOKUP at `iova` (its guest table maps one page). */
function childAt(s: MapSpace, c: Child, iova: bigint, t: Tally): void {
  const where = nearPow2(iova);
  const r = attempt(() => `dev1.dmaRead(${where}) through the nested child`, () => c.dev.dmaRead(iova, 8), true);
  t.add('width probes');
  if (!r.ok && r.fault) reset(s, c.dev);
  if (r.ok && !(iova >= c.gva && iova < c.gva + c.page)) {
    throw new ConformanceFailure(`isolation: dev1 read ${bytesText(r.value)} by DMA at gva ${where} through the nested child, whose guest table maps only ${hexn(c.gva)}`);
  }
  for (const size of widthSizes(iova, c.page)) {
    command(s.m, () => `INVALIDATE_CACHE(child, ${where}, size ${nearPow2(size)})`, () => s.fd.invalidateCache({ ioasid: c.ioasid, iova, size }));
    t.add('width probes');
  }
  attempt(() => `LOOKUP(child, ${where})`, () => s.fd.lookup(c.ioasid, iova));
  t.add('width probes');
}

/** Every probe at one IOVA. */
export function probeAt(s: MapSpace, child: Child | undefined, iova: bigint, t: Tally): void {
  dmaAt(s, iova, t);
  mapAt(s, iova, t);
  rangesAt(s, iova, t);
  if (child) childAt(s, child, iova, t);
}
