import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isTraceRead, setField, type FaultRecord } from '@ioasid/core';
import { CdTable, OP, STE, directSpace, encodeSte, nestedSte, s1Cd, s2Ste, CACHE_ATC, CACHE_STE, CACHE_TLB } from '../src/index.js';
import { bareUnit, hostTable, mapRange, s2Of, type Bare } from './hw-harness.js';
import { allReads, essence, expectRawFromMemory, memoryDigest, request, structures, traced, unitState, type Probe } from './trace-harness.js';

/** Empties every cache of the unit the way the driver does (CFGI_ALL, TLBI_NSNH_ALL). */
function invalidateAll(b: Bare): void {
  b.cmd([OP.CFGI_ALL, { RANGE: 31 }], [OP.TLBI_NSNH_ALL, {}], [OP.SYNC, {}]);
}

/** The traced walk (memory only, on the unit as it is) equals the DMA's translation on the invalidated unit. */
function expectWalkIsTranslate(b: Bare, p: Probe): void {
  const { result, trace } = traced(b.unit, p);
  expectRawFromMemory(b.host, trace);
  invalidateAll(b);
  const dma = b.unit.translate(request(p));
  b.events();
  expect(essence(result)).toEqual(essence(dma));
  if (typeof result !== 'number') expect(result.recorded).toBe(false);
}

/** A stage 2 stream (SID 8) and a stage 1 stream (SID 16, two-level CD table, SubstreamIDs 0..3) over engine tables. */
function twoStreams() {
  const b = bareUnit();
  const s2 = hostTable(b.host, 2);
  b.writeSte(8, s2Ste(s2Of(s2), false));
  const s1 = hostTable(b.host, 1);
  const cdt = CdTable.create(directSpace(b.host), 'two-level', 4);
  for (let ssid = 0; ssid < 4; ssid++) cdt.write(ssid, s1Cd({ ttb0: s1.root * 4096, granule: 4096, ias: 48, asid: 7 + ssid, ipsBits: 48 }));
  b.writeSte(16, encodeSte({ V: 1, Config: 5, S1ContextPtr: cdt.addr, S1Fmt: 2, S1CDMax: 4, S1DSS: 2, S1STALLD: 1 }));
  return { b, s2, s1 };
}

const page = fc.integer({ min: 0, max: 1023 });
const op = fc.oneof(
  fc.record({ kind: fc.constant('map' as const), page, count: fc.integer({ min: 1, max: 600 }), pa: fc.integer({ min: 0, max: 0xfffff }), prot: fc.integer({ min: 1, max: 3 }), s1: fc.boolean() }),
  fc.record({ kind: fc.constant('unmap' as const), page, count: fc.integer({ min: 1, max: 600 }), s1: fc.boolean() }),
  fc.record({ kind: fc.constant('corrupt' as const), page, step: fc.integer({ min: 0, max: 3 }), xor: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), s1: fc.boolean() }),
);
const probe = fc.record({ sid: fc.constantFrom(8, 16, 24), pasid: fc.integer({ min: -1, max: 5 }), page, off: fc.integer({ min: 0, max: 4095 }), write: fc.boolean(), privileged: fc.boolean() });

