import { describe, expect, it } from 'vitest';
import type { FaultRecord } from '@ioasid/core';
import { CdTable, OP, directSpace, encodeSte, s1Cd, s2Ste } from '../src/index.js';
import { bareUnit, hostTable, mapRange, s2Of, type Bare } from './hw-harness.js';

function s2Stream(b: Bare, sid = 8, vmid = 1) {
  const t = hostTable(b.host, 2);
  b.writeSte(sid, s2Ste(s2Of(t, vmid), false));
  return t;
}

/** Two stage 1 streams (SIDs 8 and 16) with ASIDs 1 and 2 under VMID 4, each mapping GVA 0x1000. */
function twoS1Streams(b: Bare) {
  const out = [];
  for (const [sid, asid] of [[8, 1], [16, 2]]) {
    const t = hostTable(b.host, 1);
    mapRange(t, 0x1000, 0x5000_0000 + asid * 0x10000, 0x4000);
    const cdt = CdTable.create(directSpace(b.host), 'linear', 0);
    cdt.write(0, s1Cd({ ttb0: t.root * 4096, granule: 4096, ias: 48, asid, ipsBits: 48 }));
    b.writeSte(sid, encodeSte({ V: 1, Config: 5, S1ContextPtr: cdt.addr, S1STALLD: 1, S2VMID: 4 }));
    out.push({ t, cdt, sid, asid });
  }
  return out;
}

const ok = (r: number | FaultRecord) => typeof r === 'number';

