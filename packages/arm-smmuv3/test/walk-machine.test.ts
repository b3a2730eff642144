import { describe, expect, it } from 'vitest';
import { isTraceRead } from '@ioasid/core';
import { CACHE_CD, CACHE_STE, CACHE_TLB } from '../src/index.js';
import { allFlows, type Route } from './machine-flows.js';
import { allReads, expectRawFromMemory, memoryDigest, structures, traced, unitState } from './trace-harness.js';
import type { SmmuV3 } from '../src/index.js';
import { catchFault } from './machine-helpers.js';

/** A stage 2 walk of guest RAM (2 MiB huge pages): levels 0 and 1 tables, a level 2 block. */
const S2_BLOCK = ['level 0 table descriptor', 'level 1 table descriptor', 'level 2 block descriptor'];
const via = (names: string[]) => names.map((n) => `↳ ${n}`);
/** The guest's 4K stage 1 table, each descriptor fetched at an IPA through stage 2. */
const S1_NESTED = ['level 0 table descriptor', 'level 1 table descriptor', 'level 2 table descriptor', 'level 3 page descriptor'].flatMap((n) => [...via(S2_BLOCK), n]);

function lookup(fd: ReturnType<typeof allFlows>['fd'], r: Route, caches = false) {
  return fd.lookup(r.ioasid, r.main, { ...(r.pasid !== undefined ? { pasid: r.pasid } : {}), device: r.dev.name, caches });
}

