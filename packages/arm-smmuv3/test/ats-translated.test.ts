import { describe, expect, it } from 'vitest';
import { DmaFault, createMachine, setField, type FaultRecord } from '@ioasid/core';
import { CR0, EVENT, EVENT_MEANING, OP, STE, encodeSte, nestedSte, regValue, s2Ste } from '../src/index.js';
import { bareUnit, hostTable, mapRange, s2Of, type Bare } from './hw-harness.js';

const T = { translated: true } as const;

function withEats(ste: Uint32Array, eats: number, fields: Partial<Record<keyof typeof STE, number>> = {}): Uint32Array {
  setField(ste, 0, STE.EATS, eats);
  for (const [k, v] of Object.entries(fields)) setField(ste, 0, STE[k as keyof typeof STE], v);
  return ste;
}

/** A stage-2-only stream at SID 8 mapping IPA 0x1000–0x2fff → PA 0x7000_0000, with the given STE.EATS. */
function s2Stream(b: Bare, eats: number) {
  const t = hostTable(b.host, 2);
  mapRange(t, 0x1000, 0x7000_0000, 0x2000);
  b.writeSte(8, withEats(s2Ste(s2Of(t), false), eats));
  return t;
}

/**
 * A nested stream at SID 8 whose traffic without a SubstreamID skips stage 1 (S1DSS = bypass),
 * so its IPA is its input address; stage 2 maps IPA 0x1000 → PA 0x7000_0000.
 */
function nestedStream(b: Bare, eats: number) {
  const s2 = hostTable(b.host, 2);
  mapRange(s2, 0x1000, 0x7000_0000, 0x1000);
  b.writeSte(8, withEats(nestedSte({ ctxPtr: 0x10_0000, s1fmt: 0, s1cdmax: 1, s1dss: 1, stallDisabled: true }, s2Of(s2), false), eats));
  return s2;
}

function fault(r: number | FaultRecord): FaultRecord {
  expect(typeof r).toBe('object');
  return r as FaultRecord;
}

