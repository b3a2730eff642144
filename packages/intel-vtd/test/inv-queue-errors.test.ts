/**
 * Invalidation queue errors (VT-d spec §6.5.2.10, FSTS.IQE): a descriptor of a type the unit does
 * not implement, or with a reserved bit set, is not executed; the unit sets FSTS.IQE, leaves IQH
 * at it and fetches nothing more until software clears IQE (write 1 to FSTS), after which it
 * fetches again from IQH. The driver recovers as Linux qi_check_fault does.
 */
import { describe, expect, it } from 'vitest';
import { PROT_READ, PROT_WRITE } from '@ioasid/core';
import { decodeRegister, encodeInvDesc, FSTS_IQE, withField, type InvDesc } from '../src/index.js';
import { Hand } from './hand.js';
import { expectErrno, qwordAt, vtdMachine } from './helpers.js';

const HPA = 0x40000000n;
const MASK64 = (1n << 64n) - 1n;

const iqe = (h: Hand) => decodeRegister('FSTS_REG', h.unit.read('FSTS_REG')).IQE as boolean;
const clearIqe = (h: Hand) => h.unit.write('FSTS_REG', withField(0n, FSTS_IQE, 1));
const status = (h: Hand) => Number(qwordAt(h.host, h.status) & 0xffffffffn);
const wait = (h: Hand, data: number): bigint[] => encodeInvDesc({ type: 'wait', sw: true, fn: false, iflag: false, pd: false, statusData: data, statusAddr: h.status });
const NOP: bigint[] = encodeInvDesc({ type: 'wait', sw: false, fn: false, iflag: false, pd: false, statusData: 0, statusAddr: 0n });

/** A cached second-level translation at IOVA 0 whose table entry is then removed: only an IOTLB invalidation ends it. */
function staleIotlb(): Hand {
  const h = new Hand();
  h.pasid(0, { did: 3 });
  h.mapSl(0n, HPA, 0x1000n, PROT_READ | PROT_WRITE);
  expect(h.dma(0n)).toBe(Number(HPA >> 12n));
  h.sl.unmap(0, 1);
  expect(h.dma(0n)).toBe(Number(HPA >> 12n));
  return h;
}

/** Software's recovery: the bad slot becomes a no-op wait, IQE is cleared; the queue then drains. */
function recover(h: Hand, slot: number): void {
  h.writeSlot(slot, NOP);
  clearIqe(h);
  expect(iqe(h)).toBe(false);
  expect(h.head).toBe(Number(h.unit.read('IQT_REG') >> 5n));
}

describe('descriptor type: Type[3:0] in bits 3:0, Type[6:4] in bits 11:9 (QEMU VTD_INV_DESC_TYPE)', () => {
  it('an IOTLB descriptor with bit 9 set is type 12h, not 2h: the queue stops there and the IOTLB keeps its entry (VT-d §6.5.2.10)', () => {
    const h = staleIotlb();
    const q = encodeInvDesc({ type: 'iotlb', gran: 1, did: 0, addr: 0n, am: 0, ih: false, dr: false, dw: false });
    const slot = h.putDesc([q[0] | (1n << 9n), q[1], 0n, 0n]);
    h.putDesc(wait(h, 7));
    h.ring();
    expect(iqe(h)).toBe(true);
    expect(h.head).toBe(slot);
    expect(status(h)).not.toBe(7); // the wait after it did not run
    expect(h.dma(0n)).toBe(Number(HPA >> 12n)); // nothing of the bad descriptor ran
    h.writeSlot(slot, q); // the same descriptor, type 2h
    clearIqe(h);
    expect(status(h)).toBe(7);
    expect(typeof h.dma(0n)).toBe('object');
  });

  it('every type the unit does not implement stops the queue: 0h, 4h (interrupt entry cache: ECAP.IR = 0), Ah–Fh and 10h–7Fh (VT-d §6.5.2, §6.5.2.10)', () => {
    const h = new Hand();
    const implemented = new Set([1, 2, 3, 5, 6, 7, 8, 9]);
    for (let t = 0; t < 128; t++) {
      if (implemented.has(t)) continue;
      const slot = h.putDesc([BigInt(t & 0xf) | (BigInt(t >> 4) << 9n), 0n, 0n, 0n]);
      h.putDesc(wait(h, 0x100 + t));
      h.ring();
      expect(iqe(h), `type ${t.toString(16)}h`).toBe(true);
      expect(h.head).toBe(slot);
      expect(status(h)).not.toBe(0x100 + t);
      recover(h, slot);
      expect(status(h)).toBe(0x100 + t);
    }
  });
});