describe('fd.lookup(…).trace: the SMMU walk of a device request, structure by structure', () => {
  const { m, fd, routes } = allFlows();
  const route = (what: string) => routes.find((r) => r.what === what)!;

  it('stage 2 only: L1STD, STE (Config 0b110), then the stage 2 table', () => {
    const t = lookup(fd, route('stage 2 only')).trace!;
    expect(structures(t)).toEqual(['L1STD', 'STE', ...S2_BLOCK]);
    expect(t.events.filter(isTraceRead).map((r) => r.stage)).toEqual([undefined, undefined, 'stage 2', 'stage 2', 'stage 2']);
    expect(t.events[1]).toMatchObject({ decided: 'Config = 0b110 (stage 2 only)' });
    expect(t).toMatchObject({ perms: { read: true, write: true }, pageSize: 2n << 20n });
  });

  it('PASID table in guest memory: the L1CD and the CD are fetched at IPAs, each stage 1 level too, then stage 2 of the output', () => {
    for (const what of ['PASID table, no PASID (CD 0)', 'PASID table, PASID 1', 'PASID table, PASID 2049']) {
      const t = lookup(fd, route(what)).trace!;
      expect(structures(t), what).toEqual(['L1STD', 'STE', ...via(S2_BLOCK), 'L1CD', ...via(S2_BLOCK), 'CD', ...S1_NESTED, ...S2_BLOCK]);
      expect(t.events[1]).toMatchObject({ decided: 'Config = 0b111 (stage 1 and stage 2)' });
      for (const r of t.events.filter(isTraceRead)) for (const v of r.via ?? []) expect(v.stage).toBe('stage 2');
    }
    const cd = lookup(fd, route('PASID table, PASID 2049')).trace!.events.filter(isTraceRead).find((r) => r.structure === 'CD')!;
    expect(cd).toMatchObject({ index: 2049 % 1024, fields: { V: 1 } });
    const none = lookup(fd, route('PASID table, PASID 5 (no CD)')).trace!;
    expect(structures(none)).toEqual(['L1STD', 'STE', ...via(S2_BLOCK), 'L1CD', ...via(S2_BLOCK), 'CD']);
    expect(none.fault).toMatchObject({ name: 'C_BAD_CD', recorded: false });
    expect(none.events.at(-1)).toMatchObject({ structure: 'CD', decided: 'V = 0' });
  });

  it('a linear guest CD table (STE.S1Fmt = 0): the CD itself is fetched at an IPA of guest RAM, with no L1CD', () => {
    const t = lookup(fd, route('linear PASID table, no PASID (CD 0)')).trace!;
    expect(structures(t)).toEqual(['L1STD', 'STE', ...via(S2_BLOCK), 'CD', ...S1_NESTED, ...S2_BLOCK]);
    expect(t.events[1]).toMatchObject({ decided: 'Config = 0b111 (stage 1 and stage 2)', fields: { S1Fmt: 0, S1CDMax: 0 } });
  });

  it('kernel PASIDs: stage 1 only, the kernel CD table in host memory (no stage 2 sub-walks)', () => {
    const t = lookup(fd, route('kernel PASID 9')).trace!;
    expect(structures(t)).toEqual(['L1STD', 'STE', 'L1CD', 'CD', 'level 0 table descriptor', 'level 1 table descriptor', 'level 2 table descriptor', 'level 3 page descriptor']);
    expect(t.events[1]).toMatchObject({ decided: 'Config = 0b101 (stage 1 only)', fields: { S1DSS: 2 } });
    expect(t.events.filter(isTraceRead).slice(4).every((r) => r.stage === 'stage 1')).toBe(true);
    expect(t.perms).toEqual({ read: true, write: false });
    expect(structures(lookup(fd, route('kernel, no PASID (CD 0: the GPA space)')).trace!)).toEqual(['L1STD', 'STE', 'L1CD', 'CD', ...S2_BLOCK]);
  });

  it('every raw word is host memory; device.traceDma gives the same walk; with caches the warm TLB answers', () => {
    for (const r of routes) {
      const t = lookup(fd, r).trace!;
      expectRawFromMemory(m.hostMemory, t);
      expect(r.dev.traceDma(r.main, r.pasid !== undefined ? { pasid: r.pasid } : {})).toEqual(t);
    }
    // The flows' first DMAs filled the caches: the cached walk of those requests reads nothing.
    const warm = lookup(fd, route('stage 2 only'), true).trace!;
    expect(warm.events).toEqual([{ cache: CACHE_STE, hit: true }, { cache: CACHE_TLB, hit: true }]);
    const nested = lookup(fd, route('PASID table, PASID 1'), true).trace!;
    // dev1 is an ATS endpoint: its ATC answers before the SMMU is asked.
    expect(nested.events[0]).toEqual({ cache: 'ATC', hit: true });
    const kernel = lookup(fd, route('kernel PASID 9'), true).trace!;
    expect(kernel.events).toEqual([{ cache: CACHE_STE, hit: true }, { cache: CACHE_CD, hit: true }, { cache: CACHE_TLB, hit: true }]);
    expect(allReads(kernel)).toEqual([]);
  });

  it('walking every flow at every edge, with and without caches, changes nothing in the unit or in memory', () => {
    const unit = m.iommu as SmmuV3;
    const sids = routes.map((r) => r.dev.rid);
    const ssids = [0, 1, 5, 9, 2049];
    const before = unitState(unit, sids, ssids);
    const mem = memoryDigest(m.hostMemory);
    let faults = 0;
    for (const r of routes) {
      for (const iova of r.iovas) {
        for (const write of [false, true]) {
          for (const caches of [false, true]) {
            const { result } = traced(unit, { sid: r.dev.rid, pasid: r.pasid ?? -1, iova: Number(iova & 0xffff_ffff_ffffn), write }, caches);
            if (typeof result !== 'number') faults++;
          }
        }
      }
    }
    expect(faults).toBeGreaterThan(50);
    expect(unitState(unit, sids, ssids)).toEqual(before);
    expect(memoryDigest(m.hostMemory)).toBe(mem);
    // The same stage 1 fault as a DMA from the PRI endpoint does send a page request.
    const dev1 = route('PASID table, PASID 1').dev;
    expect(catchFault(() => dev1.dmaRead(0x10_2000n, 4, { pasid: 1 }))).toMatchObject({ name: 'F_TRANSLATION', pageRequest: true });
    expect(unitState(unit, sids, ssids)).not.toEqual(before);
  });
});
