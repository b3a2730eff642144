import { describe, expect, it } from 'vitest';
import { getFieldBig, setFieldBig, type DmaRequest } from '@ioasid/core';
import {
  IODA3_TBL_PEEV,
  OPAL_EEH_ACTION_CLEAR_FREEZE_DMA,
  OPAL_EEH_ACTION_CLEAR_FREEZE_MMIO,
  OPAL_EEH_STOPPED_DMA_FREEZE,
  OPAL_EEH_STOPPED_MMIO_DMA_FREEZE,
  OPAL_EEH_STOPPED_MMIO_FREEZE,
  OPAL_EEH_STOPPED_NOT_FROZEN,
  PHB_IODA_AD_AUTOINC,
  PHB_IODA_AD_TADR,
  PHB_IODA_AD_TSEL,
  Phb4,
  Phb4Firmware,
  peevBit,
} from '../src/index.js';
import { newHost, powerMachine } from './helpers.js';

/**
 * Issue 17 item 6: the IODA3 PEEV (PE error vector, IODA3_TBL_PEEV = 20: one bit per PE,
 * PPC_BIT(pe & 63) of entry pe / 64). skiboot phb4_eeh_freeze_status reads the PE's PEEV bit first
 * and reports OPAL_EEH_STOPPED_NOT_FROZEN when it is clear, then PESTA MMIO_FROZEN / PESTB
 * DMA_STOPPED; phb4_eeh_freeze_clear zeroes PESTA / PESTB only and re-reads the PEEV, so the PHB
 * drops the PE's bit once both freeze bits are gone.
 */

const RID = 0x0108;

function setup(pe: number) {
  const host = newHost();
  const phb = new Phb4(host);
  const fw = new Phb4Firmware(phb, host);
  fw.setPe(pe, RID, true);
  return { phb, fw };
}

/** A DMA with no TVE: TVE_INVALID, which freezes the PE. */
function dmaError(phb: Phb4): void {
  const req: DmaRequest = { rid: RID, pasid: -1, iovaFrame: 1, write: false, privileged: false };
  expect(phb.translate(req)).toMatchObject({ name: 'TVE_INVALID' });
}

describe('PEEV: set by the PHB when it freezes a PE', () => {
  it('IODA3_TBL_PEEV is table 20; the bit of PE n is PPC_BIT(n & 63) of entry n / 64', () => {
    expect(IODA3_TBL_PEEV).toBe(20);
    expect(peevBit(0)).toBe(0x8000000000000000n);
    expect(peevBit(7)).toBe(0x0100000000000000n);
    expect(peevBit(510)).toBe(2n);
  });

  it('a DMA error sets PESTA, PESTB and the PEEV bit; registers() lists PEEV[n] beside them', () => {
    for (const [pe, entry, bit] of [[7, 0, 0x0100000000000000n], [510, 7, 2n]] as const) {
      const { phb } = setup(pe);
      expect(Object.keys(phb.registers()).filter((k) => k.startsWith('PEEV'))).toEqual([]);
      dmaError(phb);
      const regs = phb.registers();
      expect(regs[`PEEV[${entry}]`]).toBe(bit);
      expect(regs[`PESTA[${pe}]`]).toBe(0x8000000000000000n);
      expect(regs[`PESTB[${pe}]`]).toBe(0x8000000000000000n);
    }
  });

  it('PHB_IODA_ADDR TSEL 20 reads the PEEV through PHB_IODA_DATA0, with autoincrement (skiboot phb4_eeh_next_error scan)', () => {
    const { phb } = setup(70);
    dmaError(phb);
    phb.write('PHB_IODA_ADDR', setFieldBig(0n, PHB_IODA_AD_TSEL, IODA3_TBL_PEEV) | PHB_IODA_AD_AUTOINC);
    const words = Array.from({ length: 8 }, () => phb.read('PHB_IODA_DATA0'));
    expect(words).toEqual([0n, peevBit(70), 0n, 0n, 0n, 0n, 0n, 0n]);
    expect(getFieldBig(phb.read('PHB_IODA_ADDR'), PHB_IODA_AD_TADR)).toBe(0n); // wrapped: 8 entries for 512 PEs
  });
});