/**
 * A valid descriptor of each type and its reserved bits as [qword 0, qword 1] (bits 255:128 are
 * reserved in all of them: 128-bit descriptor types in a 256-bit queue), from the spec sections
 * and QEMU hw/i386/intel_iommu_internal.h masks named per line.
 */
const CASES: [InvDesc, bigint, bigint, string][] = [
  [{ type: 'cc', gran: 1, did: 0, sid: 0, fm: 0 }, 0xfffc00000000f1c0n, MASK64, '§6.5.2.1, VTD_INV_DESC_CC_RSVD and a zero qword 1'],
  [{ type: 'iotlb', gran: 2, did: 3, addr: 0n, am: 0, ih: false, dr: true, dw: true }, 0xffffffff0000f100n, 0xf80n, '§6.5.2.3, VTD_INV_DESC_IOTLB_RSVD_LO / _HI'],
  // QEMU's VTD_INV_DESC_DEVICE_IOTLB_RSVD_LO also reserves PFSID (15:12, 63:52), which the spec
  // defines and Linux writes (QI_DEV_IOTLB_PFSID): the unit accepts it.
  [{ type: 'devtlb', sid: 0x08, pfsid: 0xfff8, qdep: 0x1f, addr: 0n, s: false }, 0x000f0000ffe001f0n, 0xffen, '§6.5.2.5, VTD_INV_DESC_DEVICE_IOTLB_RSVD_LO less PFSID / _HI'],
  // PD (bit 7) is reserved: the unit does not report page-request drain (ECAP.PDS = 0).
  [{ type: 'wait', sw: false, fn: true, iflag: true, pd: false, statusData: 0, statusAddr: 0n }, 0xfffff180n, 3n, '§6.5.2.8, VTD_INV_DESC_WAIT_RSVD_LO / _HI'],
  [{ type: 'piotlb', gran: 3, did: 3, pasid: 5, addr: 0x1000n, am: 0, ih: true }, 0xfff000000000f1c0n, 0xf80n, '§6.5.2.4, VTD_INV_DESC_PIOTLB_RSVD_VAL0 / VAL1'],
  [{ type: 'pc', gran: 1, did: 3, pasid: 5 }, 0xfff000000000f1c0n, MASK64, '§6.5.2.2, VTD_INV_DESC_PASIDC_RSVD_VAL0 and a zero qword 1'],
  [{ type: 'dev-piotlb', sid: 0x08, pfsid: 0xfff8, qdep: 0x1f, pasid: 5, addr: 0n, s: true, g: true }, 0n, 0x7fen, '§6.5.2.6, VTD_INV_DESC_PASID_DEVICE_IOTLB_RSVD_VAL1 (qword 0 is all fields)'],
  // PDP (bit 5) is reserved: no private data (QEMU reserves it; Linux no longer writes it).
  [{ type: 'pgrp-resp', rid: 0x08, pasid: 5, pasidPresent: true, pdp: false, code: 0, lpig: true, prgi: 0x1ff }, 0xfff00000000001e0n, 0xfffffffffffff003n, '§7.7.1, VTD_INV_DESC_PGRESP_RSVD_LO / _HI'],
];

