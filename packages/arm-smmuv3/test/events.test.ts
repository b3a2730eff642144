import { describe, expect, it } from 'vitest';
import { setAddr, setField, type FaultRecord } from '@ioasid/core';
import {
  CdTable,
  ABORT_MEANING,
  EVENT,
  EVENT_MEANING,
  OP,
  Q_BASE,
  STRTAB_BASE,
  STRTAB_BASE_CFG,
  directSpace,
  encodeCd,
  encodeSte,
  nestedSte,
  regValue,
  s1Cd,
  s2Ste,
  L1STD,
  L1STD_L2PTR,
  writeCdFields,
  type CdFields,
} from '../src/index.js';
import { bareUnit, hostTable, mapRange, s2Of, type Bare } from './hw-harness.js';

/** A stage 1 only stream: STE → CD table (linear, 2^cdmax CDs) → one 4K table mapping GVA 0x1000 → PA 0x5000_0000. */
function s1Stream(b: Bare, opts: { cdmax?: number; s1dss?: number; stalld?: boolean; ias?: number; stall?: boolean; cd?: Partial<CdFields>; ste?: Record<string, number> } = {}) {
  const t = hostTable(b.host, 1);
  mapRange(t, 0x1000, 0x5000_0000, 0x1000);
  const cdt = CdTable.create(directSpace(b.host), 'linear', opts.cdmax ?? 0);
  const cd = s1Cd({ ttb0: t.root * 4096, granule: 4096, ias: opts.ias ?? 48, asid: 1, ipsBits: 48, stall: opts.stall });
  writeCdFields(cd, 0, opts.cd ?? {});
  cdt.write(0, cd);
  b.writeSte(8, encodeSte({ V: 1, Config: 5, S1ContextPtr: cdt.addr, S1CDMax: opts.cdmax ?? 0, S1DSS: opts.s1dss ?? 0, S1STALLD: opts.stalld === false ? 0 : 1, ...opts.ste }));
  return { t, cdt };
}

function expectEvent(b: Bare, r: number | FaultRecord, name: string, fields: Record<string, number | bigint> = {}) {
  expect(typeof r).toBe('object');
  const rec = r as FaultRecord;
  expect(rec.name).toBe(name);
  expect(rec.code).toBe(EVENT[name as keyof typeof EVENT]);
  expect(rec.recorded).toBe(true);
  // Every event the unit records explains itself in one line (SMMUv3 §7.3 event descriptions).
  expect(rec.explain).toBe(EVENT_MEANING[name as keyof typeof EVENT]);
  expect(rec.explain).not.toBe('');
  const ev = b.events();
  expect(ev).toHaveLength(1);
  expect(ev[0]).toMatchObject({ TYPE: rec.code, SID: rec.sid as number, ...fields });
  return rec;
}