describe('OPAL freeze status and clear as skiboot phb4_eeh_freeze_status / phb4_eeh_freeze_clear', () => {
  it('frozen: MMIO_DMA_FREEZE; clearing MMIO leaves DMA_FREEZE and the PEEV bit; clearing DMA drops the bit: NOT_FROZEN', () => {
    const pe = 7;
    const { phb, fw } = setup(pe);
    expect(fw.freezeStatus(pe)).toBe(OPAL_EEH_STOPPED_NOT_FROZEN);
    dmaError(phb);
    expect(fw.freezeStatus(pe)).toBe(OPAL_EEH_STOPPED_MMIO_DMA_FREEZE);
    fw.eehFreezeClear(pe, OPAL_EEH_ACTION_CLEAR_FREEZE_MMIO);
    expect(phb.registers()['PEEV[0]']).toBe(peevBit(pe));
    expect(fw.freezeStatus(pe)).toBe(OPAL_EEH_STOPPED_DMA_FREEZE);
    expect(phb.translate({ rid: RID, pasid: -1, iovaFrame: 1, write: false, privileged: false })).toMatchObject({ name: 'PE_FROZEN' });
    fw.eehFreezeClear(pe, OPAL_EEH_ACTION_CLEAR_FREEZE_DMA);
    expect(phb.registers()['PEEV[0]']).toBeUndefined();
    expect(fw.freezeStatus(pe)).toBe(OPAL_EEH_STOPPED_NOT_FROZEN);
    expect(fw.frozen(pe)).toBe(false);
  });

  it('clearing DMA first leaves MMIO_FREEZE (DMA flows again, the PEEV bit stays until PESTA is clear too)', () => {
    const pe = 7;
    const { phb, fw } = setup(pe);
    dmaError(phb);
    fw.eehFreezeClear(pe, OPAL_EEH_ACTION_CLEAR_FREEZE_DMA);
    expect(fw.freezeStatus(pe)).toBe(OPAL_EEH_STOPPED_MMIO_FREEZE);
    expect(phb.dmaStopped[pe]).toBe(0);
    fw.eehFreezeClear(pe, OPAL_EEH_ACTION_CLEAR_FREEZE_MMIO);
    expect(fw.freezeStatus(pe)).toBe(OPAL_EEH_STOPPED_NOT_FROZEN);
  });

  it('the PEEV is read first: with the bit cleared behind its back, skiboot reports not frozen though PESTB still stops DMA', () => {
    const pe = 7;
    const { phb, fw } = setup(pe);
    dmaError(phb);
    // skiboot's PHB init writes the whole PEEV to 0 this way (phb4_init_ioda_cache / "Clear PEST & PEEV").
    phb.write('PHB_IODA_ADDR', setFieldBig(0n, PHB_IODA_AD_TSEL, IODA3_TBL_PEEV));
    phb.write('PHB_IODA_DATA0', 0n);
    expect(fw.freezeStatus(pe)).toBe(OPAL_EEH_STOPPED_NOT_FROZEN);
    expect(phb.registers()[`PESTB[${pe}]`]).toBe(0x8000000000000000n);
    expect(phb.translate({ rid: RID, pasid: -1, iovaFrame: 1, write: false, privileged: false })).toMatchObject({ name: 'PE_FROZEN' });
  });

  it('through the uAPI: a faulting device is frozen (isFrozen reads freeze status), reset clears PESTA, PESTB and so the PEEV bit', () => {
    const { m, iommu } = powerMachine();
    const fd = m.openIoasidFd();
    const dev = m.device('dev0');
    dev.bindIoasidFd(fd);
    expect(() => dev.dmaRead(0x1000n, 1)).toThrow(/TCE_INVALID/);
    expect(iommu.isFrozen(dev.desc)).toBe(true);
    expect(m.iommu.registers()['PEEV[7]']).toBe(peevBit(510));
    m.driver.resetDevice!(dev.desc);
    expect(iommu.isFrozen(dev.desc)).toBe(false);
    expect(Object.keys(m.iommu.registers()).filter((k) => /^PE(EV|ST)/.test(k))).toEqual([]);
  });
});