describe('TLB: stale without the command, gone after it', () => {
  it('stage 2: an unmapped page still translates until TLBI_S2_IPA', () => {
    const b = bareUnit();
    const t = s2Stream(b);
    mapRange(t, 0x10000, 0x7000_0000, 0x4000);
    expect(b.dma(8, 0x11000)).toBe(0x70001);
    t.unmap(0x10, 4);
    expect(b.dma(8, 0x11000)).toBe(0x70001); // stale
    b.cmd([OP.TLBI_S2_IPA, { VMID: 1, IPA: 0x11, LEAF: 1 }], [OP.SYNC, {}]);
    expect(b.dma(8, 0x11000)).toMatchObject({ name: 'F_TRANSLATION' });
    expect(b.dma(8, 0x12000)).toMatchObject({ name: 'F_TRANSLATION' }); // never cached
  });

  it('range invalidation (IDR3.RIL): NUM/SCALE/TG cover (NUM+1)·2^SCALE granules', () => {
    const b = bareUnit();
    const t = s2Stream(b);
    mapRange(t, 0x100000, 0x7000_0000, 0x20000);
    for (let p = 0; p < 32; p++) b.dma(8, 0x100000 + p * 0x1000);
    t.unmap(0x100, 32);
    // NUM 3, SCALE 2, TG 4K: 16 pages from 0x104000.
    b.cmd([OP.TLBI_S2_IPA, { VMID: 1, IPA: 0x104, NUM: 3, SCALE: 2, TG: 1, LEAF: 1 }]);
    const stale = [...Array(32).keys()].filter((p) => ok(b.dma(8, 0x100000 + p * 0x1000)));
    expect(stale).toEqual([0, 1, 2, 3, ...[...Array(12).keys()].map((k) => 20 + k)]);
  });

  it('a block is cached as one entry: invalidating any page of it drops the whole block', () => {
    const b = bareUnit();
    const t = s2Stream(b);
    mapRange(t, 0x20_0000, 0x4000_0000, 0x20_0000);
    expect(b.dma(8, 0x20_0000)).toBe(0x40000);
    expect(b.unit.tlb.size).toBe(1);
    expect(b.dma(8, 0x3f_f000)).toBe(0x401ff);
    expect(b.unit.tlb.size).toBe(1);
    t.unmap(0x200, 512);
    b.cmd([OP.TLBI_S2_IPA, { VMID: 1, IPA: 0x2ab, LEAF: 1 }]);
    expect(b.dma(8, 0x20_0000)).toMatchObject({ name: 'F_TRANSLATION' });
  });

  it('TLBI_S12_VMALL drops one VMID only; TLBI_NSNH_ALL drops everything', () => {
    const b = bareUnit();
    const t1 = s2Stream(b, 8, 1);
    const t2 = s2Stream(b, 16, 2);
    mapRange(t1, 0x1000, 0x7000_0000, 0x1000);
    mapRange(t2, 0x1000, 0x7100_0000, 0x1000);
    b.dma(8, 0x1000);
    b.dma(16, 0x1000);
    t1.unmap(1, 1);
    t2.unmap(1, 1);
    b.cmd([OP.TLBI_S12_VMALL, { VMID: 1 }]);
    expect(ok(b.dma(8, 0x1000))).toBe(false);
    expect(b.dma(16, 0x1000)).toBe(0x71000);
    b.cmd([OP.TLBI_NSNH_ALL, {}]);
    expect(ok(b.dma(16, 0x1000))).toBe(false);
  });

  it('stage 1 entries are tagged by (VMID, ASID): TLBI_NH_ASID, TLBI_NH_VA, TLBI_NH_ALL', () => {
    const b = bareUnit();
    const [a, c] = twoS1Streams(b);
    for (const s of [a, c]) for (let p = 1; p <= 4; p++) b.dma(s.sid, p * 0x1000);
    a.t.unmap(1, 4);
    c.t.unmap(1, 4);
    expect(b.unit.tlb.tagList().map((x) => [x.kind, x.vmid, x.asid])).toEqual([['nh', 4, 1], ['nh', 4, 2]]);
    b.cmd([OP.TLBI_NH_ASID, { VMID: 4, ASID: 1 }]);
    expect(ok(b.dma(8, 0x1000))).toBe(false);
    expect(ok(b.dma(16, 0x1000))).toBe(true);
    b.cmd([OP.TLBI_NH_VA, { VMID: 4, ASID: 2, ADDR: 0x2, LEAF: 1 }]);
    expect(ok(b.dma(16, 0x2000))).toBe(false);
    expect(ok(b.dma(16, 0x3000))).toBe(true);
    b.cmd([OP.TLBI_NH_VA, { VMID: 5, ASID: 2, ADDR: 0x3, LEAF: 1 }]); // other VMID: no effect
    expect(ok(b.dma(16, 0x3000))).toBe(true);
    b.cmd([OP.TLBI_NH_ALL, { VMID: 4 }]);
    expect(ok(b.dma(16, 0x3000))).toBe(false);
  });

  it('TLBI_S2_IPA does not drop stage 1 (NH) entries', () => {
    const b = bareUnit();
    const [a] = twoS1Streams(b);
    b.dma(8, 0x1000);
    a.t.unmap(1, 4);
    b.cmd([OP.TLBI_S2_IPA, { VMID: 4, IPA: 0x5000_1, LEAF: 1 }], [OP.TLBI_S2_IPA, { VMID: 4, IPA: 1, LEAF: 1 }]);
    expect(ok(b.dma(8, 0x1000))).toBe(true);
  });
});