describe('every modelled event is reachable and written to the event queue in memory', () => {
  it('C_BAD_STREAMID: StreamID beyond STRTAB_BASE_CFG.LOG2SIZE', () => {
    const b = bareUnit();
    expectEvent(b, b.dma(0x300, 0x1000), 'C_BAD_STREAMID', { SID: 0x300 });
  });

  it('C_BAD_STREAMID: two-level stream table whose L1 descriptor has Span 0', () => {
    const b = bareUnit();
    b.unit.write('CR0', 0n);
    const l1 = b.host.allocFrame() * 4096;
    b.unit.write('STRTAB_BASE', regValue(STRTAB_BASE, { ADDR: l1 / 64 }));
    b.unit.write('STRTAB_BASE_CFG', regValue(STRTAB_BASE_CFG, { FMT: 1, SPLIT: 8, LOG2SIZE: 16 }));
    b.unit.write('CR0', 0xfn);
    expectEvent(b, b.dma(0x108, 0x1000), 'C_BAD_STREAMID');
  });

  it('F_STE_FETCH: an L1 descriptor pointing where no memory answers (above RAM, inside the OAS)', () => {
    const b = bareUnit();
    b.unit.write('CR0', 0n);
    const l1 = b.host.allocFrame() * 4096;
    const d = new Uint32Array(2);
    setField(d, 0, L1STD.Span, 9);
    setAddr(d, 0, L1STD_L2PTR, 2 ** 47);
    b.writeWords(l1 + 8, d);
    b.unit.write('STRTAB_BASE', regValue(STRTAB_BASE, { ADDR: l1 / 64 }));
    b.unit.write('STRTAB_BASE_CFG', regValue(STRTAB_BASE_CFG, { FMT: 1, SPLIT: 8, LOG2SIZE: 16 }));
    b.unit.write('CR0', 0xfn);
    const r = expectEvent(b, b.dma(0x108, 0x1000), 'F_STE_FETCH');
    expect(r.fetchAddr).toBe(2n ** 47n + 8n * 64n);
  });

  for (const [why, ste] of [
    ['V = 0', { V: 0, Config: 6 }],
    ['reserved S1Fmt 0b11', { V: 1, Config: 5, S1CDMax: 2, S1Fmt: 3 }],
    ['S1CDMax beyond SSIDSIZE', { V: 1, Config: 5, S1CDMax: 21 }],
    ['S2AA64 = 0', { V: 1, Config: 6, S2T0SZ: 16, S2SL0: 2, S2PS: 5 }],
    ['S2ENDI = 1 on a little-endian-only SMMU', { V: 1, Config: 6, S2T0SZ: 16, S2SL0: 2, S2AA64: 1, S2ENDI: 1 }],
    ['reserved S2TG 0b11', { V: 1, Config: 6, S2T0SZ: 16, S2SL0: 2, S2AA64: 1, S2TG: 3 }],
    ['S2T0SZ/S2SL0 needing 512 concatenated tables', { V: 1, Config: 6, S2T0SZ: 16, S2SL0: 1, S2AA64: 1 }],
    ['reserved S2SL0 0b11', { V: 1, Config: 6, S2T0SZ: 16, S2SL0: 3, S2AA64: 1 }],
  ] as const) {
    it(`C_BAD_STE: ${why}`, () => {
      const b = bareUnit();
      b.writeSte(8, encodeSte(ste));
      const r = expectEvent(b, b.dma(8, 0x1000), 'C_BAD_STE');
      expect(typeof r.reason).toBe('string');
    });
  }

  it('STE Config abort: the transaction is aborted and no event is recorded', () => {
    const b = bareUnit();
    b.writeSte(8, encodeSte({ V: 1, Config: 0 }));
    expect(b.dma(8, 0x1000)).toMatchObject({ name: 'ABORT', code: 0, recorded: false });
    expect(b.events()).toEqual([]);
  });

  it('STE Config bypass: input address = output address', () => {
    const b = bareUnit();
    b.writeSte(8, encodeSte({ V: 1, Config: 4 }));
    expect(b.dma(8, 0x1234_5000)).toBe(0x12345);
  });

  it('F_STREAM_DISABLED: no SubstreamID while S1DSS = terminate', () => {
    const b = bareUnit();
    s1Stream(b, { cdmax: 2, s1dss: 0 });
    expectEvent(b, b.dma(8, 0x1000), 'F_STREAM_DISABLED');
  });

  it('S1DSS = bypass: no SubstreamID skips stage 1; S1DSS = SSID0 uses CD 0', () => {
    const b = bareUnit();
    s1Stream(b, { cdmax: 2, s1dss: 1 });
    expect(b.dma(8, 0x1000)).toBe(1);
    const c = bareUnit();
    s1Stream(c, { cdmax: 2, s1dss: 2 });
    expect(c.dma(8, 0x1000)).toBe(0x50000);
  });

  it('C_BAD_SUBSTREAMID: SubstreamID ≥ 2^S1CDMax, a SubstreamID with S1CDMax 0, SubstreamID 0 with S1DSS = SSID0', () => {
    const b = bareUnit();
    s1Stream(b, { cdmax: 2, s1dss: 2 });
    expectEvent(b, b.dma(8, 0x1000, { pasid: 4 }), 'C_BAD_SUBSTREAMID', { SSV: 1, SSID: 4 });
    expectEvent(b, b.dma(8, 0x1000, { pasid: 0 }), 'C_BAD_SUBSTREAMID', { SSV: 1, SSID: 0 });
    const c = bareUnit();
    s1Stream(c);
    expectEvent(c, c.dma(8, 0x1000, { pasid: 1 }), 'C_BAD_SUBSTREAMID');
  });

  it('C_BAD_SUBSTREAMID: a SubstreamID on a stage 2 only or bypass stream (STE.Config[0] = 0)', () => {
    const b = bareUnit();
    const t = hostTable(b.host, 2);
    mapRange(t, 0x1000, 0x7000_0000, 0x1000);
    b.writeSte(8, s2Ste(s2Of(t), false));
    expect(b.dma(8, 0x1000)).toBe(0x70000);
    expectEvent(b, b.dma(8, 0x1000, { pasid: 1 }), 'C_BAD_SUBSTREAMID', { SSV: 1, SSID: 1 });
    b.writeSte(16, encodeSte({ V: 1, Config: 4 }));
    expectEvent(b, b.dma(16, 0x1000, { pasid: 2 }), 'C_BAD_SUBSTREAMID', { SID: 16 });
  });

  it('C_BAD_SUBSTREAMID: two-level CD table whose L1CD is not valid', () => {
    const b = bareUnit();
    const cdt = CdTable.create(directSpace(b.host), 'two-level', 12);
    cdt.write(5, new Uint32Array(16));
    b.writeSte(8, encodeSte({ V: 1, Config: 5, S1Fmt: 2, S1ContextPtr: cdt.addr, S1CDMax: 12, S1STALLD: 1 }));
    expectEvent(b, b.dma(8, 0x1000, { pasid: 5 }), 'C_BAD_CD');
    expectEvent(b, b.dma(8, 0x1000, { pasid: 1025 }), 'C_BAD_SUBSTREAMID', { SSID: 1025 });
  });

  it('F_CD_FETCH: S1ContextPtr where no memory answers', () => {
    const b = bareUnit();
    b.writeSte(8, encodeSte({ V: 1, Config: 5, S1ContextPtr: 2 ** 47, S1STALLD: 1 }));
    const r = expectEvent(b, b.dma(8, 0x1000), 'F_CD_FETCH');
    expect(r.fetchAddr).toBe(2n ** 47n);
  });

  for (const [why, cd] of [
    ['V = 0', { V: 0 }],
    ['AA64 = 0', { AA64: 0 }],
    ['ENDI = 1', { ENDI: 1 }],
    ['A = 0 with TERM_MODEL = 1', { A: 0 }],
    ['T0SZ 40 (outside 16..39)', { T0SZ: 40 }],
    ['T0SZ 12 (outside 16..39)', { T0SZ: 12 }],
    ['reserved TG0 0b11', { TG0: 3 }],
    ['reserved IPS 0b111', { IPS: 7 }],
    ['S = 1 while STE.S1STALLD = 1', { S: 1 }],
  ] as const) {
    it(`C_BAD_CD: ${why}`, () => {
      const b = bareUnit();
      const t = hostTable(b.host, 1);
      const base = { T0SZ: 16, TG0: 0, V: 1, AA64: 1, A: 1, R: 1, IPS: 5, ASID: 1, TTB0: t.root * 4096 };
      const cdPa = b.host.allocFrame() * 4096;
      b.writeWords(cdPa, encodeCd({ ...base, ...cd }));
      b.writeSte(8, encodeSte({ V: 1, Config: 5, S1ContextPtr: cdPa, S1STALLD: 1 }));
      expectEvent(b, b.dma(8, 0x1000), 'C_BAD_CD');
    });
  }

  it('F_WALK_EABT: TTB0 where no memory answers', () => {
    const b = bareUnit();
    const cdPa = b.host.allocFrame() * 4096;
    b.writeWords(cdPa, s1Cd({ ttb0: 2 ** 47, granule: 4096, ias: 48, asid: 1, ipsBits: 48 }));
    b.writeSte(8, encodeSte({ V: 1, Config: 5, S1ContextPtr: cdPa, S1STALLD: 1 }));
    const r = expectEvent(b, b.dma(8, 0x1000), 'F_WALK_EABT', { ADDR: 0x1000n });
    expect(r.fetchAddr).toBe(2n ** 47n);
  });

  it('F_TRANSLATION: unmapped, beyond T0SZ, and with EPD0 = 1', () => {
    const b = bareUnit();
    s1Stream(b);
    expectEvent(b, b.dma(8, 0x2000), 'F_TRANSLATION', { S2: 0, ADDR: 0x2000n });
    const c = bareUnit();
    s1Stream(c, { ias: 32 });
    expectEvent(c, c.dma(8, 2 ** 32), 'F_TRANSLATION');
    const d = bareUnit();
    s1Stream(d, { cd: { EPD0: 1 } });
    expectEvent(d, d.dma(8, 0x1000), 'F_TRANSLATION');
  });

  it('InputAddr is the full byte address the request carried, not its page (SMMUv3 §7.3: InputAddr[63:0]; QEMU smmuv3_translate passes the whole address to EVT_SET_ADDR)', () => {
    const b = bareUnit();
    s1Stream(b);
    const rec = expectEvent(b, b.dma(8, 0x2a34), 'F_TRANSLATION', { ADDR: 0x2a34n });
    expect(rec.iova).toBe(0x2a34n);
  });

  it('F_ADDR_SIZE: a leaf output address beyond CD.IPS', () => {
    const b = bareUnit();
    const t = hostTable(b.host, 1);
    mapRange(t, 0x1000, 2 ** 33, 0x1000);
    const cdPa = b.host.allocFrame() * 4096;
    b.writeWords(cdPa, s1Cd({ ttb0: t.root * 4096, granule: 4096, ias: 48, asid: 1, ipsBits: 32 }));
    b.writeSte(8, encodeSte({ V: 1, Config: 5, S1ContextPtr: cdPa, S1STALLD: 1 }));
    expectEvent(b, b.dma(8, 0x1000), 'F_ADDR_SIZE');
  });

  it('F_ACCESS: a leaf with AF = 0 (and none with CD.AFFD = 1)', () => {
    const b = bareUnit();
    const { t } = s1Stream(b);
    const leaf = t.walk(1).at(-1)!;
    const lo = b.host.u32(Number(leaf.entryAddr));
    b.writeWords(Number(leaf.entryAddr), new Uint32Array([lo & ~(1 << 10)]));
    expectEvent(b, b.dma(8, 0x1000), 'F_ACCESS');
    const c = bareUnit();
    const s = s1Stream(c, { cd: { AFFD: 1 } });
    const l2 = s.t.walk(1).at(-1)!;
    c.writeWords(Number(l2.entryAddr), new Uint32Array([c.host.u32(Number(l2.entryAddr)) & ~(1 << 10)]));
    expect(c.dma(8, 0x1000)).toBe(0x50000);
  });

  it('F_PERMISSION: write to a read-only stage 1 page (S2 = 0)', () => {
    const b = bareUnit();
    const t = hostTable(b.host, 1);
    mapRange(t, 0x1000, 0x5000_0000, 0x1000, 1);
    const cdPa = b.host.allocFrame() * 4096;
    b.writeWords(cdPa, s1Cd({ ttb0: t.root * 4096, granule: 4096, ias: 48, asid: 1, ipsBits: 48 }));
    b.writeSte(8, encodeSte({ V: 1, Config: 5, S1ContextPtr: cdPa, S1STALLD: 1 }));
    expectEvent(b, b.dma(8, 0x1000, { write: true }), 'F_PERMISSION', { S2: 0, RnW: 0, PnU: 0 });
  });
});

