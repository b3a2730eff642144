/**
 * Issue 18 item 2 for POWER: the PHB's own walk, traced (IommuUnit.walk). The walk is the path
 * translate takes with a trace hook and no side effect; these check it against translate, against
 * memory, and that it changes nothing.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ContiguousRuns, PROT_READ, PROT_WRITE, RadixPageTable, setFieldBig, type DmaRequest, type HostMemory } from '@ioasid/core';
import {
  IODA3_TBL_TVT,
  IODA3_TVT_IO_PSIZE,
  IODA3_TVT_NUM_LEVELS,
  IODA3_TVT_TABLE_ADDR,
  IODA3_TVT_TCE_TABLE_SIZE,
  PHB_IODA_AD_TADR,
  PHB_IODA_AD_TSEL,
  PHB_RTC_INVALIDATE_ALL,
  PHB_RTT_BAR_ENABLE,
  Phb4,
  Phb4Firmware,
  TceFormat,
  encodeTceKill,
  writeRte,
} from '../src/index.js';
import { DDW, newHost, readBe64, writeBe64 } from './helpers.js';
import { expectReadsMatch, readsOf, req, walkOf } from './walk-support.js';

const PES = [
  { pe: 7, rid: 0x0108 },
  { pe: 8, rid: 0x0110 },
];
const UNMAPPED_RID = 0x0200;
/** Output frames the maps use: from 256 GiB, aligned to every IO page size. */
const OUT_FIRST = 0x4000000;

type WindowSpec =
  | { kind: 'tce'; pageShift: number; levels: number; levelBits: number }
  | { kind: 'bypass'; startUnit: number; units: number }
  | { kind: 'raw'; frame: number; levels: number; tts: number; psize: number; low: bigint }
  | { kind: 'none' };

const windowSpec: fc.Arbitrary<WindowSpec> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('tce' as const), pageShift: fc.constantFrom(12, 16, 21, 30), levels: fc.integer({ min: 1, max: 5 }), levelBits: fc.integer({ min: 9, max: 11 }) }).filter((s) => s.pageShift + s.levels * s.levelBits <= 59) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('bypass' as const), startUnit: fc.integer({ min: 0, max: 64 }), units: fc.integer({ min: 1, max: 64 }) }) },
  // Any TVE at all (table somewhere in the first 64 GiB): invalid sizes, too many levels, bypass with a range.
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('raw' as const), frame: fc.integer({ min: 0, max: (1 << 24) - 1 }), levels: fc.integer({ min: 0, max: 7 }), tts: fc.integer({ min: 0, max: 31 }), psize: fc.integer({ min: 0, max: 31 }), low: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'none' as const }) },
);

interface Op {
  pe: number;
  sel: 0 | 1;
  page: number;
  pages: number;
  prot: number;
  unmap: boolean;
}
const op: fc.Arbitrary<Op> = fc.record({
  pe: fc.integer({ min: 0, max: 1 }),
  sel: fc.constantFrom(0 as const, 1 as const),
  page: fc.integer({ min: 0, max: 15 }),
  pages: fc.integer({ min: 1, max: 4 }),
  prot: fc.constantFrom(PROT_READ, PROT_WRITE, PROT_READ | PROT_WRITE),
  unmap: fc.constantFrom(false, false, false, true),
});

/** A hostile TCE written into a window's top-level table after the maps. */
interface Hostile {
  pe: number;
  sel: 0 | 1;
  index: number;
  what: 'self' | 'frame' | 'zero-perms' | 'any';
  value: bigint;
}
const hostile: fc.Arbitrary<Hostile> = fc.record({
  pe: fc.integer({ min: 0, max: 1 }),
  sel: fc.constantFrom(0 as const, 1 as const),
  index: fc.integer({ min: 0, max: 15 }),
  what: fc.constantFrom('self' as const, 'frame' as const, 'zero-perms' as const, 'any' as const),
  value: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
});