describe('SMMU_CR0.ATSCHK = 1: Translated transactions are checked against the STE (SMMUv3 §3.9.1.3, §5.2 STE.EATS)', () => {
  it('STE.EATS = 0b00: terminated, F_TRANSL_FORBIDDEN (0x07) in the event queue with RnW, StreamID and InputAddr (§7.3.8)', () => {
    const b = bareUnit();
    b.atschk(true);
    s2Stream(b, 0);
    const r = fault(b.dma(8, 0x7000_1000, { ...T, write: true }));
    expect(r).toMatchObject({ name: 'F_TRANSL_FORBIDDEN', code: 0x07, recorded: true, sid: 8, iova: 0x7000_1000n, write: true, translated: true });
    expect(r.explain).toBe(EVENT_MEANING.F_TRANSL_FORBIDDEN);
    const ev = b.events();
    expect(ev).toHaveLength(1);
    expect(ev[0]).toMatchObject({ TYPE: EVENT.F_TRANSL_FORBIDDEN, SID: 8, RnW: 0, ADDR: 0x7000_1000n, SSV: 0, S2: 0, CLASS: 0, PnU: 0 });
    // The device sees it as a DmaFault whose message names the event and what it means.
    const e = new DmaFault(r);
    expect(e.message).toContain('F_TRANSL_FORBIDDEN');
    expect(e.message).toContain(EVENT_MEANING.F_TRANSL_FORBIDDEN);
  });

  it('a PASID on a Translated transaction is not a SubstreamID without SMMU_IDR3.PASIDTT: the record has SSV = 0 (§3.9.1.3)', () => {
    const b = bareUnit();
    b.atschk(true);
    s2Stream(b, 0);
    const r = fault(b.dma(8, 0x7000_1000, { ...T, pasid: 3 }));
    expect(r).toMatchObject({ name: 'F_TRANSL_FORBIDDEN' });
    expect(r.pasid).toBeUndefined();
    expect(b.events()[0]).toMatchObject({ SSV: 0, SSID: 0, RnW: 1 });
  });

  it('STE.EATS = 0b01 (full ATS): the transaction passes with the address it carries, nothing walked (§5.2 STE.EATS)', () => {
    const b = bareUnit();
    b.atschk(true);
    s2Stream(b, 1);
    expect(b.dma(8, 0x1234_5678, T)).toBe(0x12345);
    expect(b.unit.tlb.tagList()).toEqual([]);
    expect(b.events()).toEqual([]);
  });

  it('STE.Config = 0b100 (bypass): EATS counts as 0b00 whatever it holds → F_TRANSL_FORBIDDEN (§5.2 STE.Config, §7.3.8)', () => {
    const b = bareUnit();
    b.atschk(true);
    b.writeSte(8, encodeSte({ V: 1, Config: 4, EATS: 1 }));
    expect(b.dma(8, 0x7000_1000, T)).toMatchObject({ name: 'F_TRANSL_FORBIDDEN', recorded: true });
    expect(b.events()).toMatchObject([{ TYPE: EVENT.F_TRANSL_FORBIDDEN, ADDR: 0x7000_1000n }]);
    // Untranslated traffic still bypasses.
    expect(b.dma(8, 0x7000_1000)).toBe(0x70001);
  });

  for (const [why, setup, event] of [
    ['a StreamID beyond STRTAB_BASE_CFG.LOG2SIZE', (b: Bare) => b, 'C_BAD_STREAMID'],
    ['an STE with V = 0 (§5.2 STE.V)', (b: Bare) => b.writeSte(0x10, encodeSte({ V: 0, Config: 6, EATS: 1 })), 'C_BAD_STE'],
    ['an ILLEGAL STE (S2AA64 = 0)', (b: Bare) => b.writeSte(0x10, encodeSte({ V: 1, Config: 6, EATS: 1, S2T0SZ: 16, S2SL0: 2 })), 'C_BAD_STE'],
    ['S1DSS = terminate with no SubstreamID', (b: Bare) => b.writeSte(0x10, encodeSte({ V: 1, Config: 5, EATS: 1, S1CDMax: 2, S1DSS: 0, S1ContextPtr: 0x10_0000 })), 'F_STREAM_DISABLED'],
  ] as const) {
    it(`${why}: aborted with no event, as SMMU_CR2.REC_CFG_ATS is not implemented (§3.9.1.3)`, () => {
      const b = bareUnit();
      b.atschk(true);
      setup(b);
      const sid = event === 'C_BAD_STREAMID' ? 0x300 : 0x10;
      const r = fault(b.dma(sid, 0x7000_1000, T));
      expect(r).toMatchObject({ name: 'ABORT', code: 0, recorded: false, translated: true });
      expect(r.reason).toContain(event);
      expect(b.events()).toEqual([]);
      // The same configuration records its event for an ordinary transaction.
      expect(b.dma(sid, 0x1000)).toMatchObject({ name: event, recorded: true });
    });
  }

  it('STE.Config = 0b000 (abort): aborted, no event (§5.2 STE.Config, §7.3.7)', () => {
    const b = bareUnit();
    b.atschk(true);
    b.writeSte(8, encodeSte({ V: 1, Config: 0, EATS: 1 }));
    expect(b.dma(8, 0x7000_1000, T)).toMatchObject({ name: 'ABORT', code: 0, recorded: false });
    expect(b.events()).toEqual([]);
  });
});

describe('SMMU_CR0.ATSCHK = 0 (fast mode): Translated traffic bypasses with no stream table lookup (SMMUv3 §6.3.9 ATSCHK)', () => {
  it('STE.EATS = 0b00 and an out-of-range StreamID both pass; nothing is recorded', () => {
    const b = bareUnit();
    s2Stream(b, 0);
    expect(b.dma(8, 0x7000_1000, T)).toBe(0x70001);
    expect(b.dma(0x300, 0x7000_2000, T)).toBe(0x70002);
    expect(b.events()).toEqual([]);
    expect(b.dma(0x300, 0x1000)).toMatchObject({ name: 'C_BAD_STREAMID' });
  });
});