describe('reserved bits in each descriptor the unit implements (VT-d §6.5.2.10)', () => {
  for (const [desc, lo, hi, ref] of CASES) {
    it(`${desc.type}: each reserved bit stops the queue at the descriptor, which does nothing (${ref})`, () => {
      const h = new Hand();
      const base = encodeInvDesc(desc);
      // The descriptor as it is runs.
      h.putDesc(base);
      h.putDesc(wait(h, 1));
      h.ring();
      expect(iqe(h)).toBe(false);
      expect(status(h)).toBe(1);
      const masks = [lo, hi, MASK64, MASK64];
      let n = 0;
      for (let bit = 0; bit < 256; bit++) {
        const k = bit >> 6;
        const b = 1n << BigInt(bit & 63);
        if ((masks[k] & b) === 0n) continue;
        n++;
        const q = [...base];
        q[k] |= b;
        const responses = h.unit.responses.length;
        const slot = h.putDesc(q);
        h.putDesc(wait(h, 0x1000 + bit));
        h.ring();
        expect(iqe(h), `bit ${bit}`).toBe(true);
        expect(h.head).toBe(slot);
        expect(status(h)).not.toBe(0x1000 + bit);
        expect(h.unit.responses.length).toBe(responses);
        recover(h, slot);
        expect(status(h)).toBe(0x1000 + bit);
      }
      expect(n).toBeGreaterThanOrEqual(128);
    });
  }

  it('a wait descriptor with a reserved bit does not write its status (nothing of it runs)', () => {
    const h = new Hand();
    const q = wait(h, 0xbad);
    const slot = h.putDesc([q[0] | (1n << 8n), q[1], 0n, 0n]);
    h.ring();
    expect(iqe(h)).toBe(true);
    expect(status(h)).not.toBe(0xbad);
    recover(h, slot);
    expect(status(h)).not.toBe(0xbad);
  });
});

describe('after an error: IQH, IQT and clearing FSTS.IQE (VT-d §6.5.2.10)', () => {
  it('no descriptor runs while IQE is set, whatever IQT does; clearing IQE resumes from IQH', () => {
    const h = staleIotlb();
    const slot = h.putDesc([0xan, 0n, 0n, 0n]); // type Ah: reserved
    h.putDesc(encodeInvDesc({ type: 'iotlb', gran: 1, did: 0, addr: 0n, am: 0, ih: false, dr: false, dw: false }));
    h.putDesc(wait(h, 5));
    h.ring();
    expect(iqe(h)).toBe(true);
    expect(h.head).toBe(slot);
    h.putDesc(wait(h, 6));
    h.ring(); // a new tail: still nothing is fetched
    expect(h.head).toBe(slot);
    expect(status(h)).not.toBe(5);
    expect(h.dma(0n)).toBe(Number(HPA >> 12n));
    h.unit.write('FSTS_REG', 0n); // write-1-to-clear: 0 changes nothing
    expect(iqe(h)).toBe(true);
    clearIqe(h); // cleared with the bad descriptor still there: the unit meets it again
    expect(iqe(h)).toBe(true);
    expect(h.head).toBe(slot);
    recover(h, slot);
    expect(status(h)).toBe(6);
    expect(typeof h.dma(0n)).toBe('object'); // the IOTLB invalidation after it ran
  });
});

describe('the driver (Linux qi_submit_sync / qi_check_fault)', () => {
  it('a rejected descriptor fails the submission with EINVAL; the queue is empty and usable again', () => {
    const { driver } = vtdMachine();
    const regs = () => driver.unit.registers();
    expectErrno(() => driver.qi.submit([{ type: 'cc', gran: 0, did: 0, sid: 0, fm: 0 }]), 'EINVAL', /FSTS\.IQE/); // G = 0 is reserved
    expect(decodeRegister('FSTS_REG', regs().FSTS_REG).IQE).toBe(false);
    expect(regs().IQH_REG).toBe(regs().IQT_REG);
    driver.qi.submit([{ type: 'pc', gran: 3, did: 0, pasid: 0 }]);
    expect(regs().IQH_REG).toBe(regs().IQT_REG);
  });

  it('descriptors after the rejected one in the batch still run, and two bad ones are both handled', () => {
    const { driver } = vtdMachine();
    const regs = () => driver.unit.registers();
    const before = regs().IQT_REG;
    const badWait: InvDesc = { type: 'wait', sw: false, fn: false, iflag: false, pd: true, statusData: 0, statusAddr: 0n }; // PD: ECAP.PDS = 0
    expectErrno(
      () => driver.qi.submit([{ type: 'pc', gran: 3, did: 0, pasid: 0 }, badWait, { type: 'iotlb', gran: 1, did: 0, addr: 0n, am: 0, ih: false, dr: false, dw: false }, badWait]),
      'EINVAL',
    );
    expect(decodeRegister('FSTS_REG', regs().FSTS_REG).IQE).toBe(false);
    expect(regs().IQH_REG).toBe(regs().IQT_REG);
    expect(Number(regs().IQT_REG - before) / 32).toBe(5); // four descriptors and the wait
    driver.qi.submit([{ type: 'pc', gran: 3, did: 0, pasid: 0 }]);
  });
});