interface Probe {
  who: 'pe0' | 'pe1' | 'unmapped' | 'pasid' | 'translated';
  sel: 0 | 1;
  where: 'mapped' | 'page' | 'edge' | 'any';
  pick: number;
  page: number;
  within: number;
  edge: number;
  any: bigint;
  write: boolean;
  keepFrozen: boolean;
}
const probe: fc.Arbitrary<Probe> = fc.record({
  who: fc.constantFrom('pe0' as const, 'pe0' as const, 'pe0' as const, 'pe0' as const, 'pe1' as const, 'pe1' as const, 'unmapped' as const, 'pasid' as const, 'translated' as const),
  sel: fc.constantFrom(0 as const, 1 as const),
  where: fc.constantFrom('mapped' as const, 'mapped' as const, 'mapped' as const, 'page' as const, 'edge' as const, 'any' as const),
  pick: fc.nat(),
  page: fc.integer({ min: 0, max: 17 }),
  within: fc.integer({ min: 0, max: 0xfffff }),
  edge: fc.integer({ min: 0, max: 7 }),
  any: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  write: fc.boolean(),
  keepFrozen: fc.constantFrom(false, false, false, false, false, true),
});

interface Window {
  spec: WindowSpec;
  table?: RadixPageTable;
  pageShift: number;
  mapped: Map<number, number>;
}

function rawTve(s: Extract<WindowSpec, { kind: 'raw' }>): bigint {
  let v = s.low;
  v = setFieldBig(v, IODA3_TVT_TABLE_ADDR, BigInt(s.frame));
  v = setFieldBig(v, IODA3_TVT_NUM_LEVELS, BigInt(s.levels));
  v = setFieldBig(v, IODA3_TVT_TCE_TABLE_SIZE, BigInt(s.tts));
  return setFieldBig(v, IODA3_TVT_IO_PSIZE, BigInt(s.psize));
}

/** Programs one TVE as the spec says (the TCE table built by the engine, or a raw TVT write). */
function program(host: HostMemory, phb: Phb4, fw: Phb4Firmware, pe: number, sel: 0 | 1, spec: WindowSpec): Window {
  const n = pe * 2 + sel;
  const w: Window = { spec, pageShift: 12, mapped: new Map() };
  if (spec.kind === 'tce') {
    const fmt = new TceFormat({ pageShift: spec.pageShift, levels: spec.levels, levelBits: spec.levelBits });
    w.table = RadixPageTable.create(host, fmt);
    w.pageShift = spec.pageShift;
    fw.mapPeDmaWindow(pe, n, spec.levels, w.table.rootAddr, 1n << BigInt(spec.levelBits + 3), 1n << BigInt(spec.pageShift));
  } else if (spec.kind === 'bypass') {
    fw.mapPeDmaWindowReal(pe, n, (sel ? DDW : 0n) + (BigInt(spec.startUnit) << 24n), BigInt(spec.units) << 24n);
  } else if (spec.kind === 'raw') {
    phb.write('PHB_IODA_ADDR', setFieldBig(setFieldBig(0n, PHB_IODA_AD_TSEL, IODA3_TBL_TVT), PHB_IODA_AD_TADR, n));
    phb.write('PHB_IODA_DATA0', rawTve(spec));
  }
  return w;
}

function applyOp(w: Window, o: Op): void {
  if (!w.table) return;
  const pf = 2 ** (w.pageShift - 12);
  if (o.unmap) {
    const pages = w.mapped.get(o.page);
    if (pages === undefined) return;
    w.table.unmap(o.page * pf, pages * pf);
    w.mapped.delete(o.page);
    return;
  }
  for (const [p, n] of w.mapped) if (o.page < p + n && p < o.page + o.pages) return; // keep maps disjoint
  w.table.map(o.page * pf, o.pages * pf, new ContiguousRuns(OUT_FIRST + o.page * pf, o.pages * pf), o.prot);
  w.mapped.set(o.page, o.pages);
}

function applyHostile(host: HostMemory, w: Window, h: Hostile): void {
  if (!w.table) return;
  const root = w.table.rootAddr;
  const v = h.what === 'self' ? root | 3n : h.what === 'frame' ? ((h.value & 0xffffffn) << 12n) | 1n : h.what === 'zero-perms' ? h.value & ~3n : h.value;
  writeBe64(host, root + BigInt(h.index) * 8n, v);
}

