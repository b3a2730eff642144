/**
 * The hardware alone (no driver), over tables written by hand: the translation process of spec
 * §2.3, the caches and the commands that clear them (§2.7, §3.1), and the fault queue (§3.2).
 */
import { describe, expect, it } from 'vitest';
import { PROT_READ, PROT_WRITE, RadixPageTable, contiguousRuns, type FaultRecord } from '@ioasid/core';
import { CAUSE, decodeFaultRecord, iodirInvalDdt, iodirInvalPdt, iotinvalGvma, iotinvalVma, svFormat, TTYP } from '../src/index.js';
import { Harness } from './hw-harness.js';

const fault = (r: unknown) => r as FaultRecord;

describe('G-stage only (iohgatp Sv39x4, fsc Bare)', () => {
  it('translates, caches by GSCID, and only IOTINVAL.GVMA clears the cache', () => {
    const h = new Harness();
    const host = h.mem.allocFrames(4, 1);
    const g = h.gstage(0x100, host, 4);
    h.setDc(8, { iohgatp: { MODE: 8, GSCID: 3, PPN: g.root } });
    expect(h.dma(8, 0x101_000n)).toBe(host + 1);
    g.unmap(0x100, 4);
    expect(h.dma(8, 0x101_000n)).toBe(host + 1); // stale IOTLB entry until the invalidation
    h.command(iotinvalGvma({ gscid: 3, addr: 0x101_000n }));
    expect(fault(h.dma(8, 0x101_000n)).name).toBe('READ_GUEST_PAGE_FAULT');
    expect(h.unit.commands['IOTINVAL.GVMA']).toBe(1);
  });

  it('a DC change is seen only after IODIR.INVAL_DDT', () => {
    const h = new Harness();
    const host = h.mem.allocFrames(1, 1);
    const g = h.gstage(0, host, 1);
    h.setDc(8, { iohgatp: { MODE: 8, GSCID: 1, PPN: g.root } });
    expect(h.dma(8, 0n)).toBe(host);
    h.setDc(8, { tc: { V: false } });
    h.command(iotinvalGvma({ gscid: 1 }));
    expect(h.dma(8, 0n)).toBe(host); // DDT cache still holds the DC
    h.command(iodirInvalDdt(8));
    expect(fault(h.dma(8, 0n)).name).toBe('DDT_INVALID');
  });
});

describe('nested: first stage (guest Sv39 through the G-stage) over Sv39x4', () => {
  function nested() {
    const h = new Harness();
    const ram = h.mem.allocFrames(64, 1); // guest RAM: GPA frames 0..63
    const g = h.gstage(0, ram, 64);
    return { h, ram, g };
  }

  it('walks the guest table through the G-stage; a G-stage hole under a guest PTE is an implicit guest-page fault', () => {
    const { h, ram, g } = nested();
    // Write the guest table by hand at GPA frames 40 (L2), 41 (L1), 42 (L0): IOVA 0x200000 → GPA frame 7.
    const pte = (frame: number, flags: number) => (BigInt(frame) << 10n) | BigInt(flags);
    const put = (gpaFrame: number, index: number, v: bigint) => {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setBigUint64(0, v, true);
      h.mem.write((ram + gpaFrame) * 4096 + index * 8, b);
    };
    put(40, 0, pte(41, 1));
    put(41, 1, pte(42, 1));
    put(42, 0, pte(7, 0xd7));
    h.setDc(8, { iohgatp: { MODE: 8, GSCID: 2, PPN: g.root }, ta: { PSCID: 5 }, fsc: { MODE: 8, PPN: 40 } });
    expect(h.dma(8, 0x200_000n, { write: true })).toBe(ram + 7);
    // Guest removes the leaf: stale until IOTINVAL.VMA with GSCID 2 PSCID 5.
    put(42, 0, 0n);
    expect(h.dma(8, 0x200_000n)).toBe(ram + 7);
    h.command(iotinvalVma({ gscid: 2, pscid: 5, addr: 0x200_000n }));
    const f = fault(h.dma(8, 0x200_000n));
    expect(f.name).toBe('READ_PAGE_FAULT');
    // The G-stage loses the page holding the guest's L1 table: implicit guest-page fault, iotval2 bit 0.
    g.unmap(41, 1);
    h.command(iotinvalGvma({ gscid: 2 }));
    const f2 = fault(h.dma(8, 0x200_000n));
    expect(f2.name).toBe('READ_GUEST_PAGE_FAULT');
    expect(f2.iotval2).toBe((41n * 4096n) | 1n);
  });
});