describe('a traced walk is the DMA translation, read by read', () => {
  it('random maps, unmaps and corrupted descriptors at both stages: walk (memory only, warm unit) = translate after invalidation; every raw word is host memory (fast-check)', () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 25 }), fc.array(probe, { minLength: 1, maxLength: 25 }), (ops, probes) => {
        const { b, s2, s1 } = twoStreams();
        const base = 0x4000_0000;
        for (const o of ops) {
          const t = o.s1 ? s1 : s2;
          if (o.kind === 'corrupt') {
            // Flip bits of one descriptor on the walk of the page (a hostile or torn table).
            let at: number | undefined;
            try {
              const steps = t.walk(base / 4096 + o.page);
              at = Number(steps[Math.min(o.step, steps.length - 1)].entryAddr);
            } catch {
              at = undefined; // the engine cannot follow a table corrupted before
            }
            if (at !== undefined) {
              const v = b.host.u64(at) ^ o.xor;
              b.writeWords(at, new Uint32Array([Number(v & 0xffffffffn), Number(v >> 32n)]));
            }
          } else {
            try {
              if (o.kind === 'map') mapRange(t, base + o.page * 4096, 0x1_0000_0000 + o.pa * 4096, o.count * 4096, o.prot);
              else t.unmap(base / 4096 + o.page, o.count);
            } catch {
              // The engine refused (already mapped, a leaf cut in two, a table it cannot read): nothing changed.
            }
          }
          // Some DMA in between, so the caches hold entries the memory no longer matches.
          b.dma(8, base + o.page * 4096);
          b.dma(16, base + o.page * 4096, { pasid: 1 });
          b.events();
        }
        for (const p of probes) {
          const sid = p.sid;
          expectWalkIsTranslate(b, { sid, pasid: sid === 16 ? p.pasid : -1, iova: base + p.page * 4096 + p.off, write: p.write, privileged: p.privileged });
        }
      }),
      { numRuns: 40 },
    );
  });

  it('hostile guest CD tables and stage 1 tables of a nested stream: walk = translate, bounded, every raw word and every stage-2 sub-walk from memory (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 511 }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })), { minLength: 1, maxLength: 200 }),
        fc.record({ ctx: fc.oneof(fc.integer({ min: 0, max: 16383 }), fc.integer({ min: 0, max: 0xfffff })), fmt: fc.integer({ min: 0, max: 3 }), cdmax: fc.integer({ min: 0, max: 20 }) }),
        fc.array(fc.record({ ssid: fc.integer({ min: -1, max: 0xfffff }), iova: fc.integer({ min: 0, max: 2 ** 40 }), write: fc.boolean() }), { minLength: 1, maxLength: 20 }),
        (words, ste, reqs) => {
          const b = bareUnit();
          const s2 = hostTable(b.host, 2);
          const ramPa = 0x4000_0000;
          mapRange(s2, 0, ramPa, 1 << 20);
          for (const [frame, slot, v] of words) b.writeWords(ramPa + frame * 4096 + slot * 8, new Uint32Array([Number(v & 0xffffffffn), Number(v >> 32n)]));
          b.writeSte(8, nestedSte({ ctxPtr: ste.ctx * 64, s1fmt: ste.fmt, s1cdmax: ste.cdmax, s1dss: 2, stallDisabled: true }, s2Of(s2), false));
          for (const q of reqs) {
            const p = { sid: 8, pasid: q.ssid, iova: q.iova, write: q.write };
            const { trace } = traced(b.unit, p);
            // L1STD-less linear stream table: STE, L1CD and CD each after at most 4 stage 2 reads, 4 stage 1 levels likewise, 4 stage 2 levels.
            expect(allReads(trace).length).toBeLessThanOrEqual(1 + 5 + 5 + 20 + 4);
            expect(trace.truncated).toBeUndefined();
            for (const e of trace.events) if (isTraceRead(e)) for (const v of e.via ?? []) expect(v.stage).toBe('stage 2');
            expectWalkIsTranslate(b, p);
            b.dma(8, q.iova, { pasid: q.ssid, write: q.write }); // warm the caches for the next walk
            b.events();
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it('a guest table whose entries all point at itself gives a bounded trace: one descriptor per level, each found through stage 2', () => {
    const b = bareUnit();
    const s2 = hostTable(b.host, 2);
    const ramPa = 0x4000_0000;
    mapRange(s2, 0, ramPa, 1 << 20);
    const loop = new Uint32Array(1024);
    for (let i = 0; i < 512; i++) loop[2 * i] = 0x10000 | 3;
    b.writeWords(ramPa + 0x10000, loop);
    const cd = new Uint32Array(16);
    cd[0] = 16 | (1 << 31) | (3 << 12);
    cd[1] = 5 | (1 << 9) | (1 << 13) | (1 << 14);
    cd[2] = 0x10000;
    b.writeWords(ramPa + 0x20000, cd);
    b.writeSte(8, nestedSte({ ctxPtr: 0x20000, s1fmt: 0, s1cdmax: 0, s1dss: 0, stallDisabled: true }, s2Of(s2), false));
    const { result, trace } = traced(b.unit, { sid: 8, iova: 0x1234_5000 });
    expect(result).toMatchObject({ name: 'F_ACCESS', level: 3, recorded: false });
    const s1 = trace.events.filter(isTraceRead).filter((r) => r.stage === 'stage 1');
    expect(s1.map((r) => r.structure)).toEqual(['level 0 table descriptor', 'level 1 table descriptor', 'level 2 table descriptor', 'level 3 page descriptor']);
    expect(s1.every((r) => r.addr === BigInt(ramPa + 0x10000) + BigInt(r.index! * 8))).toBe(true);
    expect(s1[3].decided).toMatch(/^AF = 0/);
    expect(allReads(trace).length).toBe(1 + (1 + 4) + 4 * (1 + 4)); // STE, CD, four stage 1 levels, each fetch after a 4-level stage 2 walk
    expect(b.events()).toEqual([]); // nothing recorded
  });
});

describe('a traced walk has no side effect', () => {
  it('registers, queues, configuration cache, TLB, ATC, stalls and memory are as they were, whatever the walk met', () => {
    const b = bareUnit();
    const s2 = hostTable(b.host, 2);
    mapRange(s2, 0x10000, 0x7000_0000, 0x4000, 1); // read-only
    const stalling = s2Ste(s2Of(s2), true);
    setField(stalling, 0, STE.S2S, 1);
    setField(stalling, 0, STE.EATS, 0);
    b.writeSte(8, stalling);
    const ats = hostTable(b.host, 2);
    mapRange(ats, 0x10000, 0x7100_0000, 0x4000);
    b.writeSte(9, s2Ste(s2Of(ats, 2), true));
    b.unit.configureEndpoint(9, { ats: true, pri: true });
    b.atschk(true);
    b.dma(8, 0x10000);
    b.dma(9, 0x10000);
    expect(b.unit.endpoints.atcEntries(9)).toBe(1);
    // What the same requests do as DMA: a stall, an event (checked after the walks).
    const probes: Probe[] = [
      { sid: 8, iova: 0x10000 },
      { sid: 8, iova: 0x11000 }, // cold: a walk, which would fill the TLB
      { sid: 8, iova: 0x10000, write: true }, // F_PERMISSION, stalls as DMA
      { sid: 8, iova: 0x20000 }, // F_TRANSLATION, stalls as DMA
      { sid: 9, iova: 0x11000 }, // ATS endpoint: the ATC would be filled
      { sid: 9, iova: 0x10000 }, // ATC hit
      { sid: 9, iova: 0x90000 },
      { sid: 200, iova: 0 }, // C_BAD_STE
      { sid: 9, iova: 0x10000, pasid: 3 }, // C_BAD_SUBSTREAMID
    ];
    const before = unitState(b.unit, [8, 9, 200]);
    const mem = memoryDigest(b.host);
    for (const p of probes) for (const caches of [false, true]) traced(b.unit, p, caches);
    expect(unitState(b.unit, [8, 9, 200])).toEqual(before);
    expect(memoryDigest(b.host)).toBe(mem);
    expect(b.events()).toEqual([]);
    // The same requests as DMA do change the unit (so the checks above can see a change).
    const dma = b.dma(8, 0x20000) as FaultRecord;
    expect(dma).toMatchObject({ name: 'F_TRANSLATION', stall: true });
    expect(b.unit.stalls.size).toBe(1);
    b.dma(9, 0x11000);
    expect(b.unit.endpoints.atcEntries(9)).toBe(2);
  });
});

describe('with caches, a traced walk shows what the DMA would use', () => {
  it('a stale TLB entry is a hit with the old frame; memory alone shows the new one', () => {
    const b = bareUnit();
    const t = hostTable(b.host, 2);
    b.writeSte(8, s2Ste(s2Of(t), false));
    mapRange(t, 0x10000, 0x7000_0000, 0x1000);
    expect(b.dma(8, 0x10000)).toBe(0x70000);
    t.unmap(0x10, 1);
    mapRange(t, 0x10000, 0x7200_0000, 0x1000); // no TLBI: the TLB entry is stale
    const cached = traced(b.unit, { sid: 8, iova: 0x10123 }, true);
    expect(cached.result).toBe(0x70000);
    expect(cached.trace.events).toEqual([
      { cache: CACHE_STE, hit: true },
      { cache: CACHE_TLB, hit: true },
    ]);
    expect(cached.trace.output).toBe(0x7000_0123n);
    expect(cached.trace).toMatchObject({ perms: { read: true, write: true }, pageSize: 4096n });
    const memory = traced(b.unit, { sid: 8, iova: 0x10123 });
    expect(memory.result).toBe(0x72000);
    expect(structures(memory.trace)).toEqual(['STE', 'level 0 table descriptor', 'level 1 table descriptor', 'level 2 table descriptor', 'level 3 page descriptor']);
    expect(b.dma(8, 0x10000)).toBe(0x70000); // and the DMA does use the stale entry
  });

  it('a stale STE in the configuration cache and a stale ATC entry are hits too', () => {
    const b = bareUnit();
    const t = hostTable(b.host, 2);
    b.writeSte(9, s2Ste(s2Of(t), true));
    b.unit.configureEndpoint(9, { ats: true });
    b.atschk(true);
    mapRange(t, 0x10000, 0x7000_0000, 0x1000);
    expect(b.dma(9, 0x10000)).toBe(0x70000);
    t.unmap(0x10, 1); // no ATC_INV: the endpoint keeps its translation
    const atc = traced(b.unit, { sid: 9, iova: 0x10000 }, true);
    expect(atc.result).toBe(0x70000);
    expect(atc.trace.events).toEqual([{ cache: CACHE_ATC, hit: true }, { cache: CACHE_STE, hit: true }]);
    expect(traced(b.unit, { sid: 9, iova: 0x10000 }).result).toMatchObject({ name: 'F_TRANSLATION' });
    b.writeSte(9, encodeSte({ V: 1, Config: 0 })); // abort, without CFGI_STE
    // The endpoint still sends the Translated write; ATSCHK checks it against the cached STE, which still allows ATS.
    const ste = traced(b.unit, { sid: 9, iova: 0x10000, write: true }, true);
    expect(ste.result).toBe(0x70000);
    expect(ste.trace.events).toEqual([{ cache: CACHE_ATC, hit: true }, { cache: CACHE_STE, hit: true }]);
    expect(b.dma(9, 0x10000, { write: true })).toBe(0x70000);
    // Memory alone: no ATC (the walk is the SMMU's), and the STE in memory aborts.
    const fresh = traced(b.unit, { sid: 9, iova: 0x10000, write: true });
    expect(fresh.result).toMatchObject({ name: 'ABORT', reason: 'STE.Config is abort' });
    expect(fresh.trace.events).toMatchObject([{ structure: 'STE', decided: 'Config = 0b000 (abort)' }]);
  });
});

describe('what each read says', () => {
  it('names, levels, indexes, fields and the deciding bits of a nested walk', () => {
    const b = bareUnit();
    const s2 = hostTable(b.host, 2);
    const ram = 0x4000_0000;
    mapRange(s2, 0, ram, 1 << 21); // one 2 MiB block: every stage 2 walk is level 0, 1 table, level 2 block
    const put = (ipa: number, lo: number, hi = 0) => b.writeWords(ram + ipa, new Uint32Array([lo >>> 0, hi]));
    const cdIpa = 0x1_0000;
    b.writeWords(ram + cdIpa, s1Cd({ ttb0: 0x2_0000, granule: 4096, ias: 48, asid: 3, ipsBits: 48 }));
    // Guest stage 1 tables at IPA 0x20000 (level 0) … 0x23000 (level 3) for input 0x400000.
    put(0x2_0000, 0x2_1000 | 3);
    put(0x2_1000, 0x2_2000 | 3);
    put(0x2_2000 + 2 * 8, 0x2_3000 | 3);
    put(0x2_3000, 0x3000 | 0x400 | 0x300 | 0xc0 | 3); // AF, inner shareable, AP[2:1] = 0b11 (read-only, EL0), page
    b.writeSte(8, nestedSte({ ctxPtr: cdIpa, s1fmt: 0, s1cdmax: 0, s1dss: 0, stallDisabled: true }, s2Of(s2), false));
    const ok = traced(b.unit, { sid: 8, iova: 0x40_0010 });
    expect(ok.result).toBe(ram / 4096 + 3);
    const sub = ['↳ level 0 table descriptor', '↳ level 1 table descriptor', '↳ level 2 block descriptor'];
    expect(structures(ok.trace)).toEqual([
      'STE',
      ...sub,
      'CD',
      ...sub,
      'level 0 table descriptor',
      ...sub,
      'level 1 table descriptor',
      ...sub,
      'level 2 table descriptor',
      ...sub,
      'level 3 page descriptor',
      ...sub.map((x) => x.slice(2)),
    ]);
    const reads = ok.trace.events.filter(isTraceRead);
    expect(reads[0]).toMatchObject({ structure: 'STE', index: 8, decided: 'Config = 0b111 (stage 1 and stage 2)', fields: { V: 1, Config: 7, S1ContextPtr: BigInt(cdIpa) } });
    expect(reads[1]).toMatchObject({ structure: 'CD', index: 0, addr: BigInt(ram + cdIpa), fields: { V: 1, ASID: 3, TTB0: 0x2_0000n }, decided: 'V = 1: TG0 = 4KB, T0SZ = 16, the stage 1 walk starts at level 0' });
    expect(reads[1].via!.map((v) => [v.stage, v.level, v.index])).toEqual([['stage 2', 0, 0], ['stage 2', 1, 0], ['stage 2', 2, 0]]);
    expect(reads[1].via![2]).toMatchObject({ fields: { OA: BigInt(ram), S2AP: 3, AF: 1 }, decided: `bits[1:0] = 0b01 (block): OA 0x${ram.toString(16)}` });
    expect(reads[2]).toMatchObject({ structure: 'level 0 table descriptor', stage: 'stage 1', level: 0, index: 0, addr: BigInt(ram + 0x2_0000), decided: 'bits[1:0] = 0b11 (table): level 1 table at 0x21000', fields: { NLTA: 0x2_1000n, APTable: 0 } });
    expect(reads[4]).toMatchObject({ level: 2, index: 2, addr: BigInt(ram + 0x2_2010) });
    expect(reads[5]).toMatchObject({ structure: 'level 3 page descriptor', stage: 'stage 1', level: 3, index: 0, fields: { OA: 0x3000n, AP: 3, AF: 1, SH: 3 }, decided: 'bits[1:0] = 0b11 (page): OA 0x3000' });
    expect(reads[8]).toMatchObject({ structure: 'level 2 block descriptor', stage: 'stage 2', level: 2 });
    expect(ok.trace).toMatchObject({ perms: { read: true, write: false }, pageSize: 4096n, output: BigInt(ram + 0x3010) });
    for (const r of allReads(ok.trace)) expect(r.raw).toHaveLength(r.structure === 'STE' || r.structure === 'CD' ? 8 : 1);
    expectRawFromMemory(b.host, ok.trace);
    // A write: stage 1 forbids it, and its leaf says which bits do.
    const wr = traced(b.unit, { sid: 8, iova: 0x40_0010, write: true });
    expect(wr.result).toMatchObject({ name: 'F_PERMISSION', stage: 1, recorded: false });
    expect(wr.trace.events.filter(isTraceRead)[5].decided).toBe('AP[2:1] = 0b11 forbids write');
    // A privileged-only page refuses an unprivileged read.
    put(0x2_3000, 0x3000 | 0x400 | 0x300 | 0x80 | 3);
    const priv = traced(b.unit, { sid: 8, iova: 0x40_0010 });
    expect(priv.trace.events.filter(isTraceRead)[5].decided).toBe('AP[2:1] = 0b10 forbids unprivileged access');
    // An unmapped address: the level 3 descriptor is invalid.
    const miss = traced(b.unit, { sid: 8, iova: 0x40_1000 });
    expect(miss.result).toMatchObject({ name: 'F_TRANSLATION', stage: 1, level: 3 });
    expect(miss.trace.events.filter(isTraceRead).at(-1)).toMatchObject({ structure: 'level 3 invalid descriptor', decided: 'descriptor bits[1:0] = 0b00 (invalid)' });
    // Stage 2 refusing the read that fetches a stage 1 table: the leaf of its sub-walk decides.
    const s2leaf = s2.walk(0x20).at(-1)!.entryAddr;
    const v = b.host.u64(Number(s2leaf)) & ~0xc0n; // S2AP = 0b00
    b.writeWords(Number(s2leaf), new Uint32Array([Number(v & 0xffffffffn), Number(v >> 32n)]));
    const fetch = traced(b.unit, { sid: 8, iova: 0x40_0010 });
    expect(fetch.result).toMatchObject({ name: 'F_PERMISSION', stage: 2, class: 'CD' });
    expect(fetch.trace.events.filter(isTraceRead).at(-1)).toMatchObject({ structure: 'level 2 block descriptor', stage: 'stage 2', decided: 'S2AP = 0b00 forbids the read this fetch needs' });
  });

  it('a two-level stream table shows its L1STD; a bad Span and V = 0 decide', () => {
    const b = bareUnit();
    const t = hostTable(b.host, 2);
    mapRange(t, 0, 0x7000_0000, 0x1000);
    // Rebuild the unit's stream table as two-level: SPLIT 6, L1STD 1 covers SIDs 64..127.
    const l1 = b.host.allocFrame() * 4096;
    const l2 = b.host.allocFrames(2, 2) * 4096;
    b.writeWords(l1 + 8, new Uint32Array([(l2 | 7) >>> 0, 0])); // Span 7: 64 STEs
    b.writeWords(l2 + 5 * 64, s2Ste(s2Of(t), false));
    b.unit.write('CR0', 0n);
    b.unit.write('STRTAB_BASE', BigInt(l1));
    b.unit.write('STRTAB_BASE_CFG', (1n << 16n) | (6n << 6n) | 8n);
    b.unit.write('CR0', 0xfn);
    const ok = traced(b.unit, { sid: 69, iova: 0x10 });
    expect(ok.result).toBe(0x70000);
    expect(ok.trace.events.filter(isTraceRead).slice(0, 2)).toMatchObject([
      { structure: 'L1STD', index: 1, addr: BigInt(l1 + 8), fields: { Span: 7, L2Ptr: BigInt(l2) }, decided: `Span = 7: level 2 table of 64 STEs at 0x${l2.toString(16)}` },
      { structure: 'STE', index: 5, addr: BigInt(l2 + 5 * 64), decided: 'Config = 0b110 (stage 2 only)' },
    ]);
    const empty = traced(b.unit, { sid: 10, iova: 0 });
    expect(empty.result).toMatchObject({ name: 'C_BAD_STREAMID' });
    expect(empty.trace.events).toMatchObject([{ structure: 'L1STD', index: 0, decided: 'Span = 0 (invalid)' }]);
    const invalid = traced(b.unit, { sid: 70, iova: 0 });
    expect(invalid.result).toMatchObject({ name: 'C_BAD_STE' });
    expect(invalid.trace.events.filter(isTraceRead)[1]).toMatchObject({ structure: 'STE', fields: { V: 0 }, decided: 'V = 0' });
  });
});