const EDGES = (size: bigint) => [0n, size - 0x1000n, size, (1n << 59n) - 0x1000n, 1n << 59n, (1n << 60n) - 0x1000n, 1n << 60n, (1n << 64n) - 0x1000n];

function probeRequest(windows: Window[][], p: Probe): DmaRequest {
  const target = p.who === 'pe1' ? 1 : 0;
  const w = windows[target][p.sel];
  const base = p.sel ? DDW : 0n;
  let iova: bigint;
  if (p.where === 'any') iova = p.any;
  else if (p.where === 'edge') {
    const size = w.table ? BigInt(w.table.spanFrames) << 12n : 1n << 31n;
    const e = EDGES(size)[p.edge];
    iova = p.edge < 3 ? base + e : e;
  } else {
    // 'mapped': a page of one of the window's maps (the page probe when it has none).
    const maps = [...w.mapped];
    const m = p.where === 'mapped' && maps.length > 0 ? maps[p.pick % maps.length] : undefined;
    const page = m ? m[0] + (p.pick % m[1]) : p.page;
    iova = base + (BigInt(page) << BigInt(w.pageShift)) + (BigInt(p.within) & ((1n << BigInt(w.pageShift)) - 1n) & ~0xfffn);
  }
  const rid = p.who === 'unmapped' ? UNMAPPED_RID : PES[target].rid;
  const extra: Partial<DmaRequest> = p.who === 'pasid' ? { pasid: 5 } : p.who === 'translated' ? { translated: true } : {};
  return req(rid, iova, p.write, extra);
}