describe('process directory (PD8) with ENS/SUM and U', () => {
  it('selects the PC by PASID; privilege follows ENS, SUM and U', () => {
    const h = new Harness();
    const pdt = h.frame();
    const host = h.mem.allocFrames(2, 1);
    const s1 = RadixPageTable.create(h.mem, svFormat(39));
    s1.map(0x10, 1, contiguousRuns(host, 1), PROT_READ | PROT_WRITE); // U = 1 leaf
    h.setDc(8, { tc: { PDTV: true }, fsc: { MODE: 1, PPN: pdt } });
    h.setPc(pdt, 3, { V: true, ENS: false, SUM: false, PSCID: 9, fsc: { MODE: 8, PPN: s1.root } });
    expect(h.dma(8, 0x10_000n, { pasid: 3 })).toBe(host);
    expect(fault(h.dma(8, 0x10_000n, { pasid: 3, privileged: true })).name).toBe('TTYP_BLOCKED');
    expect(fault(h.dma(8, 0x10_000n, { pasid: 4 })).name).toBe('PDT_INVALID');
    expect(fault(h.dma(8, 0x10_000n, { pasid: 256 })).name).toBe('TTYP_BLOCKED');
    // ENS = 1, SUM = 0: a supervisor request may not touch a U page.
    h.setPc(pdt, 3, { V: true, ENS: true, SUM: false, PSCID: 9, fsc: { MODE: 8, PPN: s1.root } });
    h.command(iodirInvalPdt(8, 3));
    h.command(iotinvalVma({ pscid: 9 }));
    expect(fault(h.dma(8, 0x10_000n, { pasid: 3, privileged: true })).name).toBe('READ_PAGE_FAULT');
    h.setPc(pdt, 3, { V: true, ENS: true, SUM: true, PSCID: 9, fsc: { MODE: 8, PPN: s1.root } });
    h.command(iodirInvalPdt(8, 3));
    expect(h.dma(8, 0x10_000n, { pasid: 3, privileged: true })).toBe(host);
    // Without PASID and DPE = 0 the first stage is Bare: the IOVA is the address.
    expect(h.dma(8, BigInt(host) * 4096n)).toBe(host);
  });
});

describe('fault queue records (spec §3.2)', () => {
  it('a fault is written at fqt with CAUSE, TTYP, DID, PID and iotval', () => {
    const h = new Harness();
    h.setDc(8, { tc: { PDTV: true }, fsc: { MODE: 1, PPN: h.frame() } });
    fault(h.dma(8, 0x1234_000n, { pasid: 7, write: true }));
    expect(h.unit.read('fqt')).toBe(1n);
    const q = [0, 1, 2, 3].map((i) => h.mem.u64(h.fq * 4096 + 8 * i));
    expect(decodeFaultRecord(q)).toEqual({ cause: CAUSE.PDT_INVALID, pid: 7, priv: false, ttyp: TTYP.UntranslatedWrite, did: 8, iotval: 0x1234_000n, iotval2: 0n });
  });

  it('a full queue sets fqof and drops the record', () => {
    const h = new Harness();
    for (let i = 0; i < 130; i++) h.dma(8, 0n);
    expect(h.unit.read('fqt')).toBe(127n);
    expect((h.unit.read('fqcsr') >> 9n) & 1n).toBe(1n);
  });
});

describe('DDT modes and device_id width (spec §2.3 step 5)', () => {
  it('Off blocks everything; Bare passes through; 1LVL refuses a device_id above 127', () => {
    const h = new Harness();
    expect(fault(h.dma(200, 0n)).name).toBe('TTYP_BLOCKED');
    h.unit.write('ddtp', 0n);
    expect(fault(h.dma(8, 0n)).name).toBe('DMA_DISABLED');
    h.unit.write('ddtp', 1n);
    expect(h.dma(8, 0x5000n)).toBe(5);
  });

  it('an illegal command stops the queue with cmd_ill', () => {
    const h = new Harness();
    h.command([0x7fn, 0n]);
    expect((h.unit.read('cqcsr') >> 10n) & 1n).toBe(1n);
    expect(h.unit.read('cqh')).toBe(0n);
  });
});