describe('recording, stalling and page requests', () => {
  it('CD.R = 0: a stage 1 translation fault is returned but not recorded in the queue', () => {
    const b = bareUnit();
    s1Stream(b, { cd: { R: 0 } });
    expect(b.dma(8, 0x2000)).toMatchObject({ name: 'F_TRANSLATION', recorded: false });
    expect(b.events()).toEqual([]);
  });

  it('STE.S2R = 0: stage 2 faults are not recorded', () => {
    const b = bareUnit();
    const t = hostTable(b.host, 2);
    const ste = s2Ste(s2Of(t), false);
    ste[5] &= ~(1 << 26); // S2R is bit 58 of dword 2 (word 5 bit 26)
    b.writeSte(8, ste);
    expect(b.dma(8, 0x2000)).toMatchObject({ name: 'F_TRANSLATION', recorded: false, s2: true });
    expect(b.events()).toEqual([]);
  });

  it('CD.S = 1 with STE.S1STALLD = 0: the fault stalls (Stall = 1, STAG) until CMD_RESUME', () => {
    const b = bareUnit();
    s1Stream(b, { stalld: false, stall: true, cd: { R: 0 } });
    const r = b.dma(8, 0x3000) as FaultRecord;
    expect(r).toMatchObject({ name: 'F_TRANSLATION', stall: true, pageRequest: true, recorded: true });
    const [ev] = b.events();
    expect(ev).toMatchObject({ STALL: 1, STAG: r.stag as number });
    expect(b.unit.stalls.size).toBe(1);
    b.cmd([OP.RESUME, { SID: 8, STAG: r.stag as number, RESUME_RESP: 1 }], [OP.SYNC, {}]);
    expect(b.unit.stalls.size).toBe(0);
    expect(b.unit.resumes).toEqual([{ sid: 8, stag: r.stag, action: 1 }]);
  });

  it('an endpoint with PRI enabled turns a stage 1 fault into a PCIe page request (PRI queue), answered by PRI_RESP', () => {
    const b = bareUnit();
    s1Stream(b, { cdmax: 4, s1dss: 2 });
    b.unit.configureEndpoint(8, { pri: true });
    const r = b.dma(8, 0x7000, { pasid: 0 }) as FaultRecord; // SSID 0 is reserved by S1DSS=SSID0: not a stage 1 fault
    expect(r.name).toBe('C_BAD_SUBSTREAMID');
    b.events();
    const cdt2 = CdTable.create(directSpace(b.host), 'linear', 4);
    const t = hostTable(b.host, 1);
    cdt2.write(3, s1Cd({ ttb0: t.root * 4096, granule: 4096, ias: 48, asid: 2, ipsBits: 48 }));
    b.writeSte(8, encodeSte({ V: 1, Config: 5, S1ContextPtr: cdt2.addr, S1CDMax: 4, S1DSS: 1, S1STALLD: 1 }));
    b.cmd([OP.CFGI_STE, { SID: 8 }]);
    const pr = b.dma(8, 0x7000, { pasid: 3, write: true }) as FaultRecord;
    expect(pr).toMatchObject({ name: 'F_TRANSLATION', pageRequest: true, recorded: false });
    expect(b.events()).toEqual([]);
    const [e] = b.priEntries();
    expect(e).toMatchObject({ SID: 8, SSID: 3, SSID_V: 1, PERM_WRITE: 1, PERM_READ: 0, PRG_LAST: 1, ADDR: 7, PRG_IDX: pr.prgIndex as number });
    expect(b.unit.endpoints.get(8).pendingPrgs.has(pr.prgIndex as number)).toBe(true);
    b.cmd([OP.PRI_RESP, { SID: 8, SSV: 1, SSID: 3, GRPID: pr.prgIndex as number, PRI_RESP: 2 }]);
    expect(b.unit.endpoints.get(8).pendingPrgs.size).toBe(0);
    expect(b.unit.endpoints.get(8).responses).toEqual([{ prgIndex: pr.prgIndex, ssid: 3, code: 2 }]);
  });
});

