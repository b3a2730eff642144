/**
 * IommuUnit.walk is a debugger's look: it changes nothing the hardware holds (registers, FRCD,
 * context / PASID caches, IOTLB, device-TLB, the page request queue, memory, A/D bits) and
 * raises no interrupt. With `caches` it probes the caches the DMA would consult, so a stale
 * IOTLB or device-TLB entry shows as what the DMA would use.
 */
import { describe, expect, it } from 'vitest';
import { PROT_READ, PROT_WRITE, type HostMemory } from '@ioasid/core';
import { FL_A, FL_D, type VtdUnit } from '../src/index.js';
import { flowRequests, flowsMachine } from './flows.js';
import { Hand } from './hand.js';
import { traced } from './walk-support.js';

/** A cheap digest of every chunk of memory ever written. */
function memoryDigest(host: HostMemory): string[] {
  return [...host.image()].map(({ pa, bytes }) => {
    const w = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    let h = 0x811c9dc5;
    for (let i = 0; i < w.length; i++) h = Math.imul(h ^ w[i], 0x01000193);
    return `${pa.toString(16)}:${(h >>> 0).toString(16)}`;
  });
}

/** Everything the unit holds that a translation could change, deep-copied. */
function unitState(unit: VtdUnit, host: HostMemory) {
  return structuredClone({
    registers: unit.registers(),
    contextCache: unit.contextCache,
    pasidCache: unit.pasidCache,
    iotlb: unit.iotlb,
    devTlb: unit.devTlb,
    prq: { pqa: unit.prq.pqa, pqh: unit.prq.pqh, pqt: unit.prq.pqt, prs: unit.prq.prs },
    responses: unit.responses,
    memory: memoryDigest(host),
  });
}

describe('walk has no side effect', () => {
  it('after many flows, walks of every route (with and without caches) leave registers, FRCD, caches, queues and memory as they were', () => {
    const { m, driver, hostPasid } = flowsMachine();
    const unit = driver.unit;
    let interrupts = 0;
    const { fault, pageRequest } = unit.interrupts;
    unit.interrupts.fault = () => void interrupts++;
    unit.interrupts.pageRequest = () => void interrupts++;
    try {
      const before = unitState(unit, m.hostMemory);
      expect(before.iotlb).toBeDefined();
      expect(unit.iotlb.size).toBeGreaterThan(0);
      expect(unit.contextCache.size).toBeGreaterThan(0);
      let faults = 0;
      let pageRequests = 0;
      for (const req of flowRequests(hostPasid)) {
        for (const caches of [false, true]) {
          const { result } = traced(unit, req, caches);
          if (typeof result !== 'number') {
            faults++;
            if (result.pageRequest) pageRequests++;
            expect(result).not.toHaveProperty('frcd');
          }
        }
      }
      expect(faults).toBeGreaterThan(10);
      expect(pageRequests).toBeGreaterThan(0); // the nested route's unmapped input would raise one
      expect(unitState(unit, m.hostMemory)).toEqual(before);
      expect(interrupts).toBe(0);
    } finally {
      Object.assign(unit.interrupts, { fault, pageRequest });
    }
  });

  it('a first-stage walk does not set A or D (translate does)', () => {
    const h = new Hand();
    h.pasid(0, { pgtt: 1 });
    h.mapFl(0x10000n, 0x40000000n, 0x1000n);
    const leaf = () => h.fl.walk(0x10).at(-1)!;
    h.poke(h.fl, 0x10000n, 0, (v) => v & ~BigInt(FL_A | FL_D));
    for (const l of [1, 2, 3]) h.poke(h.fl, 0x10000n, l, (v) => v & ~BigInt(FL_A));
    const req = { rid: 0x08, pasid: -1, iovaFrame: 0x10, write: true, privileged: false };
    expect(traced(h.unit, req).result).toBe(0x40000);
    expect(h.fl.walk(0x10).every((s) => (s.raw & BigInt(FL_A)) === 0n)).toBe(true);
    expect(h.unit.translate(req)).toBe(0x40000);
    expect(h.fl.walk(0x10).every((s) => (s.raw & BigInt(FL_A)) !== 0n)).toBe(true);
    expect(leaf().raw & BigInt(FL_D)).toBe(BigInt(FL_D));
  });
});

describe('walk with caches: what the DMA would use', () => {
  it('an IOTLB entry left stale by an unmap without invalidation shows as a hit with the old frame; the memory walk faults', () => {
    const h = new Hand();
    h.pasid(0, {});
    h.mapSl(0x10000n, 0x40000000n, 0x1000n, PROT_READ | PROT_WRITE);
    const req = { rid: 0x08, pasid: -1, iovaFrame: 0x10, write: false, privileged: false };
    expect(h.unit.translate(req)).toBe(0x40000);
    h.sl.unmap(0x10, 1); // no invalidation descriptor
    const cached = traced(h.unit, req, true);
    expect(cached.result).toBe(0x40000);
    expect(cached.trace.events).toEqual([
      { cache: 'context cache', hit: true },
      { cache: 'PASID cache', hit: true },
      { cache: 'IOTLB', hit: true },
    ]);
    expect(cached.trace).toMatchObject({ output: 0x40000000n, perms: { read: true, write: true }, pageSize: 4096n });
    const memory = traced(h.unit, req);
    expect(memory.trace.fault).toMatchObject({ name: 'SS_PAGING_ENTRY_P' });
    expect(h.unit.translate(req)).toBe(0x40000); // the DMA indeed uses it
  });

  it('a device-TLB entry (DTE = 1) the IOTLB invalidation did not reach shows as a device-TLB hit', () => {
    const h = new Hand();
    h.context(0x08, { dte: true });
    h.pasid(0, {});
    h.mapSl(0x10000n, 0x40000000n, 0x1000n);
    const req = { rid: 0x08, pasid: -1, iovaFrame: 0x10, write: true, privileged: false };
    expect(h.unit.translate(req)).toBe(0x40000);
    h.sl.unmap(0x10, 1);
    h.invalidate({ type: 'iotlb', gran: 2, did: 1, addr: 0n, am: 0, ih: false, dr: false, dw: false });
    const t = traced(h.unit, req, true);
    expect(t.trace.events).toEqual([{ cache: 'device-TLB', hit: true }]);
    expect(t.result).toBe(0x40000);
    expect(traced(h.unit, req).result).toMatchObject({ name: 'SS_PAGING_ENTRY_P' });
  });

  it('misses are probed in the DMA order and the walk then reads memory, filling nothing', () => {
    const h = new Hand();
    h.pasid(0, {});
    h.mapSl(0x10000n, 0x40000000n, 0x1000n);
    const req = { rid: 0x08, pasid: -1, iovaFrame: 0x10, write: false, privileged: false };
    const t = traced(h.unit, req, true).trace;
    const kinds = t.events.map((e) => ('cache' in e ? `${e.cache}: ${e.hit ? 'hit' : 'miss'}` : e.structure));
    expect(kinds).toEqual([
      'context cache: miss', 'scalable-mode root entry', 'scalable-mode context entry',
      'PASID cache: miss', 'scalable-mode PASID directory entry', 'scalable-mode PASID table entry',
      'IOTLB: miss', 'SS-PML4E', 'SS-PDPE', 'SS-PDE', 'SS-PTE',
    ]);
    expect([h.unit.contextCache.size, h.unit.pasidCache.size, h.unit.iotlb.size]).toEqual([0, 0, 0]);
  });
});