describe('what else a Translated transaction meets', () => {
  it('SMMUEN = 0: F_TRANSL_FORBIDDEN whatever SMMU_GBPA says; the event may be recorded while SMMUEN = 0 (§3.9.1.3, §7.3.8)', () => {
    const b = bareUnit();
    b.unit.write('CR0', regValue(CR0, { EVENTQEN: true, CMDQEN: true }));
    b.unit.write('GBPA', 0n);
    expect(b.dma(8, 0x7000_1000, T)).toMatchObject({ name: 'F_TRANSL_FORBIDDEN', recorded: true, iova: 0x7000_1000n });
    expect(b.events()).toMatchObject([{ TYPE: EVENT.F_TRANSL_FORBIDDEN, SID: 8, ADDR: 0x7000_1000n }]);
    expect(b.dma(8, 0x7000_1000)).toBe(0x70001); // untranslated traffic follows GBPA
  });

  it('a permitted Translated address beyond the OAS is terminated without an event (§3.9.1.1, IMPLEMENTATION DEFINED: abort)', () => {
    for (const atschk of [false, true]) {
      const b = bareUnit();
      b.atschk(atschk);
      s2Stream(b, 1);
      expect(b.dma(8, 2 ** 48, T)).toMatchObject({ name: 'ABORT', code: 0, recorded: false });
      expect(b.dma(8, 2 ** 48 - 4096, T)).toBe(2 ** 36 - 1);
      expect(b.events()).toEqual([]);
    }
  });

  it('an SMMU without ATS (SMMU_IDR0.ATS = 0) passes no Translated traffic; CR0.ATSCHK is RES0 (§5.2 STE.EATS, §6.3.9)', () => {
    const b = bareUnit({ ats: false });
    s2Stream(b, 1);
    expect(b.dma(8, 0x7000_1000, T)).toMatchObject({ name: 'ABORT', code: 0, recorded: false });
    expect(b.events()).toEqual([]);
  });
});

describe('split-stage ATS: STE.EATS = 0b10 on a stage 1 + stage 2 stream (SMMUv3 §3.9.1.3, §5.2 STE.EATS, §13.6.3)', () => {
  it('with ATSCHK = 1 the Translated address is an IPA that stage 2 translates; its faults are recorded as ordinary ones', () => {
    const b = bareUnit();
    b.atschk(true);
    nestedStream(b, 2);
    expect(b.dma(8, 0x1234, T)).toBe(0x70000);
    const r = fault(b.dma(8, 0x5000, { ...T, write: true }));
    expect(r).toMatchObject({ name: 'F_TRANSLATION', s2: true, class: 'IN', ipa: 0x5000n, iova: 0x5000n, recorded: true, translated: true });
    expect(b.events()).toMatchObject([{ TYPE: EVENT.F_TRANSLATION, S2: 1, CLASS: 2, IPA: 0x5, ADDR: 0x5000n, RnW: 0 }]);
    // Priority 10 of §3.9.1.3: an IPA beyond the IAS is a stage 1 F_ADDR_SIZE.
    expect(b.dma(8, 2 ** 48, T)).toMatchObject({ name: 'F_ADDR_SIZE', stage: 1, s2: false, class: 'IN' });
    expect(b.events()).toMatchObject([{ TYPE: EVENT.F_ADDR_SIZE, S2: 0, CLASS: 2 }]);
  });

  it('the endpoint ATC then holds the IPA: after stage 2 changes, a hit follows the new stage 2 mapping', () => {
    const b = bareUnit();
    b.atschk(true);
    const s2 = nestedStream(b, 2);
    b.unit.configureEndpoint(8, { ats: true });
    expect(b.dma(8, 0x1000)).toBe(0x70000);
    expect(b.unit.endpoints.atcLookup(8, -1, 1)).toBe(1 * 4 + 3); // IPA frame 1, read + write
    s2.unmap(1, 1);
    mapRange(s2, 0x1000, 0x7100_0000, 0x1000);
    b.cmd([OP.TLBI_S2_IPA, { VMID: 1, IPA: 0x1, LEAF: 1 }], [OP.SYNC, {}]);
    expect(b.dma(8, 0x1000)).toBe(0x71000);
  });

  it('with ATSCHK = 0 EATS = 0b10 behaves as 0b00: the endpoint gets no translations to cache', () => {
    const b = bareUnit();
    nestedStream(b, 2);
    b.unit.configureEndpoint(8, { ats: true });
    expect(b.dma(8, 0x1000)).toBe(0x70000);
    expect(b.unit.endpoints.atcEntries(8)).toBe(0);
  });
});