describe('Phb4.walk: the DMA path with a trace hook', () => {
  it('gives what translate gives on a PHB whose caches were invalidated, and every read holds what memory (or the TVT) holds (property)', () => {
    fc.assert(
      fc.property(
        fc.array(windowSpec, { minLength: 4, maxLength: 4 }),
        fc.array(op, { maxLength: 24 }),
        fc.array(hostile, { maxLength: 6 }),
        fc.array(probe, { minLength: 8, maxLength: 40 }),
        fc.constantFrom(true, true, true, true, true, true, true, false),
        (specs, ops, hostiles, probes, rttOn) => {
          const host = newHost();
          const phb = new Phb4(host);
          const fw = new Phb4Firmware(phb, host);
          for (const { pe, rid } of PES) fw.setPe(pe, rid, true);
          if (!rttOn) phb.write('PHB_RTT_BAR', phb.read('PHB_RTT_BAR') & ~PHB_RTT_BAR_ENABLE);
          const windows = PES.map(({ pe }, i) => [0, 1].map((sel) => program(host, phb, fw, pe, sel as 0 | 1, specs[i * 2 + sel])));
          for (const o of ops) applyOp(windows[o.pe][o.sel], o);
          for (const h of hostiles) applyHostile(host, windows[h.pe][h.sel], h);
          for (const p of probes) {
            const r = probeRequest(windows, p);
            const { result, trace } = walkOf(phb, r);
            expectReadsMatch(phb, host, trace);
            // RTT entry + TVE + at most 5 TCE levels.
            expect(readsOf(trace).length).toBeLessThanOrEqual(7);
            expect(trace.truncated).toBeUndefined();
            phb.write('PHB_RTC_INVALIDATE', PHB_RTC_INVALIDATE_ALL);
            phb.write('PHB_TCE_KILL', encodeTceKill({ kind: 'all' }));
            expect(result).toEqual(phb.translate(r));
            if (typeof result === 'number') {
              expect(trace.output).toBe(BigInt(result) * 4096n);
              expect(trace.perms).toBeDefined();
            }
            if (!p.keepFrozen) for (const { pe } of PES) fw.eehFreezeClear(pe);
          }
        },
      ),
      { numRuns: 80 },
    );
  });

  it('changes nothing: registers, PESTA/PESTB/PEEV, the RTC and the TCE cache are as they were, with and without caches', () => {
    const host = newHost();
    const phb = new Phb4(host);
    const fw = new Phb4Firmware(phb, host);
    for (const { pe, rid } of PES) fw.setPe(pe, rid, true);
    const fmt = new TceFormat({ pageShift: 12, levels: 2, levelBits: 9 });
    const t = RadixPageTable.create(host, fmt);
    fw.mapPeDmaWindow(7, 15, 2, t.rootAddr, 0x1000n, 0x1000n);
    fw.mapPeDmaWindow(8, 16, 2, t.rootAddr, 0x1000n, 0x1000n);
    t.map(0, 4, new ContiguousRuns(OUT_FIRST, 4), PROT_READ);
    // Warm caches, then freeze PE 8 with an error.
    for (let i = 0; i < 4; i++) phb.translate(req(0x108, DDW + BigInt(i) * 0x1000n));
    phb.translate(req(0x110, 0x5000n)); // TCE_INVALID
    const snapshot = () => ({
      registers: phb.registers(),
      regs: new Map(phb['regs']),
      dmaStopped: [...phb.dmaStopped],
      dmaWindowFrames: [...phb.dmaWindowFrames],
      rtc: [...phb.rtc['slots']],
      tce: [[...phb.tceCache['slots']], [...phb.tceCache['gen']], [...phb.tceCache['tags']]],
    });
    const before = snapshot();
    expect(before.registers['PESTB[8]']).toBeDefined();
    const requests: DmaRequest[] = [];
    for (const rid of [0x108, 0x110, UNMAPPED_RID]) {
      for (const iova of [0n, 0x1000n, 0x5000n, DDW, DDW + 0x1000n, DDW + 0x5000n, DDW + (1n << 21n), 1n << 60n]) {
        for (const write of [false, true]) requests.push(req(rid, iova, write), req(rid, iova, write, { pasid: 1 }), req(rid, iova, write, { translated: true }));
      }
    }
    const faults = new Set<string>();
    for (const r of requests) {
      for (const caches of [false, true]) {
        const { result } = walkOf(phb, r, caches);
        if (typeof result !== 'number') faults.add(result.name);
      }
    }
    expect([...faults].sort()).toEqual(['NO_PE', 'OUT_OF_WINDOW', 'PERMISSION', 'PE_FROZEN', 'TCE_INVALID', 'TRANSLATED_REQUEST', 'TVE_INVALID']);
    expect(snapshot()).toEqual(before);
  });

  it('with caches, a stale TCE cache entry (TCE cleared without a kill) shows as a hit with the old frame; from memory it is gone', () => {
    const host = newHost();
    const phb = new Phb4(host);
    const fw = new Phb4Firmware(phb, host);
    fw.setPe(7, 0x108, true);
    const table = host.allocFrames(2, 2) * 4096;
    fw.mapPeDmaWindow(7, 14, 1, BigInt(table), 0x2000n, 0x1000n);
    writeBe64(host, table + 8, (0x123456n << 12n) | 3n);
    const r = req(0x108, 0x1000n, true);
    expect(phb.translate(r)).toBe(0x123456); // the TCE cache holds it now
    writeBe64(host, table + 8, 0n); // cleared in memory, no PHB_TCE_KILL
    const cached = walkOf(phb, r, true);
    expect(cached.result).toBe(0x123456);
    expect(cached.trace.events).toEqual([
      { cache: 'RID translation cache', hit: true },
      expect.objectContaining({ structure: 'TVE', index: 14 }),
      { cache: 'TCE cache', hit: true },
    ]);
    expect(cached.trace).toMatchObject({ output: 0x123456000n, perms: { read: true, write: true }, pageSize: 0x1000n });
    expect(phb.translate(r)).toBe(0x123456); // what the DMA uses, as the trace said
    const fromMemory = walkOf(phb, r);
    expect(fromMemory.result).toMatchObject({ name: 'TCE_INVALID', tceAddr: BigInt(table + 8) });
    expect(readsOf(fromMemory.trace).map((x) => [x.structure, x.decided])).toEqual([
      ['RTT entry', undefined],
      ['TVE', undefined],
      ['TCE', 'READ = 0 and WRITE = 0'],
    ]);
    // A stale RTC entry likewise: the RTT moved the RID to the reserved PE without an RTC invalidate.
    writeRte(host, fw.rttBase, 0x108, 511);
    expect(walkOf(phb, r, true).result).toBe(0x123456);
    expect(walkOf(phb, r).result).toMatchObject({ name: 'NO_PE', rte: 511 });
  });

  it('hostile multi-level tables give a bounded trace: a 5-level table whose every indirect TCE points at itself', () => {
    const host = newHost();
    const phb = new Phb4(host);
    const fw = new Phb4Firmware(phb, host);
    fw.setPe(7, 0x108, true);
    const table = host.allocFrames(1, 1) * 4096;
    fw.mapPeDmaWindow(7, 15, 5, BigInt(table), 0x1000n, 0x1000n);
    for (let i = 0; i < 512; i++) writeBe64(host, table + i * 8, BigInt(table) | 3n);
    for (const iova of [DDW, DDW + 0x1234000n, DDW + (1n << 56n) - 0x1000n]) {
      const { result, trace } = walkOf(phb, req(0x108, iova, true));
      expect(result).toBe(table / 4096); // the leaf is the table itself
      const reads = readsOf(trace);
      expect(reads.map((x) => x.structure)).toEqual(['RTT entry', 'TVE', 'indirect TCE', 'indirect TCE', 'indirect TCE', 'indirect TCE', 'TCE']);
      expect(reads.slice(2).map((x) => x.level)).toEqual([1, 2, 3, 4, 5]);
      expect(trace.truncated).toBeUndefined();
      expectReadsMatch(phb, host, trace);
    }
    // A TVE claiming 8 levels is refused at the TVE: nothing of the table is read.
    phb.write('PHB_IODA_ADDR', setFieldBig(setFieldBig(0n, PHB_IODA_AD_TSEL, IODA3_TBL_TVT), PHB_IODA_AD_TADR, 15));
    phb.write('PHB_IODA_DATA0', setFieldBig(phb.tveRaw(15), IODA3_TVT_NUM_LEVELS, 7n));
    const { result, trace } = walkOf(phb, req(0x108, DDW));
    expect(result).toMatchObject({ name: 'TVE_INVALID' });
    expect(readsOf(trace).map((x) => [x.structure, x.decided])).toEqual([
      ['RTT entry', undefined],
      ['TVE', 'NUM_LEVELS = 7: more than 5 levels'],
    ]);
  });

  it('names the deciding field of each refusal', () => {
    const host = newHost();
    const phb = new Phb4(host);
    const fw = new Phb4Firmware(phb, host);
    fw.setPe(7, 0x108, true);
    const table = host.allocFrames(2, 2) * 4096;
    fw.mapPeDmaWindow(7, 14, 1, BigInt(table), 0x2000n, 0x1000n);
    writeBe64(host, table, (0x5000n << 12n) | 1n); // page 0 read-only
    fw.mapPeDmaWindowReal(7, 15, DDW + (1n << 24n), 1n << 24n);
    const decided = (r: DmaRequest) => readsOf(walkOf(phb, r).trace).map((x) => x.decided).filter(Boolean);
    expect(decided(req(0x200, 0n))).toEqual(['PE# 511 is the reserved PE (PHB4_RESERVED_PE_NUM): the RID is not mapped']);
    expect(decided(req(0x108, 0n, true))).toEqual(['WRITE = 0 (the request writes)']);
    expect(decided(req(0x108, 0x400000n))).toEqual(['bus offset 0x400000 is past the window (0x400000 bytes: TCE_TABLE_SIZE, NUM_LEVELS, IO_PSIZE)']);
    expect(decided(req(0x108, DDW + (1n << 24n)))).toEqual(['IO_PSIZE = 0 (bypass): bus address bits 49:12 are the real address']);
    expect(decided(req(0x108, DDW))).toEqual(['NON_TRANSLATE_50 = 1 and bus address bits 49:24 are outside [REAL_START, REAL_END)']);
    phb.translate(req(0x108, 0x1000n)); // TCE_INVALID freezes PE 7
    expect(decided(req(0x108, 0n))).toEqual(['PE frozen (PESTB[7] DMA_STOPPED = 1, on-chip)']);
    fw.eehFreezeClear(7);
    fw.mapPeDmaWindow(7, 14, 0, 0n, 0n, 0n);
    expect(decided(req(0x108, 0n))).toEqual(['TCE_TABLE_SIZE = 0: the TVE is not valid']);
    expect(readBe64(host, table)).toBe((0x5000n << 12n) | 1n);
  });
});