describe('queues', () => {
  it('the event queue overflows into EVENTQ_PROD.OVFLG when software does not consume', () => {
    const b = bareUnit();
    for (let i = 0; i < 130; i++) b.dma(0x300, 0x1000);
    const prod = b.unit.read('EVENTQ_PROD');
    expect(prod >> 31n).toBe(1n);
    expect(Number(prod & 0xffn)).toBe(128); // index 0 with the wrap bit: full
  });

  it('an unknown opcode stops the command queue with CERROR_ILL and toggles GERROR.CMDQ_ERR', () => {
    const b = bareUnit();
    b.cmd([0x7f, {}], [OP.SYNC, {}]);
    const cons = b.unit.read('CMDQ_CONS');
    expect(Number((cons >> 24n) & 0x7fn)).toBe(1);
    expect(Number(cons & 0x1ffn)).toBe(0);
    expect(b.unit.read('GERROR') & 1n).toBe(1n);
  });

  it('commands are read from queue memory between CONS and PROD with wrap', () => {
    const b = bareUnit();
    for (let i = 0; i < 300; i++) b.cmd([OP.SYNC, {}]);
    expect(Number(b.unit.read('CMDQ_CONS'))).toBe(300 % 512);
    expect(b.unit.executed.at(-1)!.op).toBe(OP.SYNC);
  });

  it('the command queue does nothing while CR0.CMDQEN is 0', () => {
    const b = bareUnit();
    b.unit.write('CR0', regValue(Q_BASE, {}));
    b.cmd([OP.SYNC, {}]);
    expect(b.unit.read('CMDQ_CONS')).toBe(0n);
  });
});

describe('nested faults carry S2 and CLASS', () => {
  it('a CD table pointer outside guest RAM: stage 2 F_TRANSLATION with CLASS = CD', () => {
    const b = bareUnit();
    const s2 = hostTable(b.host, 2);
    mapRange(s2, 0, 0x8000_0000, 16 << 20);
    b.writeSte(8, nestedSte({ ctxPtr: 0x4000_0000, s1fmt: 0, s1cdmax: 0, s1dss: 0, stallDisabled: true }, s2Of(s2), false));
    const r = b.dma(8, 0x1000) as FaultRecord;
    expect(r).toMatchObject({ name: 'F_TRANSLATION', s2: true, class: 'CD', ipa: 0x4000_0000n });
    expect(b.events()[0]).toMatchObject({ S2: 1, CLASS: 0, IPA: 0x40000 });
  });
});