describe('STE.EATS validity (SMMUv3 §5.2): ILLEGAL combinations end in C_BAD_STE', () => {
  for (const [why, ste] of [
    ['EATS = 0b10 on a stage-2-only STE', (b: Bare) => withEats(s2Ste(s2Of(hostTable(b.host, 2)), false), 2)],
    ['EATS = 0b10 with STE.S2S = 1', (b: Bare) => withEats(nestedSte({ ctxPtr: 0x10_0000, s1fmt: 0, s1cdmax: 1, s1dss: 1, stallDisabled: true }, s2Of(hostTable(b.host, 2)), false), 2, { S2S: 1 })],
    ['EATS = 0b01 with stage 2 and STE.S2S = 1', (b: Bare) => withEats(s2Ste(s2Of(hostTable(b.host, 2)), false), 1, { S2S: 1 })],
  ] as const) {
    it(why, () => {
      const b = bareUnit();
      b.writeSte(8, ste(b));
      expect(b.dma(8, 0x1000)).toMatchObject({ name: 'C_BAD_STE', recorded: true });
    });
  }

  it('EATS is IGNORED when SMMU_IDR0.ATS = 0: the same STE is valid', () => {
    const b = bareUnit({ ats: false });
    s2Stream(b, 2);
    expect(b.dma(8, 0x1000)).toBe(0x70000);
  });
});

describe('the endpoint ATC path is Translated traffic (PCIe ATS; SMMUv3 §3.9.1)', () => {
  function staleAtc(atschk: boolean) {
    const b = bareUnit();
    b.atschk(atschk);
    const t = hostTable(b.host, 2);
    mapRange(t, 0x1000, 0x7000_0000, 0x1000);
    b.writeSte(8, s2Ste(s2Of(t), true));
    b.unit.configureEndpoint(8, { ats: true });
    expect(b.dma(8, 0x1000)).toBe(0x70000);
    expect(b.unit.endpoints.atcEntries(8)).toBe(1);
    // The STE drops ATS but the endpoint's ATC is not invalidated (no ATC_INV).
    b.writeSte(8, s2Ste(s2Of(t), false));
    b.cmd([OP.CFGI_STE, { SID: 8, LEAF: 1 }]);
    return b;
  }

  it('ATSCHK = 1: a stale ATC entry of a stream whose STE now has EATS = 0b00 is refused with F_TRANSL_FORBIDDEN at the translated address', () => {
    const b = staleAtc(true);
    expect(b.dma(8, 0x1000, { write: true })).toMatchObject({ name: 'F_TRANSL_FORBIDDEN', translated: true, iova: 0x7000_0000n, write: true });
    expect(b.events()).toMatchObject([{ TYPE: EVENT.F_TRANSL_FORBIDDEN, ADDR: 0x7000_0000n }]);
  });

  it('ATSCHK = 0: the same stale entry is served, as fast mode checks nothing', () => {
    const b = staleAtc(false);
    expect(b.dma(8, 0x1000)).toBe(0x70000);
    expect(b.events()).toEqual([]);
  });
});

describe('the driver enables ATS checking as Linux arm_smmu_device_reset does', () => {
  // arm_smmu_device_reset: CMDQEN, then EVTQEN, PRIQEN when ARM_SMMU_FEAT_PRI, ATSCHK when
  // ARM_SMMU_FEAT_ATS (IDR0.ATS), then SMMUEN.
  for (const [features, cr0] of [
    [{}, 0x1fn],
    [{ ats: false }, 0xfn],
    [{ ats: false, pri: false }, 0xdn],
    [{ pri: false }, 0x1dn],
  ] as const) {
    it(`features ${JSON.stringify(features)}: CR0 = CR0ACK = 0x${cr0.toString(16)}`, () => {
      const m = createMachine({ vendor: 'arm-smmuv3', smmuv3: { features } });
      expect(m.iommu.registers().CR0).toBe(cr0);
      expect(m.iommu.registers().CR0ACK).toBe(cr0);
    });
  }

  it('an ATS device behind the driver still DMAs through its ATC with ATSCHK = 1 (its STE has EATS = 0b01)', () => {
    const m = createMachine({ vendor: 'arm-smmuv3', devices: [{ name: 'gpu', ats: true }] });
    const fd = m.openIoasidFd();
    const gpu = m.device('gpu');
    gpu.bindIoasidFd(fd, { label: 'gpu' });
    const id = fd.alloc({ protocol: 'map' });
    gpu.attachIoasid(id);
    const buf = m.vmm.mmap(0x1000n);
    fd.mapDma({ ioasid: id, iova: 0x10_0000n, vaddr: buf, size: 0x1000n });
    gpu.dmaWrite(0x10_0004n, new Uint8Array([7]));
    gpu.dmaWrite(0x10_0005n, new Uint8Array([8])); // an ATC hit: a Translated request
    expect(m.vmm.read(buf + 4n, 2)).toEqual(new Uint8Array([7, 8]));
  });
});