describe('configuration cache: stale STE and CD until CFGI_*', () => {
  it('an STE rewritten in memory is not seen until CFGI_STE', () => {
    const b = bareUnit();
    b.writeSte(8, encodeSte({ V: 1, Config: 4 }));
    expect(b.dma(8, 0x1000)).toBe(1);
    b.writeSte(8, encodeSte({ V: 1, Config: 0 }));
    expect(b.dma(8, 0x1000)).toBe(1);
    b.cmd([OP.CFGI_STE, { SID: 8, LEAF: 1 }], [OP.SYNC, {}]);
    expect(b.dma(8, 0x1000)).toMatchObject({ name: 'ABORT' });
  });

  it('CFGI_ALL (Range 31) and CFGI_STE_RANGE drop STEs', () => {
    const b = bareUnit();
    for (const sid of [8, 9, 16]) b.writeSte(sid, encodeSte({ V: 1, Config: 4 }));
    for (const sid of [8, 9, 16]) b.dma(sid, 0);
    for (const sid of [8, 9, 16]) b.writeSte(sid, encodeSte({ V: 1, Config: 0 }));
    b.cmd([OP.CFGI_ALL, { SID: 8, RANGE: 0 }]); // StreamIDs 8 and 9
    expect([8, 9, 16].map((sid) => ok(b.dma(sid, 0)))).toEqual([false, false, true]);
    b.cmd([OP.CFGI_ALL, { RANGE: 31 }]);
    expect(ok(b.dma(16, 0))).toBe(false);
  });

  it('a CD rewritten in memory is not seen until CFGI_CD; CFGI_CD_ALL drops every CD of the stream', () => {
    const b = bareUnit();
    const t1 = hostTable(b.host, 1);
    const t2 = hostTable(b.host, 1);
    mapRange(t1, 0x1000, 0x5000_0000, 0x1000);
    mapRange(t2, 0x1000, 0x6000_0000, 0x1000);
    const cdt = CdTable.create(directSpace(b.host), 'linear', 4);
    for (const ssid of [1, 2]) cdt.write(ssid, s1Cd({ ttb0: t1.root * 4096, granule: 4096, ias: 48, asid: ssid, ipsBits: 48 }));
    b.writeSte(8, encodeSte({ V: 1, Config: 5, S1ContextPtr: cdt.addr, S1CDMax: 4, S1DSS: 1, S1STALLD: 1 }));
    expect(b.dma(8, 0x1000, { pasid: 1 })).toBe(0x50000);
    expect(b.dma(8, 0x1000, { pasid: 2 })).toBe(0x50000);
    // Point both CDs at t2 with new ASIDs (so the TLB cannot answer).
    for (const ssid of [1, 2]) cdt.write(ssid, s1Cd({ ttb0: t2.root * 4096, granule: 4096, ias: 48, asid: 10 + ssid, ipsBits: 48 }));
    expect(b.dma(8, 0x1000, { pasid: 1 })).toBe(0x50000);
    b.cmd([OP.CFGI_CD, { SID: 8, SSID: 1, LEAF: 1 }]);
    expect(b.dma(8, 0x1000, { pasid: 1 })).toBe(0x60000);
    expect(b.dma(8, 0x1000, { pasid: 2 })).toBe(0x50000);
    b.cmd([OP.CFGI_CD_ALL, { SID: 8 }]);
    expect(b.dma(8, 0x1000, { pasid: 2 })).toBe(0x60000);
  });
});

describe('ATS: the endpoint ATC keeps translations until ATC_INV', () => {
  it('a stale ATC entry survives TLBI but not ATC_INV', () => {
    const b = bareUnit();
    const t = hostTable(b.host, 2);
    mapRange(t, 0x1000, 0x7000_0000, 0x2000);
    b.writeSte(8, s2Ste(s2Of(t), true));
    b.unit.configureEndpoint(8, { ats: true });
    expect(b.dma(8, 0x1000)).toBe(0x70000);
    expect(b.unit.endpoints.atcEntries(8)).toBe(1);
    t.unmap(1, 2);
    b.cmd([OP.TLBI_S12_VMALL, { VMID: 1 }]);
    expect(b.dma(8, 0x1000)).toBe(0x70000); // served by the device's ATC
    b.cmd([OP.ATC_INV, { SID: 8, ADDR: 0, ATC_SIZE: 52 }]);
    expect(b.dma(8, 0x1000)).toMatchObject({ name: 'F_TRANSLATION' });
  });

  it('ATC entries are only made when STE.EATS allows ATS', () => {
    const b = bareUnit();
    const t = hostTable(b.host, 2);
    mapRange(t, 0x1000, 0x7000_0000, 0x1000);
    b.writeSte(8, s2Ste(s2Of(t), false));
    b.unit.configureEndpoint(8, { ats: true });
    b.dma(8, 0x1000);
    expect(b.unit.endpoints.atcEntries(8)).toBe(0);
  });
});
