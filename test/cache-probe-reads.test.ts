/**
 * Every built-in unit reports what its IOTLB's probe reads (WalkTracer.cacheRead), which the
 * bench replays as the baseline of translate-hit (issue 22): a traced hit must name reads of one
 * entry array, within it, among them the ways compared and the entry that translated; a traced
 * miss names the ways of the set it probed; a walk told not to use caches names none.
 */
import { describe, expect, it } from 'vitest';
import '@ioasid/intel-vtd';
import '@ioasid/arm-smmuv3';
import '@ioasid/power-tce';
import '@ioasid/riscv-iommu';
import { createMachine, WalkTracer, type CacheRead, type DmaRequest, type Machine } from '@ioasid/core';

const VENDORS = ['intel-vtd', 'arm-smmuv3', 'power-tce', 'riscv-iommu'] as const;
const PAGES = 64;

function mapped(vendor: string) {
  const m = createMachine({ vendor, devices: [{ name: 'dev0' }], guestMemory: 2n << 20n, hostMemory: 1n << 30n });
  const fd = m.openIoasidFd();
  const dev = m.device('dev0');
  dev.bindIoasidFd(fd, { label: 'probe-reads' });
  const ioasid = fd.alloc({ protocol: 'map' });
  dev.attachIoasid(ioasid);
  const base = fd.getInfo(ioasid).permittedRanges[0].start + (1n << 20n);
  const va = m.vmm.mmap(BigInt(PAGES) << 12n);
  fd.mapDma({ ioasid, iova: base, vaddr: va, size: BigInt(PAGES) << 12n });
  const req: DmaRequest = { rid: dev.rid, pasid: -1, iovaFrame: Number(base >> 12n), write: false, privileged: false };
  return { m, fd, ioasid, req };
}

/** A mapped machine whose IOTLB holds every page of the map (each translated once), and the map's first frame. */
function warmed(vendor: string) {
  const { m, req } = mapped(vendor);
  const first = req.iovaFrame;
  for (let p = 0; p < PAGES; p++) {
    req.iovaFrame = first + p;
    expect(typeof m.driver.translate(req)).toBe('number');
  }
  return { m, req, first };
}

function traced(m: Machine, req: DmaRequest, caches: boolean): { reads: CacheRead[]; out: number } {
  const tracer = new WalkTracer();
  const r = m.iommu.walk!(req, tracer, { caches });
  tracer.finish(r, 0);
  expect(typeof r, 'the traced translation faulted').toBe('number');
  return { reads: tracer.cacheReads, out: r as number };
}

/** Where each unit keeps its IOTLB's entry array (a private field: the test swaps it for a logging view). */
const ENTRY_ARRAY: Record<(typeof VENDORS)[number], { owner: (m: Machine) => Record<string, unknown>; field: string }> = {
  'intel-vtd': { owner: (m) => (m.iommu as unknown as { iotlb: Record<string, unknown> }).iotlb, field: 'mem' },
  'arm-smmuv3': { owner: (m) => (m.iommu as unknown as { tlb: Record<string, unknown> }).tlb, field: 'ent' },
  'power-tce': { owner: (m) => (m.iommu as unknown as { tceCache: Record<string, unknown> }).tceCache, field: 'slots' },
  'riscv-iommu': { owner: (m) => (m.iommu as unknown as { iotlb: Record<string, unknown> }).iotlb, field: 'slots' },
};

/** The elements of the entry array that one real translation of `req` reads (through a Proxy in place of the array). */
function readByTranslate(m: Machine, vendor: (typeof VENDORS)[number], req: DmaRequest): Set<number> {
  const { owner, field } = ENTRY_ARRAY[vendor];
  const o = owner(m);
  const store = o[field] as Float64Array;
  expect(store).toBeInstanceOf(Float64Array);
  const seen = new Set<number>();
  o[field] = new Proxy(store, {
    get(t, key) {
      if (typeof key === 'string' && /^\d+$/.test(key)) seen.add(Number(key));
      const v = Reflect.get(t, key, t) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  });
  try {
    expect(typeof m.driver.translate(req)).toBe('number');
  } finally {
    o[field] = store;
  }
  return seen;
}

describe.each(VENDORS)('%s: the IOTLB probe reports its reads', (vendor) => {
  it('the report is exactly what a real hit reads of the entry array (the replay reads what the model reads)', () => {
    const { m, req, first } = warmed(vendor);
    for (let p = 0; p < PAGES; p++) {
      req.iovaFrame = first + p;
      const reported = new Set(traced(m, req, true).reads.flatMap((r) => Array.from({ length: r.count }, (_, j) => r.index + j)));
      expect([...readByTranslate(m, vendor, req)].sort((a, b) => a - b)).toEqual([...reported].sort((a, b) => a - b));
    }
  });

  it('a hit names reads within one entry array, the entry that translated among them', () => {
    const { m, req, first } = warmed(vendor);
    for (let p = 0; p < PAGES; p++) {
      req.iovaFrame = first + p;
      const { reads, out } = traced(m, req, true);
      expect(reads.length).toBeGreaterThan(0);
      const store = reads[0].store;
      expect(store).toBeInstanceOf(Float64Array);
      for (const r of reads) {
        expect(r.store).toBe(store);
        expect(r.count).toBeGreaterThan(0);
        expect(r.index).toBeGreaterThanOrEqual(0);
        expect(r.index + r.count).toBeLessThanOrEqual(store.length);
      }
      // The last read is the hit entry's data: the output frame, as each unit keeps it there.
      const last = reads[reads.length - 1];
      const values = Array.from(store.subarray(last.index, last.index + last.count));
      expect(values.some((v) => v === out || Math.floor(v / 4) === out || Math.floor(v / 32) === out), `${values} holds frame 0x${out.toString(16)}`).toBe(true);
    }
  });

  it('a miss names the ways it compared; an empty IOTLB and a walk without caches name none', () => {
    const { m, fd, ioasid, req } = mapped(vendor);
    const first = req.iovaFrame;
    expect(typeof m.driver.translate(req)).toBe('number');
    expect(traced(m, req, false).reads).toEqual([]);
    // Page 1 is not cached, page 0 is: its set (its slot, for POWER's direct-mapped TCE cache) is compared and misses.
    req.iovaFrame = first + 1;
    const miss = traced(m, req, true).reads;
    expect(miss.length).toBeGreaterThan(0);
    expect(miss.every((r) => r.index >= 0 && r.index + r.count <= r.store.length)).toBe(true);
    fd.invalidateCache({ ioasid, all: true });
    // A unit that counts its entries skips the probe of an empty IOTLB; POWER's always reads the slot.
    const empty = traced(m, req, true).reads;
    expect(empty.length).toBe(vendor === 'power-tce' ? 1 : 0);
  });
});
